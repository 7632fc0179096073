"""Calgary-Campinas CC-359 raw data: single-channel ``.npy`` and multi-channel (MC-MRRec) ``.h5``.

Both store *hybrid* data (the readout x was inverse-Fourier-transformed; one slice per x) in the
**un-centred** convention: DC at index ``[0, 0]`` and ``np.fft.ifft2(k)`` shows the head centred
in the array. So the slice image is ``ifft2u(k)`` (orthonormal) and the dataset's centred
k-space is ``fft2c`` of it (with the DC moved to the centre, as masks are by
``uncentered_to_centered_mask``).

- Single-channel: float64 ``[S, 256, 256, 2]`` (real, imag): a complex image ``[H, W]``.
- Multi-channel: key ``kspace`` float32 ``[S, ky, kz, 2 * coils]`` with real and imaginary parts
  interleaved on the last axis (``k[..., ::2] + 1j * k[..., 1::2]``); kz beyond 85 % was not acquired
  (zeros). Coil images ``[C, ky, kz]``; the reference is their root-sum-of-squares.

``outer_slices`` skips that many slices at each end of every volume: the challenge's protocol
(:data:`CHALLENGE_OUTER_SLICES`, DIRECT's ``crop_outer_slices``: the outer slices of the sagittal
volumes hold little anatomy); ``--outer-slices N`` of ``train`` and ``search`` (``predict`` takes the run's).
"""

from __future__ import annotations

import numpy as np
import torch

from automri.data.coils import rss
from automri.data.readers.common import checked_h5_dataset, computed_once, list_files, open_h5, require_shape
from automri.data.source import SliceData, check_index, require_finite
from automri.errors import AutoMRIError
from automri.limits import require_within_cap
from automri.physics.fft import ifft2u

CHALLENGE_OUTER_SLICES = 50
"""Slices the Calgary-Campinas challenge (and DIRECT's ``crop_outer_slices``) drops at each end."""
SC_EXPECTED = "float array [slices, H, W, 2] of un-centred k-space (real, imag)"
MC_EXPECTED = "float32 array [slices, ky, kz, 2*coils] with real/imag interleaved"


def check_outer_slices(outer_slices: object, where: str = "--outer-slices") -> None:
    """:class:`AutoMRIError` naming ``where`` unless ``outer_slices`` is a slice count >= 0."""
    if not isinstance(outer_slices, int) or isinstance(outer_slices, bool) or outer_slices < 0:
        raise AutoMRIError(f"{where}: expected a slice count >= 0, got {outer_slices!r}")


def outer_slice_options(outer_slices: int) -> dict[str, int]:
    """The reader options of ``--outer-slices`` (none for 0, so that every reader accepts them)."""
    return {"outer_slices": outer_slices} if outer_slices else {}


def _usable(count: int, outer: int, path: str) -> int:
    if count - 2 * outer < 1:
        raise AutoMRIError(f"{path}: {count} slices, none left after skipping outer_slices={outer} at each end")
    return count - 2 * outer


class CC359Source:
    """Lazy :class:`~automri.data.source.VolumeSource` over single-channel CC-359 ``.npy`` files (memory-mapped)."""

    format = "cc359"

    def __init__(self, path: str, name: str | None = None, outer_slices: int = 0) -> None:
        self.path = str(path)
        self.name = name or self.path
        self.outer_slices = outer_slices
        self._files = list_files(path, (".npy",), "CC-359 .npy")
        self._counts: dict[str, int] = {}

    def volumes(self) -> list[str]:
        return list(self._files)

    def _array(self, volume: str) -> np.ndarray:
        path = self._files[volume]
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as err:
            raise AutoMRIError(f"{path}: cannot read as .npy ({type(err).__name__}: {err or 'empty file'})") from err
        if array.ndim != 4 or array.shape[-1] != 2 or array.dtype.kind != "f":
            raise AutoMRIError(f"{path}: array {array.dtype} {tuple(array.shape)} (expected {SC_EXPECTED})")
        require_shape(array.shape, path, SC_EXPECTED)
        require_within_cap(array[0].nbytes * 8, path, f"reading slices of shape {tuple(array.shape[1:])}")
        return array

    def num_slices(self, volume: str) -> int:
        return computed_once(self.path, self._counts, self._files, volume,
                             lambda v: _usable(self._array(v).shape[0], self.outer_slices, self._files[v]))

    def load_slice(self, volume: str, index: int) -> SliceData:
        check_index(self, volume, index)
        stored = index + self.outer_slices
        raw = np.asarray(self._array(volume)[stored])
        require_finite(raw, f"{self._files[volume]}: slice {stored}")
        kspace = torch.from_numpy((raw[..., 0] + 1j * raw[..., 1]).astype(np.complex64))
        return SliceData(image=ifft2u(kspace), meta={"volume": volume, "slice": stored, "file": self._files[volume]})

    def info(self) -> dict[str, object]:
        array = self._array(next(iter(self._files)))
        return {"dtype": str(array.dtype), "stored_shape": list(array.shape), "convention": "un-centred hybrid (x, ky, kz)"}


class CC359MultiCoilSource:
    """Lazy :class:`~automri.data.source.VolumeSource` over multi-channel CC-359 ``.h5`` files."""

    format = "cc359-mc"

    def __init__(self, path: str, name: str | None = None, outer_slices: int = 0) -> None:
        self.path = str(path)
        self.name = name or self.path
        self.outer_slices = outer_slices
        self._files = list_files(path, (".h5", ".hdf5"), "CC-359 multi-channel .h5")
        self._counts: dict[str, int] = {}

    def volumes(self) -> list[str]:
        return list(self._files)

    @staticmethod
    def _kspace(handle, path: str):
        kspace = checked_h5_dataset(handle, "kspace", path, MC_EXPECTED, kinds="f", ndims=(4,))
        if kspace.shape[-1] % 2:
            raise AutoMRIError(f"{path}: key 'kspace' is {kspace.dtype} {tuple(kspace.shape)} (expected {MC_EXPECTED})")
        return kspace

    def num_slices(self, volume: str) -> int:
        return computed_once(self.path, self._counts, self._files, volume, self._count)

    def _count(self, volume: str) -> int:
        path = self._files[volume]
        with open_h5(path) as handle:
            return _usable(self._kspace(handle, path).shape[0], self.outer_slices, path)

    def load_slice(self, volume: str, index: int) -> SliceData:
        check_index(self, volume, index)
        path, stored = self._files[volume], index + self.outer_slices
        with open_h5(path) as handle:
            raw = self._kspace(handle, path)[stored]
        require_finite(raw, f"{path}: key 'kspace' slice {stored}")
        kspace = torch.from_numpy((raw[..., ::2] + 1j * raw[..., 1::2]).astype(np.complex64)).permute(2, 0, 1)
        coil_images = ifft2u(kspace)
        return SliceData(image=coil_images, reference=rss(coil_images), meta={"volume": volume, "slice": stored, "file": path})

    def info(self) -> dict[str, object]:
        path = next(iter(self._files.values()))
        with open_h5(path) as handle:
            kspace = self._kspace(handle, path)
            return {"dtype": str(kspace.dtype), "stored_shape": list(kspace.shape), "coils": kspace.shape[-1] // 2}
