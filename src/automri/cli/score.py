"""CLI command ``automri score``: fastMRI-style scoring of reconstruction files."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from automri.atomic import dumps_strict

if TYPE_CHECKING:
    from automri.eval.score import ScoreResult


class TargetKey(str, Enum):
    auto = "auto"
    reconstruction_rss = "reconstruction_rss"
    reconstruction_esc = "reconstruction_esc"


class Convention(str, Enum):
    fastmri = "fastmri"
    cc359 = "cc359"


_FORMATS = {"psnr": ".2f", "ssim": ".4f", "nmse": ".3g"}
_TITLES = {"fastmri": "fastMRI-convention", "cc359": "Calgary-Campinas-convention (DIRECT)"}


def _table(result: ScoreResult) -> Table:
    from automri.eval.metrics import METRICS

    keys = sorted(set(result.keys.values()))
    summary = result.summary
    table = Table(
        title=f"{_TITLES[result.convention]} scores, target key {', '.join(keys)}",
        caption=f"mean ± std over {summary['psnr'].n} volumes",
    )
    table.add_column("volume")
    if len(keys) > 1:
        table.add_column("key")
    for name in METRICS:
        table.add_column(name.upper(), justify="right", no_wrap=True)
    for volume, scores in result.volumes.items():
        key_cell = [result.keys[volume]] if len(keys) > 1 else []
        table.add_row(volume, *key_cell, *(format(scores[m], _FORMATS[m]) for m in METRICS))
    table.add_section()
    table.add_row(
        "mean ± std",
        *([""] if len(keys) > 1 else []),
        *(f"{summary[m].mean:{_FORMATS[m]}} ± {summary[m].std:{_FORMATS[m]}}" for m in METRICS),
    )
    return table


def score(
    targets: Path = typer.Option(..., "--targets", help="Folder of target .h5 files (fastMRI layout)."),
    predictions: Path = typer.Option(
        ..., "--predictions", help="Folder of prediction .h5 files with the same names (key 'reconstruction')."
    ),
    key: TargetKey = typer.Option(TargetKey.auto, "--key", help="Target key; auto: reconstruction_esc, else _rss."),
    crop: bool = typer.Option(True, "--crop/--no-crop", help="Centre-crop predictions to the target size."),
    convention: Convention = typer.Option(
        Convention.fastmri, "--convention",
        help="fastmri: per volume, data range = volume max; cc359: DIRECT's Calgary-Campinas (per slice, normalised).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Write machine-readable JSON to stdout."),
) -> None:
    """Score reconstructions like fastMRI's evaluate.py: PSNR, SSIM, NMSE per volume, mean ± std
    (or, with --convention cc359, like DIRECT's Calgary-Campinas challenge metrics).

    Example: automri score --targets data/knee_val --predictions runs/unet/recons --json
    """
    from automri.eval.score import score_directory

    if as_json:
        result = score_directory(targets, predictions, key=key.value, crop=crop, convention=convention.value)
        typer.echo(dumps_strict(result.to_dict(), indent=2))
        return
    console = Console()
    total = len(list(targets.glob("*.h5"))) if targets.is_dir() else 0
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("scoring volumes", total=total)
        result = score_directory(
            targets, predictions, key=key.value, crop=crop, on_volume=lambda _: progress.advance(task),
            convention=convention.value,
        )
    console.print(_table(result))


def register(app: typer.Typer) -> None:
    """Add ``score`` to ``app``."""
    app.command("score")(score)
