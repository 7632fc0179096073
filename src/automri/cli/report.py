"""``automri report RUN...``: rebuild report.md and figures of experiment directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories: experiments (demo, bench quality), train, search or fed runs.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the rebuilt report paths as JSON.")] = False,
) -> None:
    """Rebuild report.md (and figures/ of experiments) from the files of finished runs (no training,
    no evaluation); train, search and federated runs get a short summary page.

    Example: automri report demo-report runs/bench-quality/baselines runs/search
    """
    from automri.experiments.run_kinds import report_runs

    paths = report_runs(list(runs))
    if as_json:
        typer.echo(json.dumps([str(p) for p in paths]))
    else:
        for path in paths:
            typer.echo(f"report: {path}")


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report)
