"""CLI command ``automri predict``: reconstruct a dataset with a shipped model, a run or a checkpoint,
writing fastMRI-style ``.h5`` files and their scores (:mod:`automri.experiments.predict`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from automri.atomic import dumps_strict
from automri.errors import AutoMRIError

_FORMATS = {"psnr": ".2f", "ssim": ".4f", "nmse": ".4g"}


def _list_table(entries: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="shipped models (automri predict --checkpoint NAME)")
    table.add_column("name", no_wrap=True)
    for column in ("model", "params", "data", "test PSNR/dB", "description"):
        table.add_column(column)
    for entry in entries:
        data = entry["data"]
        table.add_row(entry["name"], entry["model"], f"{entry.get('params', 0):,}",
                      f"{data['dataset']} {data['size']} px, {data['mask']}, {data['split']} split",
                      f"{entry['test']['psnr']:.2f}", entry.get("description", ""))
    return table


def _scores_table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    scores = result["scores"]
    table = Table(title=f"automri predict: {result['model']} on {result['dataset']} ({result['split']}), "
                        "fastMRI per-volume scores of the written files")
    table.add_column("volume")
    table.add_column("method")
    for name in _FORMATS:
        table.add_column(name.upper(), justify="right")
    for volume in scores["model"]["volumes"]:
        for method in ("model", "zero_filled"):
            row = scores[method]["volumes"][volume]
            table.add_row(volume, result["model"] if method == "model" else "zero-filled",
                          *(format(row[m], _FORMATS[m]) for m in _FORMATS))
    table.add_section()
    for method in ("model", "zero_filled"):
        volume_summary, slice_summary = scores[method]["volume_summary"], scores[method]["slice_summary"]
        table.add_row("mean ± std", result["model"] if method == "model" else "zero-filled",
                      *(f"{volume_summary[m]['mean']:{_FORMATS[m]}} ± {volume_summary[m]['std']:{_FORMATS[m]}}" for m in _FORMATS))
        table.add_row(f"per slice (n={slice_summary['psnr']['n']})", "",
                      *(f"{slice_summary[m]['mean']:{_FORMATS[m]}} ± {slice_summary[m]['std']:{_FORMATS[m]}}" for m in _FORMATS))
    return table


def predict_command(
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", help="Shipped model name (see --list), run directory or checkpoint file.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Built-in dataset name or path (default: the model's training data).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for <volume>.h5, zero_filled/, targets/, scores.json.")] = None,
    mask: Annotated[str | None, typer.Option("--mask", help="Mask spec (default: the model's training mask).")] = None,
    size: Annotated[int | None, typer.Option("--size", help="Image side in pixels (default: the model's); 0: the native size, no resampling.")] = None,
    split: Annotated[str, typer.Option("--split", help="train, val, test or all.")] = "test",
    max_slices: Annotated[int | None, typer.Option("--max-slices", help="Reconstruct at most this many slices.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Slices per forward pass.")] = 4,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "cpu",
    list_models: Annotated[bool, typer.Option("--list", help="List the shipped models and exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Reconstruct a dataset with a trained network; write fastMRI-style <volume>.h5 files (key
    'reconstruction', float32, slices x H x W, source units), the zero-filled baseline and the targets,
    and print per-volume and per-slice scores computed as `automri score` computes them.

    Example: automri predict --checkpoint dccnn-colin27-64-4x --dataset colin27 --out recons
    """
    if list_models:
        from automri.train.shipped import list_shipped

        entries = list_shipped()
        if as_json:
            typer.echo(dumps_strict(entries, indent=2))
        else:
            from rich.console import Console

            Console().print(_list_table(entries))
        return
    if checkpoint is None or out is None:
        raise AutoMRIError("give --checkpoint NAME|PATH and --out DIR (or --list)")
    from automri.experiments.experiment import console_say
    from automri.experiments.predict import run_predict

    result = run_predict(checkpoint, dataset, out, mask=mask, size=size, split=split, max_slices=max_slices,
                         batch_size=batch_size, device=device, say=console_say(not as_json))
    if as_json:
        typer.echo(dumps_strict(result, indent=2))
        return
    from rich.console import Console

    Console().print(_scores_table(result))
    typer.echo(f"written to {out} (per-slice scores: {out / 'slices.csv'}, all: {out / 'scores.json'})")


def register(app: typer.Typer) -> None:
    """Add ``predict`` to ``app``."""
    app.command("predict")(predict_command)
