"""Score reconstruction files against fastMRI-style targets, like ``fastmri/evaluate.py``.

For every target ``.h5`` file in a folder (key ``reconstruction_esc`` or ``reconstruction_rss``,
magnitude ``[S, H, W]``), the prediction file with the same name (key ``reconstruction``) is
centre-cropped to the target's ``[H, W]`` and scored per volume in the fastMRI convention
(:func:`automri.eval.metrics.volume_metrics`) or, with ``convention="cc359"``, in DIRECT's
Calgary-Campinas one (:func:`automri.eval.metrics.cc359_metrics`); the summary is the mean and std
over volumes. (fastMRI also crops the target to ``(W, W)``, a no-op for its 320x320 targets.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automri.atomic import strict_json
from automri.data.readers.common import checked_h5_dataset, open_h5
from automri.data.resize import centre_crop
from automri.data.source import require_finite
from automri.errors import AutoMRIError
from automri.eval.metrics import VOLUME_CONVENTIONS, WINDOW, Summary, slice_metrics, summarise

TARGET_KEYS = ("reconstruction_esc", "reconstruction_rss")
"""Target keys that ``key="auto"`` tries, in this order (single-coil files hold both; fastMRI's
single-coil challenge scores against ``reconstruction_esc``, multi-coil files only have ``_rss``)."""
PREDICTION_KEY = "reconstruction"


@dataclass
class ScoreResult:
    """Per-volume metrics by file name, the key used for each target, the convention, and their summary."""

    volumes: dict[str, dict[str, float]]
    keys: dict[str, str]
    convention: str = "fastmri"

    @property
    def summary(self) -> dict[str, Summary]:
        return summarise(self.volumes.values())

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dict ``{"convention", "volumes", "keys", "summary": {metric: {"mean", "std", "n"}}}``.

        A non-finite number (PSNR ``inf`` of a prediction equal to its target) is written as
        ``null`` and listed in ``"non_finite"`` (:func:`automri.atomic.strict_json`).
        """
        return strict_json({
            "convention": self.convention,
            "volumes": self.volumes,
            "keys": self.keys,
            "summary": {name: {"mean": s.mean, "std": s.std, "n": s.n} for name, s in self.summary.items()},
        })


def center_crop(volume: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """Centre-crop the last two dims of ``volume`` to ``shape`` (fastMRI's ``center_crop`` offsets).

    ``name`` identifies the array in the error raised when ``volume`` is smaller than ``shape``.
    """
    height, width = volume.shape[-2:]
    if height < shape[0] or width < shape[1]:
        raise AutoMRIError(f"{name}: shape {volume.shape} cannot be centre-cropped to {shape}")
    return centre_crop(volume, shape)


def _read(path: Path, key: str, what: str) -> np.ndarray:
    """The ``[slices, H, W]`` magnitude of ``key`` (float64), read through the readers' safe opener.

    Refused with the file and key named: a missing key, a non-numeric dtype, empty sizes (zero
    slices), a volume above the memory cap, a truncated file, and NaN/Inf values.
    """
    expected = f"the {what} as a [slices, H, W] array"
    with open_h5(path) as handle:
        dataset = checked_h5_dataset(handle, key, str(path), expected, kinds="biufc", ndims=(2, 3), read_axes=0, work_factor=4)
        data = dataset[()]
    if data.ndim == 2:
        data = data[None]
    require_finite(data, f"{path}: key {key!r}")
    return np.abs(data) if np.iscomplexobj(data) else data.astype(np.float64)


def _require_scorable_target(target: np.ndarray, path: Path, key: str) -> None:
    """A target SSIM's window fits in and with signal (an all-zero one has no data range: PSNR and
    NMSE would be NaN/Inf); refused by name otherwise."""
    if min(target.shape[-2:]) < WINDOW:
        raise AutoMRIError(
            f"{path}: key {key!r} images are {target.shape[-2]}x{target.shape[-1]} (expected at least {WINDOW}x{WINDOW}, the SSIM window)"
        )
    if not target.any():
        raise AutoMRIError(f"{path}: key {key!r} is all zeros (expected a target image with signal; PSNR/NMSE are undefined)")


def _target_key(path: Path, key: str) -> str:
    if key != "auto":
        return key
    with open_h5(path) as handle:
        for candidate in TARGET_KEYS:
            if candidate in handle:
                return candidate
    raise AutoMRIError(f"{path}: none of the target keys {list(TARGET_KEYS)} found")


def score_volume(
    target_path: Path, prediction_path: Path, key: str = "auto", crop: bool = True, convention: str = "fastmri"
) -> tuple[str, dict[str, float]]:
    """Score one prediction file against one target file in ``convention`` (``fastmri`` or
    ``cc359``); returns ``(target_key, metrics)``."""
    target_key, target, prediction = read_pair(target_path, prediction_path, key, crop)
    return target_key, VOLUME_CONVENTIONS[convention](target, prediction)


def score_slices(
    target_path: Path, prediction_path: Path, key: str = "auto", crop: bool = True
) -> tuple[str, dict[str, list[float]]]:
    """Per-slice PSNR/SSIM/NMSE (:func:`automri.eval.metrics.slice_metrics`, each slice its own data
    range) of one prediction file against its target, read exactly as :func:`score_volume` reads
    them; returns ``(target_key, {metric: [one value per slice]})``."""
    target_key, target, prediction = read_pair(target_path, prediction_path, key, crop)
    return target_key, {name: [float(v) for v in values] for name, values in slice_metrics(target, prediction).items()}


def read_pair(
    target_path: Path, prediction_path: Path, key: str = "auto", crop: bool = True
) -> tuple[str, np.ndarray, np.ndarray]:
    """``(target_key, target [S, H, W], prediction [S, H, W])`` float64 magnitudes of a target file
    and its prediction file, checked (slice counts, shapes, a scorable target) and, with ``crop``,
    the prediction centre-cropped to the target's size."""
    if not prediction_path.is_file():
        raise AutoMRIError(f"{prediction_path}: prediction file missing for target {target_path.name}")
    target_key = _target_key(target_path, key)
    target = _read(target_path, target_key, "target")
    _require_scorable_target(target, target_path, target_key)
    prediction = _read(prediction_path, PREDICTION_KEY, "reconstruction")
    if prediction.shape[0] != target.shape[0]:
        raise AutoMRIError(
            f"{prediction_path}: key {PREDICTION_KEY!r} has {prediction.shape[0]} slices, "
            f"target {target_path.name} key {target_key!r} has {target.shape[0]}"
        )
    if crop:
        prediction = center_crop(prediction, target.shape[-2:], f"{prediction_path} key {PREDICTION_KEY!r}")
    elif prediction.shape != target.shape:
        raise AutoMRIError(
            f"{prediction_path}: key {PREDICTION_KEY!r} has shape {prediction.shape}, target key "
            f"{target_key!r} has {target.shape} (use --crop to centre-crop the prediction)"
        )
    return target_key, target, prediction


def score_directory(
    targets: str | Path,
    predictions: str | Path,
    key: str = "auto",
    crop: bool = True,
    on_volume: Callable[[str], None] | None = None,
    convention: str = "fastmri",
) -> ScoreResult:
    """Score every ``*.h5`` target in ``targets`` against the same-named file in ``predictions``.

    ``key``: ``"auto"`` (``reconstruction_esc`` if present, else ``reconstruction_rss``) or an
    explicit target key. ``crop``: centre-crop predictions to the target size (else shapes must
    match). ``on_volume(name)`` is called after each volume (progress display). ``convention``:
    ``fastmri`` (per volume, data range the volume max) or ``cc359`` (DIRECT's Calgary-Campinas).
    """
    if convention not in VOLUME_CONVENTIONS:
        raise AutoMRIError(f"--convention {convention!r}: expected one of {', '.join(VOLUME_CONVENTIONS)}")
    targets, predictions = Path(targets), Path(predictions)
    for folder, flag in ((targets, "--targets"), (predictions, "--predictions")):
        if not folder.is_dir():
            raise AutoMRIError(f"{flag} {folder}: not a directory")
    if key != "auto" and key not in TARGET_KEYS:
        raise AutoMRIError(f"--key {key!r}: expected 'auto' or one of {list(TARGET_KEYS)}")
    target_files = sorted(targets.glob("*.h5"))
    if not target_files:
        raise AutoMRIError(f"--targets {targets}: no .h5 target files found")
    volumes, keys = {}, {}
    for target_path in target_files:
        keys[target_path.name], volumes[target_path.name] = score_volume(
            target_path, predictions / target_path.name, key=key, crop=crop, convention=convention
        )
        if on_volume is not None:
            on_volume(target_path.name)
    return ScoreResult(volumes=volumes, keys=keys, convention=convention)
