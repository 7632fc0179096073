"""``automri report RUN...``: rebuild report.md and figures of experiment directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def report(
    runs: Annotated[list[Path], typer.Argument(help="Experiment directories (automri demo / bench quality --out).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the rebuilt report paths as JSON.")] = False,
) -> None:
    """Rebuild report.md and figures/ from the files of finished runs (no training, no evaluation).

    Example: automri report demo-report runs/bench-quality/baselines
    """
    from automri.experiments.rebuild_report import rebuild_reports

    paths = rebuild_reports(list(runs))
    if as_json:
        typer.echo(json.dumps([str(p) for p in paths]))
    else:
        for path in paths:
            typer.echo(f"report: {path}")


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report)
