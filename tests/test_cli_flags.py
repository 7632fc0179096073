"""The root of the command line: ``--version``, ``python -m automri``, and one name per flag across
commands (old spellings are hidden aliases that still work)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
from cli_helpers import one_error_line, run_cli

import automri
from automri.cli import app
from automri.cli.aliases import ALIASES

SRC = Path(automri.__file__).resolve().parents[1]


def _leaf_commands(command: click.Command, path: tuple[str, ...] = ()):
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _leaf_commands(sub, (*path, name))
    else:
        yield path, command


def test_version(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "--version")
    assert code == 0 and out.strip() == f"automri {automri.__version__}" == "automri 0.1.0"


def test_python_dash_m_automri_runs_the_cli():
    env = {**os.environ, "PYTHONPATH": str(SRC), "FLWR_TELEMETRY_ENABLED": "0"}
    result = subprocess.run([sys.executable, "-m", "automri", "--version"], check=False, capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "automri 0.1.0", result.stderr


def test_one_visible_name_per_meaning_across_commands():
    """No command shows an old spelling, and every old spelling is accepted where it was used."""
    for path, command in _leaf_commands(typer.main.get_command(app)):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert not set(param.opts) & set(ALIASES), f"automri {' '.join(path)} shows {param.opts}"
    for old, new in {"--batch": "--batch-size", "--preset": "--scale"}.items():
        assert ALIASES[old] == new


@pytest.fixture
def captured(monkeypatch):
    """Library calls of profile, bench speed and demo replaced by recorders of their arguments."""
    calls = {}

    def recorder(name, result):
        def record(*args, **kwargs):
            calls[name] = (args, kwargs)
            return result
        return record

    from automri.eval import profile
    from automri.experiments import demo, speed

    monkeypatch.setattr(profile, "profile_model", recorder("profile", {"params": 0}))
    monkeypatch.setattr(speed, "run_speed_benchmark", recorder("speed", {"models": {}}))
    monkeypatch.setattr(demo, "run_demo", recorder("demo", {}))
    return calls


@pytest.mark.parametrize("spelling", ["--batch-size", "--batch"])
def test_profile_batch_size_and_its_old_name(spelling, captured, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "profile", "--model", "zero_filled", "--size", "16", spelling, "3",
                           "--json")
    assert code == 0, err
    assert captured["profile"][1]["batch"] == 3


@pytest.mark.parametrize("spelling", ["--batch-size", "--batch"])
def test_bench_speed_batch_size_and_its_old_name(spelling, captured, monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "bench", "speed", "--models", "zero_filled", spelling, "2",
                           "--out", str(tmp_path / "speed.md"), "--json")
    assert code == 0, err
    assert captured["speed"][1]["batch"] == 2


@pytest.mark.parametrize("spelling", ["--scale", "--preset"])
def test_demo_scale_and_its_old_name(spelling, captured, monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "demo", spelling, "test", "--out", str(tmp_path / "d"), "--json")
    assert code == 0, err
    assert captured["demo"][1]["preset"] == "test"


def test_defaults_and_both_spellings_at_once(captured, monkeypatch, capsys, tmp_path):
    assert run_cli(monkeypatch, capsys, "profile", "--model", "zero_filled", "--size", "16", "--json")[0] == 0
    assert captured["profile"][1]["batch"] == 1
    assert run_cli(monkeypatch, capsys, "demo", "--out", str(tmp_path / "d"), "--json")[0] == 0
    assert captured["demo"][1]["preset"] == "demo"
    code, _, err = run_cli(monkeypatch, capsys, "profile", "--model", "unet", "--batch", "2", "--batch-size", "2")
    assert code == 2 and "--batch-size and --batch: give only one" in one_error_line(err)
