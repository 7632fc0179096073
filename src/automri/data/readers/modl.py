"""MoDL brain ``dataset.hdf5`` (Aggarwal, Mani, Jacob 2018).

Keys (h5py order): ``trnOrg`` complex64 ``[N, H, W]`` coil-combined fully sampled images,
``trnCsm`` complex64 ``[N, C, H, W]`` ESPIRiT maps, ``trnMask`` 0/1 ``[N, H, W]`` (a different 6x mask
per slice), and the same three with the ``tst`` prefix. The original forward model is
``A(x) = fft2(csm * x) / sqrt(H W)`` on the un-centred grid (DC at ``[0, 0]``; images centred in the
array): the reader returns ``Org`` as the image (and target), ``Csm`` as the maps, and the mask
moved to the centred layout (``uncentered_to_centered_mask``), for ``mask="source"``.

Volumes: the training slices are consecutive blocks of ``slices_per_subject`` (90 in the released
file: 4 subjects x 90), ids ``trn-00``, ``trn-01``...; the test slices are one subject, ``tst-00``.
The authors' split (``split_mode="source"``) is train = ``trn-*``, test = ``tst-00``.
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import torch

from automri.data.readers.common import checked_h5_dataset, open_h5, require_exists, require_volume
from automri.data.source import SliceData, check_index, require_finite
from automri.errors import AutoMRIError
from automri.physics.fft import uncentered_to_centered_mask

PREFIXES = ("trn", "tst")
MASK_EXPECTED = "0/1 sampling masks [slices, H, W]"


def _mask(stored: np.ndarray, where: str) -> torch.Tensor:
    """A stored mask slice as 0/1 float32; NaN/Inf entries and masks that sample nothing are refused."""
    require_finite(stored, where)
    sampled = stored != 0
    if not sampled.any():
        raise AutoMRIError(f"{where}: the mask samples nothing (all zeros; expected 0/1 with some ones)")
    return torch.from_numpy(sampled).float()


class MoDLSource:
    """Lazy :class:`~automri.data.source.VolumeSource` over a MoDL ``dataset.hdf5``."""

    format = "modl"

    def __init__(self, path: str, name: str | None = None, slices_per_subject: int = 90) -> None:
        self.path = str(require_exists(path))
        self.name = name or self.path
        if slices_per_subject < 1:
            raise AutoMRIError(f"slices_per_subject={slices_per_subject}: expected a positive number")
        self.slices_per_subject = slices_per_subject
        self._ranges = self._read_layout()

    def _check(self, handle, prefix: str) -> int:
        org = checked_h5_dataset(handle, f"{prefix}Org", self.path, "complex images [slices, H, W]", kinds="c", ndims=(3,))
        csm = checked_h5_dataset(handle, f"{prefix}Csm", self.path, "complex coil maps [slices, coils, H, W]",
                                 kinds="c", ndims=(4,))
        if csm.shape[0] != org.shape[0] or csm.shape[2:] != org.shape[1:]:
            raise AutoMRIError(
                f"{self.path}: key '{prefix}Csm' is {csm.dtype} {csm.shape} (expected complex [{org.shape[0]}, coils, {org.shape[1]}, {org.shape[2]}])"
            )
        if f"{prefix}Mask" in handle:
            mask = checked_h5_dataset(handle, f"{prefix}Mask", self.path, MASK_EXPECTED, kinds="biuf")
            if mask.shape != org.shape:
                raise AutoMRIError(f"{self.path}: key '{prefix}Mask' has shape {mask.shape} (expected {org.shape})")
        return int(org.shape[0])

    def _read_layout(self) -> dict[str, tuple[str, int, int]]:
        """volume id -> (prefix, first slice, stop)."""
        ranges: dict[str, tuple[str, int, int]] = {}
        with open_h5(self.path) as handle:
            present = [p for p in PREFIXES if f"{p}Org" in handle]
            if not present:
                raise AutoMRIError(f"{self.path}: keys 'trnOrg' and 'tstOrg' missing (expected a MoDL dataset.hdf5)")
            for prefix in present:
                count = self._check(handle, prefix)
                block = self.slices_per_subject if prefix == "trn" else count
                for number in range(math.ceil(count / block)):
                    ranges[f"{prefix}-{number:02d}"] = (prefix, number * block, min(count, (number + 1) * block))
        return ranges

    def volumes(self) -> list[str]:
        return list(self._ranges)

    def num_slices(self, volume: str) -> int:
        require_volume(self.path, volume, self._ranges)
        _, start, stop = self._ranges[volume]
        return stop - start

    def predefined_split(self, split: str) -> list[str] | None:
        """The authors' split: ``train`` = the ``trn`` subjects, ``test`` = the ``tst`` subject."""
        prefix = {"train": "trn", "test": "tst"}.get(split)
        return None if prefix is None else [v for v, (p, _, _) in self._ranges.items() if p == prefix]

    def load_slice(self, volume: str, index: int) -> SliceData:
        check_index(self, volume, index)
        prefix, start, _ = self._ranges[volume]
        stored = start + index
        with open_h5(self.path) as handle:
            image = torch.from_numpy(handle[f"{prefix}Org"][stored]).to(torch.complex64)
            sens = torch.from_numpy(handle[f"{prefix}Csm"][stored]).to(torch.complex64)
            mask = _mask(handle[f"{prefix}Mask"][stored], f"{self.path}: key '{prefix}Mask' slice {stored}") if f"{prefix}Mask" in handle else None
        require_finite(image, f"{self.path}: key '{prefix}Org' slice {stored}")
        require_finite(sens, f"{self.path}: key '{prefix}Csm' slice {stored}")
        mask = None if mask is None else uncentered_to_centered_mask(mask)
        return SliceData(image=image, sens=sens, mask=mask, meta={"volume": volume, "slice": stored, "key": f"{prefix}Org"})

    def info(self) -> dict[str, object]:
        with open_h5(self.path) as handle:
            keys = {k: [str(v.dtype), list(v.shape)] for k, v in handle.items() if isinstance(v, h5py.Dataset)}
            first = next(k for k in ("trnOrg", "tstOrg") if k in handle)
            return {"dtype": str(handle[first].dtype), "stored_shape": list(handle[first].shape), "keys": keys}
