"""Slice datasets: from a :class:`~automri.data.source.VolumeSource` to normalised :class:`Sample`s.

Pipeline of one slice (:meth:`SliceDataset.__getitem__`):

1. ``source.load_slice(volume, index)``: the fully sampled image (magnitude, complex, or coil images).
2. Resize to ``size x size`` (:mod:`automri.data.resize`): magnitude images are centre-cropped to a
   square and area-resized; complex data is cropped to a square in image space and Fourier-resampled.
   ``size=None`` keeps the stored size (needed with the file's own masks, ``mask="source"``).
3. Complex image and coils: magnitude images get a smooth random phase (``phase`` radians at most,
   ``0`` keeps them real as CDDN does); with ``coils > 0`` a single image gets simulated coil maps
   (per-volume geometry); coil images without maps get maps estimated from the k-space centre
   (:func:`automri.data.coils.sens_maps`: the ACS ratio, or ESPIRiT).
4. Fully sampled centred k-space ``fft2c(sens * image)`` (or of the coil images), plus complex
   Gaussian noise of std ``noise * rms(kspace)``. The target is the clean image (single image) or
   the SENSE combination of the clean coil images.
5. Mask ``mask(shape, seed)`` with a seed derived from ``(seed, volume, slice)``, so every slice has
   its own mask and the same one in every epoch and every run; or the file's own per-slice mask.

Training augmentation (``augment``, :mod:`automri.data.augment`): after step 3 the image (and coil
images and file coil maps alike) gets a random flip/rotation/zoom/shift, and the mask, phase and
noise are drawn afresh, all seeded from ``(seed, volume, slice, epoch)`` with the epoch set by
:meth:`SliceDataset.set_epoch` (the training loop calls it), so every epoch sees new samples and a
resumed run sees the same ones.
6. Normalisation by ONE scale: the 99th percentile of the magnitude of the zero-filled image
   (coil-combined with the maps when there are coils); both k-space and target are divided by it.

Every random draw is seeded from ``(seed, volume, slice, purpose)``, so samples are reproducible
and independent of the order in which ``DataLoader`` workers request them.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from automri.data.augment import Augmentation, parse_augment, warp
from automri.data.builtin import builtin_names, open_builtin
from automri.data.coils import check_sens_method, sens_maps
from automri.data.readers import open_source
from automri.data.resize import fourier_resize, resize_magnitude, resize_maps
from automri.data.roots import roots_split
from automri.data.sample import Sample
from automri.data.simulate import coil_maps, magnitude_to_complex, simulate_kspace
from automri.data.source import SliceData, VolumeSource
from automri.data.splits import DEFAULT_FRACTIONS, DEFAULT_GAP, SPLITS, Item, k_fold, make_splits
from automri.errors import AutoMRIError
from automri.limits import require_within_cap
from automri.physics.masks import build_mask
from automri.physics.operators import sense_combine, zero_filled_image

MaskFunction = Callable[..., torch.Tensor]
DEFAULT_MASK = "random:rate=0.25,center=0.08"
SCALE_PERCENTILE = 0.99
_PHASE, _COILS, _NOISE, _AUGMENT = 1, 2, 3, 4


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from ``parts`` that is identical across processes and Python runs (SHA-256)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def resolve_mask(mask: str | MaskFunction) -> MaskFunction | None:
    """A mask callable ``mask(shape, seed) -> float32 [H, W]``; ``None`` for ``"source"`` (the file's masks).

    Strings other than ``"source"`` are mask specs for ``automri.physics.masks.build_mask``.
    """
    if callable(mask):
        return mask
    if not isinstance(mask, str):
        raise AutoMRIError(f"--mask {mask!r}: expected a mask spec string or a callable")
    if mask == "source":
        return None

    return build_mask(mask)


def zero_filled_scale(kspace: torch.Tensor, sens: torch.Tensor | None) -> float:
    """99th percentile of ``|zero-filled image|`` (coil-combined with ``sens``); ``1.0`` for an empty slice."""
    image = zero_filled_image(kspace, sens)
    scale = float(torch.quantile(image.abs().flatten().float(), SCALE_PERCENTILE))
    return scale if scale > 0 else 1.0


class SliceDataset(Dataset):
    """``torch`` Dataset of :class:`Sample` over ``items`` (``(volume, slice index)``) of a source.

    Args:
        source: where slices come from.
        items: the slices of this split, in order.
        mask: mask callable ``mask(shape, seed)``, a ``build_mask`` spec, or ``"source"``.
        size: output side (``None`` keeps the stored shape).
        seed: seeds masks, phase, simulated coils and noise (per slice).
        coils: simulate this many coils for single-image data (``0``: single-coil).
        noise: k-space noise std relative to the k-space RMS.
        phase: maximum absolute synthetic phase (radians) for magnitude images; ``0`` = real images.
        acs_fraction: k-space centre fraction used to estimate maps of coil data without maps.
        sens_method: how those maps are estimated, ``acs`` (low-resolution ratio) or ``espirit``
            (:mod:`automri.data.coils`).
        augment: training augmentation, an :class:`~automri.data.augment.Augmentation` or its spec
            string (``None`` / ``"none"``: off; see the module docstring).
    """

    def __init__(
        self,
        source: VolumeSource,
        items: list[Item],
        mask: str | MaskFunction = DEFAULT_MASK,
        size: int | None = 64,
        seed: int = 0,
        coils: int = 0,
        noise: float = 0.0,
        phase: float = math.pi,
        acs_fraction: float = 0.08,
        augment: Augmentation | str | None = None,
        sens_method: str = "acs",
    ) -> None:
        if size is not None and size < 2:
            raise AutoMRIError(f"--size {size}: expected an image side of at least 2 pixels")
        if size is not None:
            channels = max(coils, 1) * 2 + 4  # coil images and maps, k-space, mask, target, working copies
            require_within_cap(float(size) * size * 8 * channels, f"--size {size}", f"one {size}x{size} sample")
        if coils < 0 or noise < 0:
            raise AutoMRIError(f"coils={coils}, noise={noise}: expected non-negative values")
        check_sens_method(sens_method)
        self.sens_method = sens_method
        self.source, self.items = source, list(items)
        self.mask_spec = mask
        self.mask = resolve_mask(mask)
        self.size, self.seed, self.coils, self.noise, self.phase, self.acs_fraction = size, seed, coils, noise, phase, acs_fraction
        self.augment = parse_augment(augment) if isinstance(augment, str) else augment
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentation (and fresh masks, phase, noise) of 0-based ``epoch``; no effect without ``augment``."""
        self.epoch = int(epoch)

    def with_augment(self, augment: Augmentation | str | None) -> SliceDataset:
        """The same slices with training augmentation ``augment`` (a spec, e.g. to train on a
        validation split too); ``self`` is left as it is."""
        twin = copy.copy(self)
        twin.augment = parse_augment(augment) if isinstance(augment, str) else augment
        return twin

    def _draw(self) -> tuple[int, ...]:
        """Extra seed parts: the epoch when augmenting (fresh draws every epoch), none otherwise."""
        return () if self.augment is None else (self.epoch,)

    def _rng(self, volume: str, *parts: int, per_epoch: bool = True) -> np.random.Generator:
        draw = self._draw() if per_epoch else ()
        return np.random.default_rng([self.seed, stable_seed(volume), *parts, *draw])

    def _resize(self, data: SliceData) -> SliceData:
        if self.size is None:
            return data
        if data.mask is not None and self.mask is None and tuple(data.image.shape[-2:]) != (self.size, self.size):
            raise AutoMRIError(
                f"{self.source.path}: the file's masks are {tuple(data.image.shape[-2:])}; use size=None (native size) with mask='source'"
            )
        image = resize_magnitude(data.image, self.size) if data.magnitude else fourier_resize(data.image, self.size)
        sens = None if data.sens is None else resize_maps(data.sens, self.size)
        return SliceData(image=image, magnitude=data.magnitude, sens=sens, mask=data.mask, meta=data.meta)

    def _mask(self, data: SliceData, shape: tuple[int, int], volume: str, index: int) -> torch.Tensor:
        if self.mask is None:
            if data.mask is None:
                raise AutoMRIError(f"{self.source.path}: mask='source' but the {self.source.format} reader has no masks in this file")
            mask = data.mask
        else:
            mask = self.mask(shape, seed=stable_seed(self.seed, volume, index, "mask", *self._draw()))
        mask = torch.as_tensor(mask, dtype=torch.float32)
        if tuple(mask.shape) != shape:
            raise AutoMRIError(f"mask {self.mask_spec!r}: shape {tuple(mask.shape)} does not match the image {shape}")
        return mask

    def __getitem__(self, position: int) -> Sample:
        volume, index = self.items[position]
        data = self._resize(self.source.load_slice(volume, index))
        image, sens = data.image, data.sens
        if data.magnitude:
            image = magnitude_to_complex(image.float(), self._rng(volume, index, _PHASE), self.phase)
        image = image.to(torch.complex64)
        if self.augment is not None:
            transform = self.augment.sample(self._rng(volume, index, _AUGMENT))
            image = warp(image, transform)
            sens = None if sens is None else warp(sens, transform)
        shape = tuple(image.shape[-2:])
        if image.ndim == 3:
            sens = sens_maps(image, self.sens_method, self.acs_fraction) if sens is None else sens
            target = sense_combine(image, sens)
        else:
            if sens is None and self.coils > 0:
                sens = coil_maps(shape, self.coils, self._rng(volume, _COILS, per_epoch=False))
            target = image
            image = image if sens is None else sens * image
        kspace = simulate_kspace(image, noise=self.noise, rng=self._rng(volume, index, _NOISE))
        mask = self._mask(data, shape, volume, index)
        masked = (kspace * mask).to(torch.complex64)
        scale = zero_filled_scale(masked, sens)
        meta: dict[str, Any] = {
            "dataset": self.source.name,
            "format": self.source.format,
            "source": self.source.path,
            "index": index,
            **data.meta,
            "volume": volume,
        }
        return Sample(
            kspace=masked / scale,
            mask=mask,
            target=(target / scale).to(torch.complex64),
            sens=None if sens is None else sens.to(torch.complex64),
            scale=scale,
            meta=meta,
        )


def open_dataset_source(spec: str, format: str = "auto", **reader_options: Any) -> VolumeSource:
    """A built-in name (``phantom``, ``colin27``, ``icbm152``) or a path -> its :class:`VolumeSource`."""
    if spec in builtin_names() and not os.path.exists(spec):
        if reader_options:
            raise AutoMRIError(f"--dataset {spec}: a built-in dataset takes no reader options "
                               f"({', '.join(sorted(reader_options))}: for files of a format that has them)")
        return open_builtin(spec)
    if not os.path.exists(spec):
        raise AutoMRIError(f"--dataset {spec!r}: not a built-in dataset ({', '.join(builtin_names())}) and no such file or folder")
    return open_source(spec, format=format, **reader_options)


def _evenly(items: list[Item], limit: int | None) -> list[Item]:
    if limit is None or len(items) <= limit:
        return items
    if limit < 1:
        raise AutoMRIError(f"max_slices={limit}: expected a positive number")
    picks = np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))
    return [items[i] for i in picks]


def set_epoch(dataset: Dataset, epoch: int) -> None:
    """Give every :class:`SliceDataset` inside ``dataset`` (itself, or under ``Subset`` /
    ``ConcatDataset`` wrappers) the augmentation draws of ``epoch``; other datasets are left alone."""
    if isinstance(dataset, SliceDataset):
        dataset.set_epoch(epoch)
    elif isinstance(dataset, Subset):
        set_epoch(dataset.dataset, epoch)
    elif isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            set_epoch(part, epoch)


def build_dataset(
    spec: str,
    split: str = "train",
    size: int | None = 64,
    mask: str | MaskFunction = DEFAULT_MASK,
    seed: int = 0,
    coils: int = 0,
    noise: float = 0.0,
    max_slices: int | None = None,
    format: str = "auto",
    *,
    split_mode: str = "auto",
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    gap: int = DEFAULT_GAP,
    split_seed: int = 0,
    fold: int | None = None,
    folds: int = 3,
    phase: float = math.pi,
    acs_fraction: float = 0.08,
    augment: Augmentation | str | None = None,
    reader_options: dict[str, Any] | None = None,
    challenge: str | None = None,
    sens_method: str = "acs",
) -> SliceDataset:
    """The :class:`SliceDataset` of one split of a built-in dataset or a file/folder.

    Args:
        spec: built-in name or path. split: ``train``, ``val``, ``test`` or ``all``.
        size, mask, seed, coils, noise, phase, acs_fraction, augment, sens_method: see :class:`SliceDataset`
            (``augment`` is meant for training splits).
        max_slices: keep at most this many slices, evenly spaced over the split.
        format: reader format or ``auto`` (:func:`automri.data.readers.detect_format`).
        split_mode, fractions, gap, split_seed: see :func:`automri.data.splits.make_splits`. A folder
            of per-split folders (``train``/``val``/``test``, fastMRI's ``singlecoil_train``, ...)
            is read by :mod:`automri.data.roots` instead: the split's folder, whole.
        fold, folds: use fold ``fold`` of :func:`automri.data.splits.k_fold` instead.
        reader_options: extra keyword arguments for the reader (e.g. ``{"slices_per_subject": 90}``).
        challenge: ``singlecoil`` or ``multicoil``: the fastMRI ``<challenge>_<split>`` folders of a
            roots folder (``None``: the only challenge there).

    Example: ``build_dataset("phantom", "val", size=32, mask=lambda shape, seed: torch.ones(shape))``.
    """
    if split not in SPLITS:
        raise AutoMRIError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    folder = roots_split(spec, split, split_mode, challenge, fold)
    source = open_dataset_source(spec if folder is None else str(folder), format, **(reader_options or {}))
    if folder is not None or (split == "all" and fold is None):
        items = [(v, i) for v in source.volumes() for i in range(source.num_slices(v))]
    elif fold is None:
        items = make_splits(source, split_mode, fractions, gap, split_seed)[split]
    else:
        if not 0 <= fold < folds or split == "all":
            raise AutoMRIError(f"fold={fold}, split={split!r}: expected 0 <= fold < {folds} and split train, val or test")
        items = k_fold(source, folds, split_mode, gap, split_seed)[fold][split]
    return SliceDataset(source, _evenly(items, max_slices), mask, size, seed, coils, noise, phase, acs_fraction, augment,
                        sens_method)


TRAINING_SPLIT = "train"


def build_splits(
    spec: str,
    splits: tuple[str, ...] = ("train", "val", "test"),
    augment: Augmentation | str | None = None,
    max_slices: dict[str, int | None] | None = None,
    **options: Any,
) -> dict[str, SliceDataset]:
    """The one builder of a run's datasets (central training, searches, federated clients):
    ``{split: build_dataset(spec, split, ...)}`` for every name in ``splits``.

    The augmentation rule lives here: only the ``train`` split is augmented by ``augment``; the
    slices that select models or score them are used as acquired. ``max_slices`` caps each named
    split; ``options`` go to :func:`build_dataset` (size, mask, seed, coils, noise, phase, fold, ...).
    """
    limits = max_slices or {}
    return {
        split: build_dataset(
            spec, split, augment=augment if split == TRAINING_SPLIT else None, max_slices=limits.get(split), **options
        )
        for split in splits
    }
