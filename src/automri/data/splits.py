"""Train/val/test splits that never put one subject (or neighbouring slices) on two sides.

A split is a list of items ``(volume id, slice index)``.

- **By subject** (``mode="subject"``, the default when a source has >= 3 volumes): volumes are
  shuffled with ``seed`` and cut by the fractions; every slice of a volume goes to one side.
- **By slab** (``mode="slab"``, the default for 1-2 volumes such as Colin27 or ICBM152): each volume's
  slices are cut along the slice axis into contiguous slabs ``[train | gap | val | gap | test]``,
  with ``gap`` slices left out between slabs so that adjacent, highly correlated slices never land
  on two sides.
- **As the authors did** (``mode="source"``): the reader's own train/test volumes (MoDL's
  ``trn``/``tst`` subjects, CDDN patients 1-30 / 31-33); ``val`` takes the last volumes of the
  authors' training set (at least one when it has two or more) in the ``val : train`` ratio.
- **By folder** (``mode="roots"``, the default for a dataset folder holding ``train``/``val``/``test``
  or fastMRI's ``<challenge>_<split>`` subfolders): each split reads its own folder whole
  (:mod:`automri.data.roots`, applied by :func:`automri.data.datasets.build_dataset` before any
  source is opened; :func:`make_splits` splits one source and refuses this mode).

:func:`k_fold` gives EMR-NAS's cross-validation: ``folds`` disjoint test folds (subjects or slabs),
and for each the remaining data split ``train : val`` about ``9 : 2``, again with gaps.
"""

from __future__ import annotations

import numpy as np

from automri.data.source import VolumeSource, predefined_split
from automri.errors import AutoMRIError

Item = tuple[str, int]
SPLITS = ("train", "val", "test", "all")
MODES = ("auto", "subject", "slab", "source", "roots")
DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)
DEFAULT_GAP = 5
KFOLD_VAL_RATIO = 2 / 11


def _counts(total: int, fractions: tuple[float, float, float], minimum_nonzero: int) -> list[int]:
    """Split ``total`` into train/val/test counts; val and test get at least ``minimum_nonzero`` if their fraction > 0."""
    train_f, val_f, test_f = fractions
    val = max(minimum_nonzero, round(total * val_f)) if val_f > 0 else 0
    test = max(minimum_nonzero, round(total * test_f)) if test_f > 0 else 0
    return [total - val - test, val, test]


def _check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or fractions[0] <= 0:
        raise AutoMRIError(f"split fractions {fractions}: expected three non-negative numbers (train, val, test), train > 0")
    total = sum(fractions)
    return tuple(f / total for f in fractions)  # type: ignore[return-value]


def _slices(source: VolumeSource, volumes: list[str]) -> list[Item]:
    return [(v, i) for v in volumes for i in range(source.num_slices(v))]


def subject_split(source: VolumeSource, fractions=DEFAULT_FRACTIONS, seed: int = 0) -> dict[str, list[Item]]:
    """Split by volume: a seeded shuffle of the volumes cut into train/val/test."""
    fractions = _check_fractions(fractions)
    volumes = list(source.volumes())
    order = [volumes[i] for i in np.random.default_rng(seed).permutation(len(volumes))]
    counts = _counts(len(order), fractions, 1)
    if counts[0] < 1:
        raise AutoMRIError(f"{source.path}: {len(order)} volumes are too few for a subject split with fractions {fractions}")
    bounds = np.cumsum([0, *counts])
    parts = {name: order[bounds[k] : bounds[k + 1]] for k, name in enumerate(("train", "val", "test"))}
    return {name: _slices(source, vols) for name, vols in parts.items()}


def _slab_ranges(length: int, fractions: tuple[float, float, float], gap: int, where: str) -> list[range]:
    """Contiguous ranges ``[train | gap | val | gap | test]`` over ``range(length)`` (empty parts skip their gap)."""
    parts = sum(1 for f in fractions if f > 0)
    usable = length - gap * (parts - 1)
    counts = _counts(usable, fractions, 1)
    if usable < parts or counts[0] < 1:
        raise AutoMRIError(f"{where}: {length} slices are too few for a slab split with gap {gap} (fractions {fractions})")
    ranges, start = [], 0
    for count in counts:
        ranges.append(range(start, start + count))
        if count:
            start += count + gap
    return ranges


def slab_split(source: VolumeSource, fractions=DEFAULT_FRACTIONS, gap: int = DEFAULT_GAP) -> dict[str, list[Item]]:
    """Split every volume along its slice axis into train/val/test slabs separated by ``gap`` slices."""
    fractions = _check_fractions(fractions)
    out: dict[str, list[Item]] = {"train": [], "val": [], "test": []}
    for volume in source.volumes():
        ranges = _slab_ranges(source.num_slices(volume), fractions, gap, f"{source.path} volume {volume!r}")
        for name, indices in zip(("train", "val", "test"), ranges):
            out[name].extend((volume, i) for i in indices)
    return out


def source_split(source: VolumeSource, fractions=DEFAULT_FRACTIONS) -> dict[str, list[Item]]:
    """The dataset authors' train/test volumes; val = the last training volumes (ratio val : train)."""
    train, test = predefined_split(source, "train"), predefined_split(source, "test")
    if train is None or test is None:
        raise AutoMRIError(f"{source.path}: format {source.format!r} has no predefined split (use split mode auto, subject or slab)")
    train_f, val_f, _ = _check_fractions(fractions)
    n_val = max(1, round(len(train) * val_f / (train_f + val_f))) if val_f > 0 and len(train) >= 2 else 0
    return {
        "train": _slices(source, train[: len(train) - n_val]),
        "val": _slices(source, train[len(train) - n_val :]),
        "test": _slices(source, test),
    }


def make_splits(
    source: VolumeSource, mode: str = "auto", fractions=DEFAULT_FRACTIONS, gap: int = DEFAULT_GAP, seed: int = 0
) -> dict[str, list[Item]]:
    """``{"train", "val", "test", "all"}`` -> items. ``mode`` in :data:`MODES` (see the module docstring)."""
    if mode not in MODES:
        raise AutoMRIError(f"split mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "roots":
        raise AutoMRIError(f"split mode roots: {source.path} is one source; roots reads a folder of per-split folders (build_dataset)")
    if mode == "auto":
        mode = "subject" if len(source.volumes()) >= 3 else "slab"
    if mode == "subject":
        splits = subject_split(source, fractions, seed)
    elif mode == "slab":
        splits = slab_split(source, fractions, gap)
    else:
        splits = source_split(source, fractions)
    splits["all"] = _slices(source, list(source.volumes()))
    return splits


def _kfold_slab(length: int, folds: int, fold: int, gap: int, val_ratio: float, where: str) -> dict[str, range | list[int]]:
    """Test slab ``fold`` of ``folds``; the rest (minus ``gap`` on each side) gives val (far end) and train."""
    bounds = np.linspace(0, length, folds + 1).round().astype(int)
    test = range(bounds[fold], bounds[fold + 1])
    segments = [(range(0, max(0, test.start - gap)), "before"), (range(min(length, test.stop + gap), length), "after")]
    segments = [(s, side) for s, side in segments if len(s)]
    rest = sum(len(s) for s, _ in segments)
    n_val = max(1, round((rest - gap) * val_ratio))  # the gap between val and train leaves train: val_ratio
    longest, side = max(segments, key=lambda item: len(item[0])) if segments else (range(0), "")
    if len(longest) < n_val + gap + 1:
        raise AutoMRIError(f"{where}: {length} slices are too few for {folds} slab folds with gap {gap}")
    if side == "before":
        val, kept = range(longest.start, longest.start + n_val), range(longest.start + n_val + gap, longest.stop)
    else:
        val, kept = range(longest.stop - n_val, longest.stop), range(longest.start, longest.stop - n_val - gap)
    train = [i for s, _ in segments for i in (kept if s == longest else s)]
    return {"train": train, "val": val, "test": test}


def k_fold(
    source: VolumeSource, folds: int = 3, mode: str = "auto", gap: int = DEFAULT_GAP, seed: int = 0, val_ratio: float = KFOLD_VAL_RATIO
) -> list[dict[str, list[Item]]]:
    """``folds`` cross-validation splits ``{"train", "val", "test"}``; the test parts are disjoint and cover the data.

    By subject (>= 3 volumes, or ``mode="subject"``): shuffled volumes cut into ``folds`` groups;
    the other volumes give val (``val_ratio`` of them, at least one) and train. By slab otherwise.
    """
    if folds < 2:
        raise AutoMRIError(f"folds={folds}: expected at least 2")
    if mode not in ("auto", "subject", "slab"):
        raise AutoMRIError(f"k-fold split mode {mode!r}: expected auto, subject or slab")
    volumes = list(source.volumes())
    if mode == "auto":
        mode = "subject" if len(volumes) >= folds else "slab"
    out: list[dict[str, list[Item]]] = []
    if mode == "subject":
        if len(volumes) < folds or len(volumes) - -(-len(volumes) // folds) < 2:
            raise AutoMRIError(f"{source.path}: {len(volumes)} volumes are too few for {folds} subject folds")
        order = [volumes[i] for i in np.random.default_rng(seed).permutation(len(volumes))]
        groups = [list(g) for g in np.array_split(np.array(order, dtype=object), folds)]
        for fold in range(folds):
            rest = [v for k, g in enumerate(groups) if k != fold for v in g]
            n_val = max(1, round(len(rest) * val_ratio))
            out.append({"train": _slices(source, rest[:-n_val]), "val": _slices(source, rest[-n_val:]), "test": _slices(source, groups[fold])})
        return out
    for fold in range(folds):
        parts: dict[str, list[Item]] = {"train": [], "val": [], "test": []}
        for volume in volumes:
            ranges = _kfold_slab(source.num_slices(volume), folds, fold, gap, val_ratio, f"{source.path} volume {volume!r}")
            for name, indices in ranges.items():
                parts[name].extend((volume, int(i)) for i in indices)
        out.append(parts)
    return out
