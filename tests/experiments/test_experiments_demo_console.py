"""``automri demo`` keeps its console short: one line per stage and round, Flower's and Ray's logs in files.

The whole demo runs at the ``test`` preset (every stage, the federated runs in Flower's simulation
engine); everything written to file descriptors 1 and 2 (this process, Ray's workers, Flower) is
counted, with the progress bars forced on as on a terminal.
"""

from __future__ import annotations

import re
import sys

import pytest

from automri.cli import main

MAX_LINES = 100
LOG_NOISE = re.compile(r"\b(INFO|DEBUG|WARNING)\b|flwr|\bray\b|Traceback|FutureWarning|DeprecationWarning", re.I)


@pytest.mark.slow
def test_demo_console_is_at_most_100_lines_with_flower_logs_in_files(tmp_path, monkeypatch, capfd) -> None:
    monkeypatch.setattr("automri.train.progress.progress_enabled", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")  # no wrapped lines
    out = tmp_path / "demo"
    monkeypatch.setattr(sys, "argv", ["automri", "demo", "--preset", "test", "--out", str(out)])
    capfd.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capfd.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert code == 0, "\n".join(lines[-20:])
    assert len(lines) <= MAX_LINES, f"{len(lines)} console lines:\n" + "\n".join(lines)
    for k, stage in enumerate(("shipped models", "zero-filled and CS", "FedAutoMRI", "EMR-NAS"), start=1):
        assert any(f"demo {k}/4" in line and stage in line for line in lines), stage
    assert any(line.startswith("round 1/") for line in lines)  # one line per federated round
    noisy = [line for line in lines if LOG_NOISE.search(line)]
    assert not noisy, noisy
    logs = sorted((out / "fedautomri").glob("*/flower.log"))
    assert len(logs) >= 2 and all(log.stat().st_size > 0 for log in logs)
    assert (out / "report.md").is_file()
