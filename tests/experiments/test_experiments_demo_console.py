"""``automri demo`` keeps its console short: one line per stage and round, Flower's and Ray's logs in files.

The demo runs at the ``test`` preset through the real CLI entry point, its federated stage cut to
the search and FedAutoMRI (two Flower simulations instead of nine, to keep the test short; each run adds the same lines, so the bound is projected to the full demo); everything
written to file descriptors 1 and 2 (this process, Ray's workers, Flower) is counted, with the
progress bars forced on as on a terminal. (A full ``automri demo --preset test`` on a terminal
printed 37 lines on 2026-12-02.)
"""

from __future__ import annotations

import functools
import re

from cli_helpers import run_cli

from automri.experiments import demo, fedautomri
from automri.experiments.scales import get_scale

MAX_LINES = 100
LOG_NOISE = re.compile(r"\b(INFO|DEBUG|WARNING)\b|flwr|\bray\b|Traceback|FutureWarning|DeprecationWarning", re.I)
FULL_DEMO_RUNS = 2 + 3 + len(fedautomri.COMPARISONS)  # search, FedAutoMRI; ablation: 3 runs; comparisons


def test_demo_console_is_short_and_flower_logs_go_to_files(tmp_path, monkeypatch, capfd) -> None:
    monkeypatch.setattr("automri.train.progress.progress_enabled", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")  # one console line per message
    monkeypatch.setattr(demo, "run_fedautomri_experiment", functools.partial(
        fedautomri.run_fedautomri_experiment, comparisons=(), ablation=False))
    out = tmp_path / "demo"
    code, stdout, stderr = run_cli(monkeypatch, capfd, "demo", "--scale", "test", "--out", str(out),
                                   "--stages", "shipped,overview,fedautomri")  # capfd: every fd-level line
    lines = [line for line in (stdout + stderr).splitlines() if line.strip()]
    assert code == 0, "\n".join(lines[-20:])
    assert len(lines) <= MAX_LINES, f"{len(lines)} console lines:\n" + "\n".join(lines)
    for k, stage in enumerate(("shipped models", "zero-filled and CS", "FedAutoMRI"), start=1):
        assert any(f"demo {k}/3" in line and stage in line for line in lines), stage
    noisy = [line for line in lines if LOG_NOISE.search(line)]
    assert not noisy, noisy
    # each federated run: one line naming it and one per round, its Flower/Ray log in its folder
    runs = sorted(p.parent.name for p in (out / "fedautomri").glob("*/flower.log"))
    assert runs == ["fedautomri", "search"]
    assert all((out / "fedautomri" / run / "flower.log").stat().st_size > 0 for run in runs)
    rounds = [line for line in lines if line.startswith("round ")]
    assert len(rounds) == len(runs) * get_scale("fedautomri", "test").search_rounds
    per_run = 1 + max(get_scale("fedautomri", "demo").search_rounds, get_scale("fedautomri", "demo").train_rounds)
    projected = len(lines) - len(runs) * 2 + FULL_DEMO_RUNS * per_run + 8  # + EMR-NAS stage lines
    assert projected <= MAX_LINES, projected
