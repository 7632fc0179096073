"""fastMRI ``.h5`` files (NYU knee and brain), single-coil and multi-coil.

Keys: ``kspace`` complex64 ``[S, H, W]`` (single-coil) or ``[S, C, H, W]`` (multi-coil), centred
k-space (``image = ifft2c(kspace)``) with the readout (H) oversampled 2x; ``ismrmrd_header`` ISMRMRD XML
whose ``encoding/reconSpace/matrixSize`` ``(x, y)`` is the reconstruction size; references
``reconstruction_esc`` (single-coil) or ``reconstruction_rss`` float32 ``[S, x, y]``.
The reader returns ``ifft2c(kspace)`` centre-cropped to ``(min(x, H), min(y, W))`` (fastMRI's
crop, with DIRECT's clamp for narrow brain files): a complex image (single-coil) or coil images
(multi-coil, whose maps the dataset estimates from the k-space centre). Files holding a ``mask``
are undersampled test/challenge files and are refused (no fully sampled target).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import torch

from automri.data.readers.common import checked_h5_dataset, computed_once, h5_dataset, list_files, open_h5
from automri.data.resize import centre_crop
from automri.data.source import SliceData, check_index, require_finite
from automri.errors import AutoMRIError
from automri.physics.fft import ifft2c

SUFFIXES = (".h5", ".hdf5")
ISMRMRD_NS = "{http://www.ismrm.org/ISMRMRD}"
KSPACE_EXPECTED = "complex k-space [slices, H, W] or [slices, coils, H, W]"


def recon_size(header: bytes | str, path: str) -> tuple[int, int]:
    """``encoding/reconSpace/matrixSize`` ``(x, y)`` from an ISMRMRD XML header."""
    try:
        root = ET.fromstring(header)
        size = root.find(f"{ISMRMRD_NS}encoding/{ISMRMRD_NS}reconSpace/{ISMRMRD_NS}matrixSize")
        x, y = int(size.find(f"{ISMRMRD_NS}x").text), int(size.find(f"{ISMRMRD_NS}y").text)
    except (ET.ParseError, AttributeError, TypeError, ValueError) as err:
        raise AutoMRIError(
            f"{path}: key 'ismrmrd_header' is not valid ISMRMRD XML with encoding/reconSpace/matrixSize/x,y ({err})"
        ) from err
    if x < 1 or y < 1:
        raise AutoMRIError(
            f"{path}: key 'ismrmrd_header' declares reconSpace/matrixSize ({x}, {y}) (expected positive sizes)"
        )
    return x, y


class FastMRISource:
    """Lazy :class:`~automri.data.source.VolumeSource` over fastMRI ``.h5`` files (a file or a folder)."""

    format = "fastmri"

    def __init__(self, path: str, name: str | None = None) -> None:
        self.path = str(path)
        self.name = name or self.path
        self._files = list_files(path, SUFFIXES, "fastMRI .h5")
        self._counts: dict[str, int] = {}

    def volumes(self) -> list[str]:
        return list(self._files)

    def _kspace(self, handle, path: str):
        kspace = checked_h5_dataset(handle, "kspace", path, KSPACE_EXPECTED, kinds="c", ndims=(3, 4))
        if "mask" in handle:
            raise AutoMRIError(f"{path}: holds undersampled k-space (key 'mask' present); expected a fully sampled train/val file")
        return kspace

    def num_slices(self, volume: str) -> int:
        return computed_once(self.path, self._counts, self._files, volume, self._count)

    def _count(self, volume: str) -> int:
        path = self._files[volume]
        with open_h5(path) as handle:
            return int(self._kspace(handle, path).shape[0])

    def load_slice(self, volume: str, index: int) -> SliceData:
        check_index(self, volume, index)
        path = self._files[volume]
        with open_h5(path) as handle:
            kspace = torch.from_numpy(self._kspace(handle, path)[index]).to(torch.complex64)
            header = h5_dataset(handle, "ismrmrd_header", path, "ISMRMRD XML bytes")[()]
            keys = ("reconstruction_rss",) if kspace.ndim == 3 else ("reconstruction_esc", "reconstruction_rss")
            reference_key = next((key for key in keys if key in handle), None)
            reference = None if reference_key is None else torch.from_numpy(self._reference(handle, reference_key, path, index))
            attrs = {key: _plain(handle.attrs[key]) for key in ("acquisition", "patient_id") if key in handle.attrs}
        require_finite(kspace, f"{path}: key 'kspace' slice {index}")
        x, y = recon_size(header, path)
        image = centre_crop(ifft2c(kspace), (x, y))
        return SliceData(image=image, reference=reference, meta={"volume": volume, "slice": index, "file": path, **attrs})

    @staticmethod
    def _reference(handle, key: str, path: str, index: int):
        """Slice ``index`` of the reference ``key``, checked like the k-space (real, ``[S, x, y]``)."""
        reference = checked_h5_dataset(handle, key, path, "float reference [slices, x, y]", kinds="f", ndims=(3,))
        if reference.shape[0] != handle["kspace"].shape[0]:
            raise AutoMRIError(
                f"{path}: key {key!r} has {reference.shape[0]} slices, key 'kspace' has {handle['kspace'].shape[0]}"
            )
        data = reference[index]
        require_finite(data, f"{path}: key {key!r} slice {index}")
        return data

    def info(self) -> dict[str, object]:
        path = next(iter(self._files.values()))
        with open_h5(path) as handle:
            kspace = self._kspace(handle, path)
            header = h5_dataset(handle, "ismrmrd_header", path, "ISMRMRD XML bytes")[()]
            return {
                "dtype": str(kspace.dtype),
                "stored_shape": list(kspace.shape),
                "recon_size": list(recon_size(header, path)),
                "acquisition": _plain(handle.attrs.get("acquisition", "")),
            }


def _plain(value: object) -> object:
    """h5py attribute -> JSON-friendly Python value."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value.item() if hasattr(value, "item") else value
