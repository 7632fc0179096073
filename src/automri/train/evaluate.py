"""Scoring a reconstruction model on a dataset: metrics in both conventions, CSV/JSON, figures.

``evaluate_model`` runs the model over every slice, groups the slices into volumes by
``meta["volume"]`` and scores magnitudes with :func:`automri.eval.metrics.evaluate_volumes`:
fastMRI per-volume PSNR/SSIM/NMSE and the per-slice convention of FedAutoMRI, each as mean +- std.
Metrics are invariant to the common scale of target and prediction, so normalised samples are
scored as they are.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from automri.atomic import atomic_open, write_json_atomic
from automri.data.sample import collate
from automri.errors import AutoMRIError
from automri.eval.figures import reconstruction_panel
from automri.eval.metrics import METRICS, evaluate_volumes
from automri.models.common import zero_filled
from automri.train.device import resolve_device
from automri.train.progress import make_progress


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
    device = resolve_device(device)
    was_training = model.training
    model = model.to(device).eval()
    records: list[tuple[str, int, torch.Tensor, torch.Tensor]] = []
    predictions: list[dict[str, Any]] = []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    try:
        with torch.no_grad(), make_progress(disable=not progress) as bar:
            task = bar.add_task("evaluate", total=len(loader), loss=float("nan"))
            for batch in loader:
                batch = batch.to(device)
                recon = model(batch.kspace, batch.mask, batch.sens).abs().cpu()
                target = batch.target.abs().cpu()
                for i, meta in enumerate(batch.meta):
                    records.append((str(meta["volume"]), int(meta["slice"]), target[i], recon[i]))
                    if len(predictions) < panels:
                        predictions.append(_prediction(batch, i, target[i], recon[i]))
                bar.update(task, advance=1)
    finally:
        model.train(was_training)
    result = evaluate_volumes(records).to_dict()
    for name in METRICS:
        result[name] = result["volume_summary"][name]["mean"]
    if out is not None:
        write_evaluation(result, out, predictions, figures)
    result["predictions"] = predictions
    return result


def _prediction(batch: Any, i: int, target: torch.Tensor, recon: torch.Tensor) -> dict[str, Any]:
    sens = None if batch.sens is None else batch.sens[i : i + 1]
    baseline = zero_filled(batch.kspace[i : i + 1], batch.mask[i : i + 1], sens)[0].abs().cpu()
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
