"""One name per flag across commands: old spellings stay accepted as hidden aliases.

A command declares the canonical option (shown in ``--help``) and, next to it, the old name as
``old_name(alias, canonical)`` (hidden); :func:`either` merges the two values.

Renamed so far: ``--batch`` -> ``--batch-size`` (``profile``, ``bench speed``) and ``--preset`` ->
``--scale`` (``demo``), to match ``train``, ``search``, ``evaluate``, ``fed`` and ``bench quality``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import typer

from automri.errors import AutoMRIError

T = TypeVar("T")

ALIASES = {"--batch": "--batch-size", "--preset": "--scale"}
"""Old flag name -> canonical flag name."""


def old_name(alias: str) -> Any:
    """A hidden Typer option for the old spelling ``alias`` of :data:`ALIASES`\\ ``[alias]`` (default ``None``)."""
    return typer.Option(alias, hidden=True, help=f"Old name of {ALIASES[alias]} (still accepted).")


def either(canonical_value: T | None, alias_value: T | None, alias: str, default: T) -> T:
    """The value given by the canonical flag or by its old name ``alias`` (``default`` when neither);
    :class:`AutoMRIError` when both are given."""
    if canonical_value is not None and alias_value is not None:
        raise AutoMRIError(f"{ALIASES[alias]} and {alias}: give only one ({alias} is the old name of {ALIASES[alias]})")
    if canonical_value is not None:
        return canonical_value
    return alias_value if alias_value is not None else default
