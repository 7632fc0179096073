"""Image-quality metrics on magnitude images: PSNR, SSIM, NMSE in two conventions.

*fastMRI convention* (``fastmri/evaluate.py``, the one papers on fastMRI report): metrics are
computed **per volume** ``[S, H, W]`` with ``data_range = gt_volume.max()``; PSNR is one value over
the whole 3-D volume, SSIM is the mean over slices of the 2-D SSIM (with the volume's data range),
NMSE is ``||gt - pred||^2 / ||gt||^2`` over the volume.

*Per-slice convention* (FedAutoMRI / GAutoMRI ``util/metric.py``): every slice is scored on its own
with ``data_range = gt_slice.max()`` and the scores are averaged over slices.

*Calgary-Campinas convention* (DIRECT ``direct/functionals/challenges.py``, CC-359 challenge): every
slice of target and prediction is divided by the target slice's max, then scored with
``data_range = max(gt.max, pred.max) - min(gt.min, pred.min)`` of that slice; the volume's score is
the mean over its slices (:func:`cc359_metrics`).

SSIM everywhere is scikit-image's ``structural_similarity`` with its defaults (7x7 uniform window,
K1 = 0.01, K2 = 0.03, sample covariance ``N / (N - 1)`` with N = 49, mean over the valid region
that skips 3 pixels at each border), computed by one vectorised torch implementation,
:func:`ssim_torch`, that equals scikit-image to 1e-4 and is differentiable (fastMRI's ``SSIMLoss``
is ``1 - ssim_torch``).

All functions accept numpy arrays or torch tensors of real magnitudes (complex inputs are turned
into magnitudes with ``abs``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio

from automri.errors import AutoMRIError

WINDOW = 7
K1 = 0.01
K2 = 0.03
METRICS = ("psnr", "ssim", "nmse")

ArrayLike = np.ndarray | torch.Tensor


def ssim_torch(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float | torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """SSIM of real images ``x`` (prediction) and ``y`` (target), ``[B, H, W]``, differentiable.

    ``data_range``: a float or a tensor ``[B]`` (one dynamic range L per image); C1 = (K1 L)^2,
    C2 = (K2 L)^2. Local statistics use a 7x7 uniform window over the valid region only and the
    sample covariance (factor 49/48), which is exactly scikit-image's default and fastMRI's
    ``SSIMLoss``. SSIM is symmetric in ``x`` and ``y``.
    Returns the mean over the batch (``reduction="mean"``) or per-image values ``[B]`` (``"none"``).
    Requires ``H, W >= 7``.
    """
    if x.shape != y.shape or x.dim() != 3:
        raise ValueError(f"ssim_torch expects two [B, H, W] tensors, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"ssim_torch needs images of at least {WINDOW}x{WINDOW}, got {tuple(x.shape[-2:])}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    data_range = torch.as_tensor(data_range, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    x4, y4 = x.unsqueeze(1), y.unsqueeze(1)
    n = WINDOW * WINDOW
    cov_norm = n / (n - 1)
    stats = F.avg_pool2d(torch.cat((x4, y4, x4 * x4, y4 * y4, x4 * y4), dim=1), WINDOW, stride=1)
    ux, uy, uxx, uyy, uxy = stats.chunk(5, dim=1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    numerator = (2 * ux * uy + c1) * (2 * vxy + c2)
    denominator = (ux**2 + uy**2 + c1) * (vx + vy + c2)
    per_image = (numerator / denominator).mean(dim=(1, 2, 3))
    return per_image.mean() if reduction == "mean" else per_image


def to_magnitude(image: ArrayLike) -> np.ndarray:
    """Real float64 numpy magnitude from a numpy array or torch tensor (complex -> abs)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image.abs() if image.is_complex() else image
        return image.double().numpy()
    image = np.asarray(image)
    return np.abs(image).astype(np.float64) if np.iscomplexobj(image) else image.astype(np.float64)


def _pair(gt: ArrayLike, pred: ArrayLike, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    gt_np, pred_np = to_magnitude(gt), to_magnitude(pred)
    if gt_np.shape != pred_np.shape:
        raise AutoMRIError(f"target shape {gt_np.shape} and prediction shape {pred_np.shape} differ")
    if gt_np.ndim != ndim:
        raise AutoMRIError(f"expected {ndim}-D magnitude images, got shape {gt_np.shape}")
    return gt_np, pred_np


def _ssim_slices(gt: np.ndarray, pred: np.ndarray, data_range: np.ndarray | float) -> np.ndarray:
    """SSIM of each slice of ``[S, H, W]`` volumes with the given range(s); float64 ``[S]``."""
    with torch.no_grad():
        values = ssim_torch(
            torch.from_numpy(pred), torch.from_numpy(gt), torch.as_tensor(data_range, dtype=torch.float64),
            reduction="none",
        )
    return values.numpy()


def nmse(gt: ArrayLike, pred: ArrayLike) -> float:
    """Normalised MSE ``||gt - pred||^2 / ||gt||^2`` over all elements (any shape)."""
    gt_np, pred_np = to_magnitude(gt), to_magnitude(pred)
    if gt_np.shape != pred_np.shape:
        raise AutoMRIError(f"target shape {gt_np.shape} and prediction shape {pred_np.shape} differ")
    return float(np.sum((gt_np - pred_np) ** 2) / np.sum(gt_np**2))


def psnr_volume(gt: ArrayLike, pred: ArrayLike) -> float:
    """fastMRI PSNR (dB) of a volume ``[S, H, W]``: one value over all voxels, data range ``gt.max()``."""
    gt_np, pred_np = _pair(gt, pred, 3)
    return float(peak_signal_noise_ratio(gt_np, pred_np, data_range=gt_np.max()))


def ssim_volume(gt: ArrayLike, pred: ArrayLike) -> float:
    """fastMRI SSIM of a volume ``[S, H, W]``: mean over slices, data range ``gt.max()`` of the volume."""
    gt_np, pred_np = _pair(gt, pred, 3)
    return float(_ssim_slices(gt_np, pred_np, gt_np.max()).mean())


def volume_metrics(gt: ArrayLike, pred: ArrayLike) -> dict[str, float]:
    """fastMRI-convention ``{"psnr", "ssim", "nmse"}`` of one volume ``[S, H, W]``."""
    return {"psnr": psnr_volume(gt, pred), "ssim": ssim_volume(gt, pred), "nmse": nmse(gt, pred)}


def psnr_per_slice(gt: ArrayLike, pred: ArrayLike) -> np.ndarray:
    """Per-slice-convention PSNR (dB) of each slice of ``[S, H, W]``, data range = that slice's max; ``[S]``."""
    gt_np, pred_np = _pair(gt, pred, 3)
    return np.array(
        [peak_signal_noise_ratio(g, p, data_range=g.max()) for g, p in zip(gt_np, pred_np, strict=True)]
    )


def ssim_per_slice(gt: ArrayLike, pred: ArrayLike) -> np.ndarray:
    """Per-slice-convention SSIM of each slice of ``[S, H, W]``, data range = that slice's max; ``[S]``."""
    gt_np, pred_np = _pair(gt, pred, 3)
    return _ssim_slices(gt_np, pred_np, gt_np.max(axis=(1, 2)))


def nmse_per_slice(gt: ArrayLike, pred: ArrayLike) -> np.ndarray:
    """NMSE of each slice of ``[S, H, W]``; ``[S]``."""
    gt_np, pred_np = _pair(gt, pred, 3)
    return np.sum((gt_np - pred_np) ** 2, axis=(1, 2)) / np.sum(gt_np**2, axis=(1, 2))


def slice_metrics(gt: ArrayLike, pred: ArrayLike) -> dict[str, np.ndarray]:
    """Per-slice-convention ``{"psnr", "ssim", "nmse"}``, each ``[S]``, for a volume ``[S, H, W]``."""
    return {"psnr": psnr_per_slice(gt, pred), "ssim": ssim_per_slice(gt, pred), "nmse": nmse_per_slice(gt, pred)}


def cc359_metrics(gt: ArrayLike, pred: ArrayLike) -> dict[str, float]:
    """Calgary-Campinas-convention ``{"psnr", "ssim", "nmse"}`` of one volume ``[S, H, W]``: slices
    normalised by their target max, per-slice data range spanning both images, mean over slices
    (NMSE, which the challenge does not define, is the mean per-slice NMSE)."""
    gt_np, pred_np = _pair(gt, pred, 3)
    peak = gt_np.max(axis=(1, 2), keepdims=True)
    if np.any(peak <= 0):
        raise AutoMRIError("Calgary-Campinas metrics: a target slice is all zero (it cannot be normalised)")
    gt_np, pred_np = gt_np / peak, pred_np / peak
    data_range = (np.maximum(gt_np.max(axis=(1, 2)), pred_np.max(axis=(1, 2)))
                  - np.minimum(gt_np.min(axis=(1, 2)), pred_np.min(axis=(1, 2))))
    psnr = [peak_signal_noise_ratio(g, p, data_range=r) for g, p, r in zip(gt_np, pred_np, data_range, strict=True)]
    return {"psnr": float(np.mean(psnr)), "ssim": float(_ssim_slices(gt_np, pred_np, data_range).mean()),
            "nmse": float(nmse_per_slice(gt_np, pred_np).mean())}


VOLUME_CONVENTIONS = {"fastmri": volume_metrics, "cc359": cc359_metrics}
"""Per-volume scorers by convention name (``automri score --convention``)."""


@dataclass(frozen=True)
class Summary:
    """Mean and standard deviation (sample std, ddof=1; 0 for a single value) of ``n`` scores."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        array = np.asarray(list(values), dtype=np.float64)
        if array.size == 0:
            raise ValueError("cannot summarise an empty list of scores")
        std = float(array.std(ddof=1)) if array.size > 1 else 0.0
        return cls(mean=float(array.mean()), std=std, n=int(array.size))


def summarise(rows: Iterable[dict[str, float]]) -> dict[str, Summary]:
    """``{metric: Summary}`` over a list of ``{"psnr", "ssim", "nmse"}`` rows."""
    rows = list(rows)
    return {name: Summary.of(row[name] for row in rows) for name in METRICS}


@dataclass
class Evaluation:
    """Scores of a set of volumes under both conventions.

    ``volumes``: fastMRI per-volume metrics by volume id. ``slices``: per-slice-convention rows
    ``{"volume", "slice", "psnr", "ssim", "nmse"}`` in volume then slice order. The summaries are
    the mean and std over volumes (fastMRI) and over all slices (per-slice convention).
    """

    volumes: dict[str, dict[str, float]]
    slices: list[dict[str, Any]]
    volume_summary: dict[str, Summary] = field(init=False)
    slice_summary: dict[str, Summary] = field(init=False)

    def __post_init__(self) -> None:
        self.volume_summary = summarise(self.volumes.values())
        self.slice_summary = summarise(self.slices)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: per-volume and per-slice scores plus the two summaries."""
        def summary_dict(summary: dict[str, Summary]) -> dict[str, dict[str, float]]:
            return {name: {"mean": s.mean, "std": s.std, "n": s.n} for name, s in summary.items()}

        return {
            "volumes": self.volumes,
            "slices": self.slices,
            "volume_summary": summary_dict(self.volume_summary),
            "slice_summary": summary_dict(self.slice_summary),
        }


def stack_volumes(
    records: Iterable[tuple[Any, int, ArrayLike, ArrayLike]],
) -> dict[str, tuple[list[int], np.ndarray, np.ndarray]]:
    """Group ``(volume_id, slice_index, target [H, W], prediction [H, W])`` records into volumes.

    Returns ``{volume_id: (slice_indices, target [S, H, W], prediction [S, H, W])}`` with slices
    sorted by index. Duplicate slice indices or differing shapes raise :class:`AutoMRIError`.
    """
    grouped: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for volume_id, slice_index, target, prediction in records:
        volume_id, slice_index = str(volume_id), int(slice_index)
        target_np, prediction_np = _pair(target, prediction, 2)
        if slice_index in grouped[volume_id]:
            raise AutoMRIError(f"volume {volume_id!r}: slice {slice_index} given twice")
        grouped[volume_id][slice_index] = (target_np, prediction_np)
    volumes = {}
    for volume_id, slices in grouped.items():
        indices = sorted(slices)
        shapes = {slices[i][0].shape for i in indices}
        if len(shapes) > 1:
            raise AutoMRIError(f"volume {volume_id!r}: slices have different shapes {sorted(shapes)}")
        volumes[volume_id] = (
            indices,
            np.stack([slices[i][0] for i in indices]),
            np.stack([slices[i][1] for i in indices]),
        )
    return volumes


def evaluate_volumes(records: Iterable[tuple[Any, int, ArrayLike, ArrayLike]]) -> Evaluation:
    """Score per-slice predictions as volumes, in the fastMRI and the per-slice conventions.

    ``records``: iterable of ``(volume_id, slice_index, target_magnitude [H, W],
    prediction_magnitude [H, W])`` (numpy or torch; complex is turned into magnitude). Slices are
    grouped by volume id and ordered by slice index.
    """
    volumes = stack_volumes(records)
    if not volumes:
        raise AutoMRIError("no slices to evaluate (the record iterable was empty)")
    per_volume: dict[str, dict[str, float]] = {}
    per_slice: list[dict[str, Any]] = []
    for volume_id, (indices, target, prediction) in volumes.items():
        per_volume[volume_id] = volume_metrics(target, prediction)
        scores = slice_metrics(target, prediction)
        for position, slice_index in enumerate(indices):
            row = {"volume": volume_id, "slice": slice_index}
            row.update({name: float(scores[name][position]) for name in METRICS})
            per_slice.append(row)
    return Evaluation(volumes=per_volume, slices=per_slice)
