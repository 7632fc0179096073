"""``automri demo``: the whole system at small scale on built-in data, with a Markdown report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from automri.cli.aliases import either, old_name


def demo(
    out: Annotated[Path, typer.Option("--out", help="Report directory to create.")] = Path("demo-report"),
    scale: Annotated[str | None, typer.Option(
        "--scale", help="Scale: demo (default; about 15 min on 2 CPU cores), test (seconds), small, paper.")] = None,
    preset: Annotated[str | None, old_name("--preset")] = None,
    stages: Annotated[str, typer.Option(
        "--stages", help="Comma-separated subset of shipped,overview,fedautomri,emrnas.")] = "shipped,overview,fedautomri,emrnas",
    dataset: Annotated[str, typer.Option(
        "--dataset", help="Built-in name or path for the overview and EMR-NAS (the federation is built in).")] = "colin27",
    size: Annotated[int | None, typer.Option("--size", help="Image side in pixels for every stage.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted demo in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report path and results as JSON.")] = False,
) -> None:
    """Run FedAutoMRI (federated search, EMA training, Non-Fed/FedAvg/FedProx/FedMRI) and a small EMR-NAS
    search with its baselines on built-in data; write OUT/report.md with the papers' tables and figures.

    Example: automri demo --out demo-report
    """
    from automri.experiments.demo import run_demo
    from automri.experiments.experiment import REPORT, console_say

    chosen = tuple(s.strip() for s in stages.split(",") if s.strip())
    results = run_demo(out, preset=either(scale, preset, "--preset", "demo"), stages=chosen, dataset=dataset,
                       size=size, seed=seed, device=device, resume=resume, say=console_say(not as_json))
    report = out / REPORT
    if as_json:
        typer.echo(json.dumps({"report": str(report), "results": results}, indent=2, default=str))
    else:
        typer.echo(f"report: {report}")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)
