"""``automri report RUN...``: rebuild ``report.md`` and ``figures/`` of finished experiment
directories from the files they hold (``summary.json``, the sub-runs' ``metrics.jsonl``,
``alpha.jsonl``, ``genotype.json``, ``examples.npz``), without training or evaluating anything."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automri.atomic import write_text_atomic
from automri.errors import AutoMRIError
from automri.experiments import baselines, demo, emrnas, fedautomri
from automri.experiments.experiment import REPORT, SUMMARY, read_json


def _writers() -> dict[str, Callable[[Path, dict[str, Any]], Path]]:
    return {
        baselines.EXPERIMENT: baselines.write_report,
        fedautomri.EXPERIMENT: fedautomri.write_report,
        emrnas.EXPERIMENT: emrnas.write_report,
        demo.EXPERIMENT: demo.write_report,
    }


def experiment_names() -> tuple[str, ...]:
    """The experiments whose report :func:`rebuild_report` rebuilds (``summary.json``'s ``experiment``)."""
    return tuple(_writers())


def _load_summary(run: str | os.PathLike) -> dict[str, Any]:
    """``RUN/summary.json`` of an experiment directory, with a clear error when it is not one."""
    path = Path(run)
    if not path.is_dir():
        raise AutoMRIError(f"RUN {path}: no such directory")
    if not (path / SUMMARY).is_file():
        raise AutoMRIError(f"RUN {path}: no {SUMMARY} (expected a finished experiment directory written by "
                           "automri demo or automri bench quality)")
    summary = read_json(path / SUMMARY)
    experiment = summary.get("experiment") if isinstance(summary, dict) else None
    if experiment not in _writers():
        raise AutoMRIError(f"{path / SUMMARY}: 'experiment' is {experiment!r}, expected one of {', '.join(_writers())}")
    return summary


def rebuild_report(run: str | os.PathLike) -> Path:
    """Rewrite ``RUN/report.md`` and its figures; returns the report path.

    ``RUN`` must be an experiment directory (its ``summary.json`` names the experiment).
    """
    summary = _load_summary(run)
    return _writers()[summary["experiment"]](Path(run), summary)


def rebuild_reports(runs: list[str | os.PathLike]) -> list[Path]:
    """:func:`rebuild_report` for every directory of ``runs`` (all are checked before any is written)."""
    if not runs:
        raise AutoMRIError("RUN: give at least one experiment directory")
    for run in runs:
        _load_summary(run)
    return [rebuild_report(run) for run in runs]


_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def export_report(run: str | os.PathLike, doc: str | os.PathLike) -> Path:
    """Copy ``RUN/report.md`` to ``doc`` (e.g. ``docs/baselines.md``) with its figures.

    Every linked image is copied to ``<doc folder>/figures/<doc stem>/`` (path separators of its
    place in the run become ``-``) and the links are rewritten, so the document does not depend on
    the run directory. Written atomically.
    """

    run, doc = Path(run), Path(doc)
    report = run / REPORT
    if not report.is_file():
        raise AutoMRIError(f"RUN {run}: no {REPORT} to export")
    target = doc.parent / "figures" / doc.stem
    target.mkdir(parents=True, exist_ok=True)

    def copy(match: re.Match[str]) -> str:
        source = run / match.group(2)
        if not source.is_file():
            return match.group(0)
        name = match.group(2).replace("/", "-")
        shutil.copyfile(source, target / name)
        return f"![{match.group(1)}]({(target / name).relative_to(doc.parent).as_posix()})"

    return write_text_atomic(doc, _IMAGE_LINK.sub(copy, report.read_text(encoding="utf-8")))
