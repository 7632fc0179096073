"""Checkpoint files: atomic save that keeps the previous generation, safe load that falls back to it.

A checkpoint is a ``dict`` of tensors, numbers, strings, lists and dicts (model and optimiser
``state_dict``s, RNG states, counters). It is written atomically (:mod:`automri.atomic`), so a
crash during ``save_checkpoint`` leaves the previous checkpoint intact, and it is read with
``torch.load(weights_only=True)``, so loading a checkpoint never runs arbitrary pickled code.
Each save moves the checkpoint it replaces to ``<stem>.prev<suffix>`` (``checkpoint-last.prev.pt``);
:func:`load_checkpoint` reads that previous generation, with a warning on stderr, when the newest
file is missing or damaged (a disk error, a copy cut short).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch

from automri.atomic import atomic_path
from automri.errors import AutoMRIError


def previous_generation(path: str | os.PathLike) -> Path:
    """Where :func:`save_checkpoint` keeps the checkpoint it replaced: ``checkpoint-last.pt`` ->
    ``checkpoint-last.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], keep_previous: bool = True) -> None:
    """Atomically write ``state`` to ``path`` with ``torch.save`` (parent folders are created).

    With ``keep_previous`` the file being replaced becomes :func:`previous_generation` ``(path)``
    once the new one is fully written; at every instant one complete generation exists.
    """
    path = Path(path)
    with atomic_path(path) as temporary:
        with open(temporary, "xb") as handle:
            torch.save(state, handle)
        if keep_previous and path.is_file():
            os.replace(path, previous_generation(path))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, or its previous generation.

    When ``path`` is missing or damaged and ``<stem>.prev<suffix>`` is readable, that one is
    returned and a one-line warning names both. Otherwise raises :class:`AutoMRIError` naming
    ``path`` when the file is missing, truncated or not a checkpoint dict.
    """
    path = Path(path)
    try:
        return _load_one(path, map_location)
    except AutoMRIError as newest_error:
        previous = previous_generation(path)
        if not previous.is_file():
            raise
        try:
            state = _load_one(previous, map_location)
        except AutoMRIError:
            raise newest_error from None
        print(f"warning: {newest_error}; using the previous generation {previous}", file=sys.stderr)
        return state


def _load_one(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` as a dict, every failure an :class:`AutoMRIError`."""
    if not path.is_file():
        raise AutoMRIError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... on bad files
        raise AutoMRIError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict):
        raise AutoMRIError(f"{path}: expected a checkpoint dict, found {type(state).__name__}")
    return state
