"""One reader per on-disk format, format detection, and ``inspect`` for ``automri data inspect``.

Formats: ``fastmri`` (.h5), ``cc359`` (single-channel .npy), ``cc359-mc`` (multi-channel .h5),
``modl`` (dataset.hdf5), ``cddn`` (cardiac PNG folder), ``nifti`` (.nii/.nii.gz), ``dicom``.
A path is a file or a folder of files of one format (one volume per file, except DICOM series and
CDDN patients).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import h5py

from automri.data.readers.cc359 import CC359MultiCoilSource, CC359Source
from automri.data.readers.cddn import CDDNSource, is_cddn_name
from automri.data.readers.common import open_h5, require_exists
from automri.data.readers.dicom import DicomSource, is_dicom_file
from automri.data.readers.fastmri import FastMRISource
from automri.data.readers.modl import MoDLSource
from automri.data.readers.nifti import NiftiSource
from automri.data.source import VolumeSource
from automri.errors import AutoMRIError

READERS: dict[str, Callable[..., VolumeSource]] = {
    "fastmri": FastMRISource,
    "cc359": CC359Source,
    "cc359-mc": CC359MultiCoilSource,
    "modl": MoDLSource,
    "cddn": CDDNSource,
    "nifti": NiftiSource,
    "dicom": DicomSource,
}
FORMATS = ("auto", *READERS)


def _detect_h5(path: Path) -> str:
    with open_h5(str(path)) as handle:
        keys = set(handle.keys())
        if keys & {"trnOrg", "tstOrg"}:
            return "modl"
        kspace = handle.get("kspace")
        if isinstance(kspace, h5py.Dataset):
            if "ismrmrd_header" in keys or kspace.dtype.kind == "c":
                return "fastmri"
            if kspace.dtype.kind == "f" and kspace.ndim == 4 and kspace.shape[-1] % 2 == 0:
                return "cc359-mc"
    raise AutoMRIError(
        f"{path}: HDF5 keys {sorted(keys)[:8]} match no known format "
        "(expected fastMRI 'kspace'+'ismrmrd_header', CC-359 float 'kspace' [S, ky, kz, 2*coils], or MoDL 'trnOrg'/'tstOrg')"
    )


def _detect_file(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith(".npy"):
        return "cc359"
    if name.endswith((".h5", ".hdf5")):
        return _detect_h5(path)
    if is_cddn_name(path.name):
        return "cddn"
    if is_dicom_file(path):
        return "dicom"
    raise AutoMRIError(f"{path}: unknown format (expected .h5/.hdf5, .npy, .nii/.nii.gz, DICOM or mr_heart_pXXtYYzZ.png)")


def detect_format(path: str) -> str:
    """The format name of a file, or of the files in a folder (the first recognised one decides)."""
    root = require_exists(path)
    if root.is_file():
        return _detect_file(root)
    files = sorted(p for p in root.iterdir() if p.is_file())
    if any(is_cddn_name(p.name) for p in files):
        return "cddn"
    for file in files:
        try:
            return _detect_file(file)
        except AutoMRIError:
            continue
    raise AutoMRIError(f"{root}: folder holds no file of a known format ({', '.join(READERS)})")


def open_source(path: str, format: str = "auto", **options: Any) -> VolumeSource:
    """Open ``path`` with the reader of ``format`` (``auto``: :func:`detect_format`); ``options`` go to the reader."""
    if format not in FORMATS:
        raise AutoMRIError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    name = detect_format(path) if format == "auto" else format
    require_exists(path)
    try:
        return READERS[name](str(path), **options)
    except TypeError as err:
        raise AutoMRIError(f"reader {name!r}: bad option ({err})") from err


def inspect(path: str, format: str = "auto", **options: Any) -> dict[str, Any]:
    """Summary of a dataset file or folder: format, volumes, slices, image shape, coils, dtype.

    Reads the headers and the first slice only.
    """
    source = open_source(path, format, **options)
    volumes = source.volumes()
    if not volumes:
        raise AutoMRIError(f"{path}: holds no volumes (expected at least one with at least one slice)")
    counts = {v: source.num_slices(v) for v in volumes}
    first = source.load_slice(volumes[0], 0) if counts[volumes[0]] else None
    return {
        "path": str(path),
        "format": source.format,
        "volumes": len(volumes),
        "volume_ids": volumes[:20],
        "slices": sum(counts.values()),
        "slices_per_volume": {v: counts[v] for v in volumes[:20]},
        "image_shape": None if first is None else list(first.image.shape[-2:]),
        "coils": None if first is None else first.num_coils,
        "complex": None if first is None else not first.magnitude,
        "has_sens": None if first is None else first.sens is not None,
        "has_masks": None if first is None else first.mask is not None,
        **source.info(),
    }
