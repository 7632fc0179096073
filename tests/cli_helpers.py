"""Run ``automri`` in-process through its real entry point (``automri.cli.main``)."""

from __future__ import annotations

import sys

import pytest

from automri.cli import main


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``automri ARGS`` (``capsys``, or ``capfd`` to see every
    file-descriptor-level line, child processes' included)."""
    monkeypatch.setattr(sys, "argv", ["automri", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line of ``err``; fails when there is a traceback or more lines."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]
