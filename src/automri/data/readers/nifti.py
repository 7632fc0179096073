"""NIfTI magnitude volumes (``.nii`` / ``.nii.gz``, nibabel): axial slices of 3D volumes.

A path is one file (one volume) or a folder of files (one volume each, id = file name).
Volumes are reoriented to RAS (``nibabel.orientations``) and slice ``k`` is the axial plane
``volume[:, :, k]`` rotated so that anterior is up and the subject's right on the left (radiological
view), giving a float32 ``[A-P, R-L]`` image (complex64, not a magnitude, for complex NIfTI files). Empty slices, and slices whose tissue fraction is at
most ``min_tissue`` (see :func:`automri.data.source.informative_slices`), are skipped.
"""

from __future__ import annotations

import os
import zlib

import nibabel as nib
import numpy as np
import torch
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from automri.data.readers.common import VolumeCache, computed_once, list_files, require_kind, require_shape
from automri.data.source import SliceData, check_index, informative_slices, require_finite
from automri.errors import AutoMRIError
from automri.limits import require_within_cap

SUFFIXES = (".nii.gz", ".nii")


def load_ras_volume(path: str) -> np.ndarray:
    """Read a NIfTI file as ``[X, Y, Z]`` in RAS orientation (2D images get ``Z = 1``).

    Real data becomes float32; complex data (``complex64``/``complex128`` NIfTI) stays complex
    (complex64) so its phase is kept, never cast to real. The header is checked first
    (:func:`check_header`), so a corrupt shape cannot exhaust memory.
    """

    image = _open(path)
    dtype = check_header(image, path)
    try:
        data = np.asarray(image.dataobj).astype(dtype, copy=False)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise AutoMRIError(f"{path}: cannot read the NIfTI voxel data ({type(err).__name__}: {err})") from err
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise AutoMRIError(f"{path}: image shape {data.shape} (expected a 3D volume [X, Y, Z] or a 2D image)")
    require_finite(data, f"{path}: voxel data")
    orientation = nib.orientations.io_orientation(image.affine)
    return np.ascontiguousarray(nib.orientations.apply_orientation(data, orientation))


def _open(path: str):
    """``nibabel.load(path)`` with its errors turned into :class:`AutoMRIError` naming the file."""

    try:
        return nib.load(path)
    except (ImageFileError, HeaderDataError, OSError, EOFError, ValueError, zlib.error) as err:
        raise AutoMRIError(f"{path}: cannot read as NIfTI ({type(err).__name__}: {err})") from err


def check_header(image, path: str) -> np.dtype:
    """Check a NIfTI header before its voxels are read; return the dtype the volume is read as.

    Refuses sizes below 1, non-numeric voxel types (e.g. RGB), volumes above the memory cap and,
    for uncompressed ``.nii`` files, voxel data declared beyond the end of the file.
    """
    header = image.header
    shape = tuple(int(s) for s in header.get_data_shape())
    stored = np.dtype(header.get_data_dtype())
    require_shape(shape, f"{path}: header dim", "positive sizes [X, Y, Z]")
    require_kind(stored, "biufc", f"{path}: header datatype", "a numeric voxel type (integer, float or complex)")
    dtype = np.dtype(np.complex64 if stored.kind == "c" else np.float32)
    voxels = float(np.prod(shape, dtype=np.float64))
    require_within_cap(voxels * dtype.itemsize * 3, path, f"the volume {shape} as {dtype}")
    if path.lower().endswith(".nii"):
        offset = getattr(image.dataobj, "offset", None)
        needed = int(header.get_data_offset() if offset is None else offset) + int(voxels) * stored.itemsize
        size = os.path.getsize(path)
        if needed > size:
            raise AutoMRIError(f"{path}: header declares {shape} {stored} voxels ({needed} bytes) but the file has {size} bytes (truncated?)")
    return dtype


def axial_view(volume: np.ndarray, k: int) -> np.ndarray:
    """Axial slice ``k`` of a RAS volume ``[X, Y, Z]``, rotated to ``[Y, X]`` with anterior at the top."""
    return np.rot90(volume[:, :, k]).copy()  # a copy: ascontiguousarray keeps negative strides of 1-pixel sides


class NiftiSource:
    """Lazy :class:`~automri.data.source.VolumeSource` over one NIfTI file or a folder of them.

    Args:
        path: a ``.nii``/``.nii.gz`` file or a folder of them.
        min_tissue: keep slices whose fraction of voxels above 10 % of the volume max exceeds this
            (``0`` keeps every non-empty slice).
        name: dataset name for ``Sample.meta`` (defaults to the path).
        tissue_from: optional NIfTI on the same grid (e.g. a brain-extracted copy) whose tissue
            fraction decides which slices are kept, so that slices of neck or face are skipped.
            Only for a single-file ``path``.
    """

    format = "nifti"

    def __init__(self, path: str, min_tissue: float = 0.0, name: str | None = None, tissue_from: str | None = None) -> None:
        self.path = str(path)
        self.name = name or self.path
        self.min_tissue = float(min_tissue)
        self.tissue_from = tissue_from
        self._files = list_files(path, SUFFIXES, "NIfTI")
        if tissue_from is not None and len(self._files) != 1:
            raise AutoMRIError(f"{self.path}: tissue_from={tissue_from} needs a single NIfTI file, not a folder")
        self._slices: dict[str, list[int]] = {}
        self._cache = VolumeCache()

    def volumes(self) -> list[str]:
        return list(self._files)

    def _volume(self, volume: str) -> np.ndarray:
        return self._cache.get(volume, lambda: load_ras_volume(self._files[volume]))

    def slice_indices(self, volume: str) -> list[int]:
        """Stored axial indices of the usable slices of ``volume`` (computed once, then kept)."""
        return computed_once(self.path, self._slices, self._files, volume, self._usable_slices)

    def _usable_slices(self, volume: str) -> list[int]:
        reference = self._volume(volume) if self.tissue_from is None else load_ras_volume(self.tissue_from)
        if reference.shape != self._volume(volume).shape:
            raise AutoMRIError(f"{self.tissue_from}: shape {reference.shape} differs from {self._files[volume]}")
        return informative_slices(reference, self.min_tissue)

    def num_slices(self, volume: str) -> int:
        return len(self.slice_indices(volume))

    def load_slice(self, volume: str, index: int) -> SliceData:
        check_index(self, volume, index)
        stored = self.slice_indices(volume)[index]
        image = torch.from_numpy(axial_view(self._volume(volume), stored))
        return SliceData(image=image, magnitude=not image.is_complex(), meta={"volume": volume, "slice": stored, "file": self._files[volume]})

    def info(self) -> dict[str, object]:
        path = next(iter(self._files.values()))
        first = _open(path)
        check_header(first, path)
        return {"dtype": str(first.get_data_dtype()), "stored_shape": list(first.shape), "orientation": "RAS, axial"}
