"""Scoring a reconstruction model on a dataset: metrics in both conventions, CSV/JSON, figures.

The one evaluator of the toolkit (central training, searches, federated clients, experiments).
``evaluate_model`` runs the model over every slice (:func:`predict`), groups the slices into
volumes by ``meta["volume"]`` and scores magnitudes with :func:`automri.eval.metrics.evaluate_volumes`:
fastMRI per-volume PSNR/SSIM/NMSE and the per-slice convention of FedAutoMRI, each as mean +- std.

Scores are computed in SOURCE units: every sample was divided by its own scale (from its zero-filled
image, ``Sample.scale``), so target and reconstruction of each slice are multiplied back by that
scale before the slices are stacked into a volume. Per-slice scores do not depend on it, but the
per-volume PSNR (one data range per volume) and SSIM do, as in fastMRI, which scores the stored images.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from automri.atomic import atomic_open, write_json_atomic
from automri.data.sample import Batch, collate
from automri.errors import AutoMRIError
from automri.eval.figures import reconstruction_panel
from automri.eval.metrics import METRICS, evaluate_volumes
from automri.models.common import zero_filled
from automri.train.device import resolve_device
from automri.train.progress import make_progress

SCORES = ("psnr", "ssim", "nmse")


@torch.no_grad()
def predict(
    model: nn.Module, dataset: Dataset, batch_size: int = 4, device: str | torch.device = "cpu"
) -> Iterator[tuple[Batch, torch.Tensor]]:
    """``(batch, reconstruction complex [B, H, W])`` over ``dataset`` in order, in eval mode without
    gradients, both on ``device`` and in the samples' normalised units (see :func:`in_source_units`)."""
    device = resolve_device(device)
    was_training = model.training
    model = model.to(device).eval()
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate):
            batch = batch.to(device)
            yield batch, model(batch.kspace, batch.mask, batch.sens)
    finally:
        model.train(was_training)


def in_source_units(batch: Batch, images: torch.Tensor) -> torch.Tensor:
    """Magnitudes ``[B, H, W]`` of normalised images ``images`` multiplied back by each sample's
    ``scale`` (float32, CPU): the units of the source file."""
    return images.abs().cpu() * batch.scale.cpu().view(-1, 1, 1)


def evaluate_model(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    out: str | os.PathLike | None = None,
    panels: int = 3,
    progress: bool = True,
    figures: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Score ``model`` on every slice of ``dataset``.

    Args:
        model: ``model(kspace, mask, sens) -> complex [B, H, W]``; run in eval mode, no gradients.
        dataset: a dataset of :class:`~automri.data.sample.Sample` with ``meta["volume"]`` and
            ``meta["slice"]``.
        out: when given, write ``metrics.json`` (everything below except ``predictions``),
            ``slices.csv``, ``volumes.csv`` and ``panel-<volume>-<slice>.png`` figures there.
        panels: number of slices (the first ones) kept in ``predictions`` and drawn as panels.
        figures: folder for the PNG panels when it should differ from ``out``.

    Returns ``{"volumes", "slices", "volume_summary", "slice_summary", "psnr", "ssim", "nmse",
    "predictions"}``: the :class:`automri.eval.metrics.Evaluation` dict, the fastMRI per-volume
    means as top-level ``psnr``/``ssim``/``nmse`` (what training selects on) and ``predictions``,
    a list of ``{"volume", "slice", "target", "zero_filled", "reconstruction", "mask"}`` magnitude
    arrays ``[H, W]`` for figures.
    """
    if len(dataset) == 0:
        raise AutoMRIError("evaluation set is empty (check --dataset and --split)")
    records: list[tuple[str, int, torch.Tensor, torch.Tensor]] = []
    predictions: list[dict[str, Any]] = []
    total = -(-len(dataset) // batch_size)
    with make_progress(disable=not progress) as bar:
        task = bar.add_task("evaluate", total=total, loss=float("nan"))
        for batch, prediction in predict(model, dataset, batch_size, device):
            recon = in_source_units(batch, prediction)
            target = in_source_units(batch, batch.target)
            for i, meta in enumerate(batch.meta):
                records.append((str(meta["volume"]), int(meta["slice"]), target[i], recon[i]))
                if len(predictions) < panels:
                    predictions.append(_prediction(batch, i, target[i], recon[i]))
            bar.update(task, advance=1)
    result = evaluate_volumes(records).to_dict()
    for name in METRICS:
        result[name] = result["volume_summary"][name]["mean"]
    if out is not None:
        write_evaluation(result, out, predictions, figures)
    result["predictions"] = predictions
    return result


def validation_scores(
    model: nn.Module, dataset: Dataset, batch_size: int = 4, device: str | torch.device = "cpu"
) -> dict[str, float]:
    """The fastMRI per-volume means ``{"psnr", "ssim", "nmse"}`` of ``model`` on ``dataset`` (what
    training, searches and federated clients log and select on)."""
    result = evaluate_model(model, dataset, batch_size, device, panels=0, progress=False)
    return {name: float(result[name]) for name in SCORES}


def _prediction(batch: Batch, i: int, target: torch.Tensor, recon: torch.Tensor) -> dict[str, Any]:
    """Source-unit magnitudes ``[H, W]`` of slice ``i`` for the figures (with its zero-filled input)."""
    sens = None if batch.sens is None else batch.sens[i : i + 1]
    baseline = zero_filled(batch.kspace[i : i + 1], batch.mask[i : i + 1], sens)[0].abs().cpu() * float(batch.scale[i])
    meta = batch.meta[i]
    return {
        "volume": str(meta["volume"]),
        "slice": int(meta["slice"]),
        "target": target.numpy(),
        "zero_filled": baseline.numpy(),
        "reconstruction": recon.numpy(),
        "mask": batch.mask[i].cpu().numpy(),
    }


def write_evaluation(
    result: dict[str, Any],
    out: str | os.PathLike,
    predictions: list[dict[str, Any]],
    figures: str | os.PathLike | None = None,
) -> None:
    """Write ``metrics.json``, ``slices.csv``, ``volumes.csv`` into ``out`` and one PNG panel per
    prediction (target, zero-filled and reconstruction with their error maps) into ``figures``
    (default ``out``)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    figure_folder = Path(figures) if figures is not None else folder
    figure_folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "metrics.json", {k: v for k, v in result.items() if k != "predictions"})
    _write_csv(folder / "slices.csv", ["volume", "slice", *METRICS], result["slices"])
    volume_rows = [{"volume": volume, **scores} for volume, scores in result["volumes"].items()]
    _write_csv(folder / "volumes.csv", ["volume", *METRICS], volume_rows)
    for item in predictions:
        reconstruction_panel(
            item["target"],
            {"zero-filled": item["zero_filled"], "reconstruction": item["reconstruction"]},
            item["mask"],
            path=figure_folder / f"panel-{_safe(item['volume'])}-{item['slice']}.png",
            title=f"{item['volume']} slice {item['slice']}",
        )


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with atomic_open(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _safe(name: str) -> str:
    """A file-name-safe version of a volume id."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
