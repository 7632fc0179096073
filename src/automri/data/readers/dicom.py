"""DICOM magnitude images (pydicom): one file, or a folder of slices (one or more series).

Files in a folder are grouped by ``SeriesInstanceUID`` (one volume per series, id
``series-<SeriesNumber>`` or the UID) and ordered along the slice normal by
``ImagePositionPatient`` (``InstanceNumber`` when positions are missing). Multi-frame files give one
slice per frame. Pixels are ``pixel_array * RescaleSlope + RescaleIntercept`` as float32 ``[rows, cols]``.
Only pixel headers are read when the source opens; pixel data is read per slice.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
import torch
from pydicom.errors import BytesLengthException, InvalidDicomError

from automri.data.readers.common import VolumeCache, require_exists, require_shape, require_volume
from automri.data.source import SliceData, check_index, require_finite
from automri.errors import AutoMRIError
from automri.limits import require_within_cap


def _dicom_errors() -> tuple[type[BaseException], ...]:
    """What pydicom raises on damaged files: its own errors plus the built-in ones it lets through."""

    return (InvalidDicomError, BytesLengthException, AttributeError, ValueError, RuntimeError, NotImplementedError,
            TypeError, KeyError, IndexError, EOFError, OSError, OverflowError)


DICOM_ERRORS = _dicom_errors()


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` starts with the DICOM preamble (``DICM`` at byte 128) or ends in ``.dcm``."""
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _header(path: Path):
    """The header of ``path`` (no pixel data), checked by :func:`check_image_tags`."""

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        if "Rows" not in header or "Columns" not in header:
            raise AutoMRIError(f"{path}: DICOM without an image (tags Rows/Columns missing)")
        check_image_tags(header, path)
    except DICOM_ERRORS as err:
        raise AutoMRIError(f"{path}: cannot read as DICOM ({type(err).__name__}: {err})") from err
    return header


def _describe(path: Path) -> tuple[str, str, int, float]:
    """``(series uid, volume name, frames, position)`` of one file; pydicom parses tag values lazily,
    so a damaged tag fails here, named, rather than later."""
    header = _header(path)
    try:
        uid = str(header.get("SeriesInstanceUID", "series"))
        name = f"series-{header.SeriesNumber}" if "SeriesNumber" in header else uid
        return uid, name, _frames(header), _position(header)
    except DICOM_ERRORS as err:
        raise AutoMRIError(f"{path}: damaged DICOM header ({type(err).__name__}: {err})") from err


def _frames(header) -> int:
    """``NumberOfFrames`` (1 when absent)."""
    return int(header.get("NumberOfFrames", 1) or 1)


def check_image_tags(header, path: Path) -> None:
    """Refuse image tags that declare no pixels, or more pixels than the memory cap allows.

    Checks ``Rows``, ``Columns`` and ``NumberOfFrames`` (each at least 1) and the float32 size of
    all frames, before any pixel data is decoded.
    """
    try:
        shape = (_frames(header), int(header.Rows), int(header.Columns))
    except (TypeError, ValueError) as err:
        raise AutoMRIError(f"{path}: DICOM tags NumberOfFrames/Rows/Columns are not integers ({err})") from err
    require_shape(shape, f"{path}: DICOM NumberOfFrames/Rows/Columns", "at least 1 frame of at least 1x1 pixels")
    require_within_cap(float(np.prod(shape, dtype=np.float64)) * 4 * 3, str(path), f"decoding {shape} pixels")


def _position(header) -> float:
    """Position along the slice normal (``ImagePositionPatient . normal``) or ``InstanceNumber``."""
    if "ImagePositionPatient" in header and "ImageOrientationPatient" in header:
        orientation = np.array(header.ImageOrientationPatient, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        return float(np.dot(normal, np.array(header.ImagePositionPatient, dtype=float)))
    return float(header.get("InstanceNumber", 0) or 0)


class DicomSource:
    """Lazy :class:`~automri.data.source.VolumeSource` over DICOM files."""

    format = "dicom"

    def __init__(self, path: str, name: str | None = None) -> None:
        root = require_exists(path)
        self.path = str(root)
        self.name = name or self.path
        files = [root] if root.is_file() else sorted(p for p in root.iterdir() if p.is_file() and is_dicom_file(p))
        if not files:
            raise AutoMRIError(f"{self.path}: folder holds no DICOM files")
        series: dict[str, list[tuple[float, str, int]]] = defaultdict(list)
        names: dict[str, str] = {}
        for file in files:
            uid, name, frames, position = _describe(file)
            names.setdefault(uid, name)
            series[uid].extend((position + f, str(file), f if frames > 1 else -1) for f in range(frames))
        self._slices = {names[uid]: [(file, frame) for _, file, frame in sorted(entries)] for uid, entries in series.items()}
        self._cache = VolumeCache()

    def volumes(self) -> list[str]:
        return list(self._slices)

    def num_slices(self, volume: str) -> int:
        require_volume(self.path, volume, self._slices)
        return len(self._slices[volume])

    def _pixels(self, file: str) -> np.ndarray:

        try:
            dataset = pydicom.dcmread(file)
            check_image_tags(dataset, Path(file))
            pixels = dataset.pixel_array.astype(np.float32)
            slope = float(dataset.get("RescaleSlope", 1) or 1)
            intercept = float(dataset.get("RescaleIntercept", 0) or 0)
        except DICOM_ERRORS as err:
            raise AutoMRIError(f"{file}: cannot decode the DICOM pixel data ({type(err).__name__}: {err})") from err
        return pixels * slope + intercept

    def load_slice(self, volume: str, index: int) -> SliceData:
        check_index(self, volume, index)
        file, frame = self._slices[volume][index]
        pixels = self._cache.get(file, lambda: self._pixels(file))
        image = pixels[frame] if frame >= 0 else pixels
        if image.ndim != 2:
            raise AutoMRIError(f"{file}: pixel data of shape {image.shape} (expected a 2D greyscale image per frame)")
        require_finite(image, f"{file}: pixel data")
        return SliceData(image=torch.from_numpy(np.ascontiguousarray(image)), magnitude=True, meta={"volume": volume, "slice": index, "file": file})

    def info(self) -> dict[str, object]:
        file = next(iter(self._slices.values()))[0][0]
        header = _header(Path(file))
        try:
            return {
                "dtype": f"{header.get('BitsAllocated', '?')}-bit DICOM",
                "stored_shape": [int(header.Rows), int(header.Columns)],
                "modality": str(header.get("Modality", "")),
            }
        except DICOM_ERRORS as err:
            raise AutoMRIError(f"{file}: damaged DICOM header ({type(err).__name__}: {err})") from err
