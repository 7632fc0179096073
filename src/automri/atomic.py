"""Atomic file writes: write a temporary sibling, fsync it, then ``os.replace`` it onto the target.

A crash (or an exception) at any point leaves either the previous file or the new one, never a
truncated mix: ``os.replace`` is atomic on POSIX and Windows when source and target share a folder.
The lowest layer of the package (standard library only), so every layer may use it for
checkpoints, reports, figures and JSON.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path next to ``path`` (same suffix); on success move it onto ``path``.

    For writers that want a file name (``savefig``, ``np.savez``): the suffix is kept so format
    detection by extension still works. The parent folder is created. If the body raises, the
    temporary file is removed and ``path`` is left untouched, so readers never see a half-written file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on clean exit it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8). On an exception the temporary file is removed
    and ``path`` is left untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    encoding = {} if "b" in mode else {"encoding": "utf-8"}
    with atomic_path(path) as tmp, open(tmp, mode.replace("w", "x"), **encoding) as handle:
        yield handle


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``; returns ``path`` as a :class:`Path`."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented strict JSON (numpy/torch scalars and paths allowed) to
    ``path``; non-finite numbers become ``null`` as in :func:`strict_json`."""
    return write_text_atomic(path, dumps_strict(obj, indent=2) + "\n")


NON_FINITE_FIELD = "non_finite"
"""The field :func:`strict_json` adds to a mapping: dotted path of each replaced number -> its value."""


def strict_json(obj: Any, field: str = NON_FINITE_FIELD) -> Any:
    """A copy of ``obj`` that strict JSON can hold: every NaN/Inf number becomes ``None``.

    When ``obj`` is a mapping and something was replaced, ``obj[field]`` records why, as
    ``{"summary.psnr.mean": "inf", ...}`` (dotted path -> ``"nan"``, ``"inf"`` or ``"-inf"``), so a
    reader can tell a missing value from an infinite one (e.g. PSNR of a prediction equal to its target).
    """
    replaced: dict[str, str] = {}
    clean = _replace_non_finite(obj, "", replaced)
    if replaced and isinstance(clean, dict):
        clean[field] = {**clean.get(field, {}), **replaced}
    return clean


def _replace_non_finite(value: Any, where: str, replaced: dict[str, str]) -> Any:
    """Recursive worker of :func:`strict_json`."""
    if isinstance(value, dict):
        return {key: _replace_non_finite(item, f"{where}.{key}" if where else str(key), replaced) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace_non_finite(item, f"{where}.{index}" if where else str(index), replaced) for index, item in enumerate(value)]
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and not math.isfinite(float(value)):
        replaced[where] = str(float(value))
        return None
    return value


def dumps_strict(obj: Any, **options: Any) -> str:
    """``json.dumps`` of :func:`strict_json` ``(obj)``: never emits ``NaN``/``Infinity``."""
    options.setdefault("default", json_default)
    return json.dumps(strict_json(obj), allow_nan=False, **options)


_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp(\.[^.]*)?$")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that :func:`atomic_path` leaves when its process is killed mid-write.

    Only names of the form ``atomic_path`` creates (``.<stem>.<pid>.<hex>.tmp<suffix>``) directly
    in ``folder`` whose writing process ``<pid>`` is no longer alive are removed, so a reader that
    opens a run while it trains never deletes the file a live save is writing. Returns what was removed.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    matches = ((p, _TEMPORARY.match(p.name)) for p in root.iterdir() if p.is_file())
    stale = [p for p, match in matches if match and not _process_alive(int(match[1]))]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` fallback for numpy/torch scalars and paths (a non-finite scalar becomes ``None``)."""
    if hasattr(value, "item"):
        item = value.item()
        return None if isinstance(item, float) and not math.isfinite(item) else item
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serialisable")
