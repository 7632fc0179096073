"""Small pieces shared by the readers: listing files, a one-volume cache, the safe HDF5 opener and
the checks of declared array shapes (against the file's real size and the memory cap) made before
anything is read."""

from __future__ import annotations

import os
from collections.abc import Container, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, TypeVar

import h5py
import numpy as np

from automri.data.source import require_ndim
from automri.errors import AutoMRIError
from automri.limits import require_within_cap

T = TypeVar("T")
H5_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError)
"""What h5py raises on damaged files (HDF5 library errors surface as these types)."""


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
def open_h5(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Open an HDF5 file read-only: the one way every reader and ``automri score`` open HDF5.

    h5py's errors, on opening and on reading inside the ``with`` block (a truncated or damaged
    file), become :class:`AutoMRIError` naming the file.
    """

    try:
        handle = h5py.File(path, "r")
    except (OSError, RuntimeError, ValueError) as err:
        raise AutoMRIError(f"{path}: cannot open as HDF5 ({err})") from err
    try:
        yield handle
    except H5_READ_ERRORS as err:
        raise AutoMRIError(
            f"{path}: cannot read the HDF5 data, the file is damaged or truncated ({type(err).__name__}: {err})"
        ) from err
    finally:
        handle.close()


def h5_dataset(handle: Any, key: str, path: str, expected: str) -> Any:
    """``handle[key]`` as an h5py Dataset, or :class:`AutoMRIError` naming the file and the key."""

    if key not in handle or not isinstance(handle[key], h5py.Dataset):
        raise AutoMRIError(f"{path}: key {key!r} missing (expected {expected})")
    return handle[key]


def require_shape(shape: tuple[int, ...], where: str, expected: str) -> None:
    """Raise :class:`AutoMRIError` naming ``where`` unless every size in ``shape`` is at least 1."""
    if any(int(size) < 1 for size in shape):
        raise AutoMRIError(f"{where}: shape {tuple(int(s) for s in shape)} has an empty or negative size (expected {expected})")


def require_kind(dtype: np.dtype, kinds: str, where: str, expected: str) -> None:
    """Raise :class:`AutoMRIError` unless ``dtype.kind`` is one of ``kinds`` (e.g. ``"fc"``)."""
    if np.dtype(dtype).kind not in kinds:
        raise AutoMRIError(f"{where} has dtype {dtype} (expected {expected})")


def checked_h5_dataset(handle: Any, key: str, path: str, expected: str, kinds: str = "fc",
                       ndims: tuple[int, ...] | None = None, read_axes: int = 1, work_factor: int = 8) -> Any:
    """:func:`h5_dataset`, checked before anything is read.

    Refuses a dtype whose kind is not in ``kinds``, a number of dimensions not in ``ndims``, empty sizes, a read (the array without its first
    ``read_axes`` axes, times ``work_factor`` working copies) above the memory cap, and a
    contiguous dataset whose declared bytes lie beyond the end of the file (truncated) or that
    stores no data at all (h5py would return fill values, i.e. silent zeros).
    """
    dataset = h5_dataset(handle, key, path, expected)
    where = f"{path}: key {key!r}"
    require_kind(dataset.dtype, kinds, where, expected)
    if ndims is not None:
        require_ndim(dataset.shape, ndims, where, expected)
    require_shape(dataset.shape, where, expected)
    read_bytes = int(np.prod(dataset.shape[read_axes:], dtype=np.float64) * dataset.dtype.itemsize)
    require_within_cap(read_bytes * work_factor, where, f"reading shape {tuple(dataset.shape)[read_axes:]}")
    _require_stored(dataset, where)
    return dataset


def _require_stored(dataset: Any, where: str) -> None:
    """Raise unless a contiguous dataset's declared bytes are all inside the file."""
    if dataset.chunks is not None or dataset.external:
        if dataset.chunks is not None and dataset.id.get_num_chunks() == 0:
            raise AutoMRIError(f"{where}: declares shape {dataset.shape} but stores no data")
        return
    offset = dataset.id.get_offset()
    if offset is None:
        raise AutoMRIError(f"{where}: declares shape {dataset.shape} but stores no data")
    file_size = os.path.getsize(dataset.file.filename)
    if offset + dataset.id.get_storage_size() > file_size or dataset.id.get_storage_size() < dataset.nbytes:
        raise AutoMRIError(
            f"{where}: declares {dataset.nbytes} bytes of data {dataset.dtype} {dataset.shape} but the file "
            f"holds only {max(file_size - offset, 0)} of them (truncated file?)"
        )
