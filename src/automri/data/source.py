"""The reader contract: a lazy, picklable collection of volumes whose slices load on demand.

Every reader (``data/readers/*``) and every built-in dataset returns a :class:`VolumeSource`.
Sources keep only file paths and small per-volume index lists; each ``load_slice`` opens the
file, reads one slice and closes it, so a source pickles into ``DataLoader`` workers and its
memory does not grow with the number of volumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from automri.errors import AutoMRIError


@dataclass
class SliceData:
    """One fully sampled slice as a reader returns it (before resizing, masking, normalising).

    Attributes:
        image: the fully sampled image. complex64 ``[H, W]`` (one complex image), complex64
            ``[C, H, W]`` (coil images), or float32 ``[H, W]`` when ``magnitude`` is true.
        magnitude: the image is a real magnitude image (NIfTI, DICOM, PNG, phantom); k-space is
            simulated from it (``data.simulate``).
        sens: coil sensitivity maps complex64 ``[C, H, W]`` or ``None``. With ``sens`` and a single
            ``[H, W]`` image the coil images are ``sens * image`` (MoDL's forward model).
        reference: the file's own reference magnitude (fastMRI ``reconstruction_esc``/``_rss``),
            float32 ``[h, w]``, or ``None``. Informational: the training target is always
            computed from the fully sampled data so that it is consistent with the k-space.
        mask: the file's own sampling mask for this slice, 0/1 float32 ``[H, W]`` in centred
            layout, or ``None``.
        meta: ``volume``, ``slice`` (index in the stored volume) and what the reader knows.
    """

    image: torch.Tensor
    magnitude: bool = False
    sens: torch.Tensor | None = None
    reference: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_coils(self) -> int:
        """Number of coils (0 for a single image without sensitivity maps)."""
        if self.image.ndim == 3:
            return int(self.image.shape[0])
        return 0 if self.sens is None else int(self.sens.shape[0])


@runtime_checkable
class VolumeSource(Protocol):
    """A dataset on disk (or generated): volumes (subjects) made of 2D slices.

    ``name`` is the dataset name shown in ``Sample.meta['dataset']``; ``path`` the file or folder
    (or built-in name). ``format`` is the reader's format name.
    """

    name: str
    path: str
    format: str

    def volumes(self) -> list[str]:
        """Volume ids, one per subject/volume, in a stable order."""
        ...

    def num_slices(self, volume: str) -> int:
        """Number of usable slices of ``volume``."""
        ...

    def load_slice(self, volume: str, index: int) -> SliceData:
        """Read slice ``index`` (``0 <= index < num_slices(volume)``) of ``volume``."""
        ...

    def info(self) -> dict[str, Any]:
        """Cheap facts from the file headers: at least ``dtype`` and ``stored_shape``."""
        ...


def predefined_split(source: VolumeSource, split: str) -> list[str] | None:
    """The volumes the dataset's authors used for ``split`` ("train"/"test"), if the source has one."""
    method = getattr(source, "predefined_split", None)
    return None if method is None else method(split)


def check_index(source: VolumeSource, volume: str, index: int) -> None:
    """Raise :class:`AutoMRIError` unless ``volume`` exists and ``index`` is a valid slice of it."""
    if volume not in source.volumes():
        raise AutoMRIError(f"{source.path}: no volume {volume!r} (volumes: {source.volumes()[:5]}...)")
    count = source.num_slices(volume)
    if not 0 <= index < count:
        raise AutoMRIError(f"{source.path}: volume {volume!r} has {count} slices, asked for slice {index}")


def require_finite(array: np.ndarray | torch.Tensor, where: str) -> None:
    """Raise :class:`AutoMRIError` naming ``where`` if ``array`` holds NaN or Inf."""
    finite = np.isfinite(array).all() if isinstance(array, np.ndarray) else torch.isfinite(array).all()
    if not bool(finite):
        raise AutoMRIError(f"{where}: contains NaN or Inf values (expected finite numbers)")


def require_ndim(shape: tuple[int, ...], ndims: tuple[int, ...], where: str, expected: str) -> None:
    """Raise :class:`AutoMRIError` unless ``len(shape)`` is one of ``ndims``."""
    if len(shape) not in ndims:
        raise AutoMRIError(f"{where}: shape {tuple(shape)} has the wrong number of dimensions (expected {expected})")


def informative_slices(volume: np.ndarray, min_tissue: float, threshold: float = 0.1) -> list[int]:
    """Indices ``k`` of ``volume[..., k]`` worth training on.

    A voxel counts as tissue when it is above ``threshold`` times the volume maximum; a slice is
    kept when its tissue fraction is above ``min_tissue`` (``0`` keeps every non-empty slice).
    ``volume``: real ``[X, Y, Z]``.
    """
    magnitude = np.abs(volume)
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if peak <= 0:
        return []
    tissue = (magnitude > threshold * peak).reshape(-1, magnitude.shape[-1]).mean(axis=0)
    nonzero = (magnitude > 0).reshape(-1, magnitude.shape[-1]).any(axis=0)
    return [int(k) for k in np.flatnonzero(nonzero & (tissue > min_tissue))]
