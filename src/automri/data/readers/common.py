"""Small pieces shared by the readers: listing files, a one-volume cache, opening HDF5 with clear errors."""

from __future__ import annotations

import os
from collections.abc import Container, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, TypeVar

import h5py

from automri.errors import AutoMRIError

T = TypeVar("T")


def require_exists(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a :class:`Path`, raising :class:`AutoMRIError` if it does not exist."""
    resolved = Path(path)
    if not resolved.exists():
        raise AutoMRIError(f"{resolved}: no such file or directory")
    return resolved


def list_files(path: str | os.PathLike[str], suffixes: tuple[str, ...], what: str) -> dict[str, str]:
    """Map volume id (file name without ``suffixes``) -> file path, for a file or a folder of files.

    Raises :class:`AutoMRIError` when a folder holds no file ending in ``suffixes``.
    """
    root = require_exists(path)
    if root.is_file():
        files = [root]
    else:
        files = sorted(p for p in root.iterdir() if p.is_file() and p.name.lower().endswith(suffixes))
        if not files:
            raise AutoMRIError(f"{root}: folder holds no {what} files (expected names ending in {', '.join(suffixes)})")
    return {volume_id(p, suffixes): str(p) for p in files}


def volume_id(path: Path, suffixes: tuple[str, ...]) -> str:
    """File name without the first matching suffix in ``suffixes``: ``sub01.nii.gz`` -> ``sub01``."""
    name = path.name
    for suffix in suffixes:
        if name.lower().endswith(suffix):
            return name[: len(name) - len(suffix)]
    return path.stem


def require_volume(path: str, volume: str, volumes: Container[str]) -> None:
    """Raise :class:`AutoMRIError` naming the source ``path`` when ``volume`` is not one of ``volumes``."""
    if volume not in volumes:
        raise AutoMRIError(f"{path}: no volume {volume!r}")


def computed_once(path: str, cache: dict[str, T], volumes: Container[str], volume: str,
                  compute: Callable[[str], T]) -> T:
    """``cache[volume]``, filled by ``compute(volume)`` on first use (per-volume slice counts and
    indices); an unknown ``volume`` raises as :func:`require_volume`."""
    if volume not in cache:
        require_volume(path, volume, volumes)
        cache[volume] = compute(volume)
    return cache[volume]


class VolumeCache:
    """Keeps the last loaded volume of one process, so consecutive slices do not reload it.

    Memory stays at one volume however large the dataset; the cache is dropped when pickled,
    so ``DataLoader`` workers start empty.
    """

    def __init__(self) -> None:
        self._key: str | None = None
        self._value: Any = None

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        """Return the cached value for ``key``, calling ``load()`` on a miss (replacing the old one)."""
        if self._key != key:
            self._value = load()
            self._key = key
        return self._value

    def __getstate__(self) -> dict[str, Any]:
        return {"_key": None, "_value": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


@contextmanager
def open_h5(path: str) -> Iterator[Any]:
    """Open an HDF5 file read-only, turning h5py's errors into :class:`AutoMRIError`."""

    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise AutoMRIError(f"{path}: cannot open as HDF5 ({err})") from err
    try:
        yield handle
    finally:
        handle.close()


def h5_dataset(handle: Any, key: str, path: str, expected: str) -> Any:
    """``handle[key]`` as an h5py Dataset, or :class:`AutoMRIError` naming the file and the key."""

    if key not in handle or not isinstance(handle[key], h5py.Dataset):
        raise AutoMRIError(f"{path}: key {key!r} missing (expected {expected})")
    return handle[key]
