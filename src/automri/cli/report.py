"""``automri report RUN...``: rebuild report.md and figures of experiment directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from automri.errors import AutoMRIError


def report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories: experiments (demo, bench quality), train, search or fed runs.")],
    doc: Annotated[Path | None, typer.Option(
        "--doc", help="Also export the (one) rebuilt report to this Markdown file, figures copied next to it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rebuilt report paths as JSON.")] = False,
) -> None:
    """Rebuild report.md (and figures/ of experiments) from the files of finished runs (no training,
    no evaluation); train, search and federated runs get a short summary page.

    Example: automri report demo-report runs/bench-quality/baselines runs/search
    """
    from automri.experiments.rebuild_report import export_report
    from automri.experiments.run_kinds import report_runs

    if doc is not None and len(runs) != 1:
        raise AutoMRIError(f"--doc: exports one report, got {len(runs)} run directories")
    paths = report_runs(list(runs))
    if doc is not None:
        paths.append(export_report(runs[0], doc))
    if as_json:
        typer.echo(json.dumps([str(p) for p in paths]))
    else:
        for path in paths:
            typer.echo(f"report: {path}")


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report)
