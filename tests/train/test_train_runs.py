"""Run directories: refusal to clobber, logs, truncation on resume, atomic JSON."""

from __future__ import annotations

import json

import pytest

from automri.errors import AutoMRIError
from automri.train.runs import RunDir


def test_new_run_layout_and_config_round_trip(tmp_path):
    run = RunDir(tmp_path / "run")
    config = {"model": "unet", "train": {"epochs": 2, "lr": 0.001}, "mask": None}
    run.write_config(config)
    assert run.read_config() == config
    assert run.checkpoint_last.name == "checkpoint-last.pt"
    assert run.checkpoint_best.name == "checkpoint-best.pt"
    assert run.figures_dir.is_dir() and run.figures_dir.name == "figures"


def test_non_empty_directory_is_refused_unless_resume_or_overwrite(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_config({"model": "unet"})
    run.log_metrics({"epoch": 1, "train_loss": 0.5})  # progress: the run has started
    with pytest.raises(AutoMRIError, match=r"--out .*run: directory is not empty; pass --resume"):
        RunDir(tmp_path / "run")
    assert RunDir(tmp_path / "run", resume=True).read_config() == {"model": "unet"}
    RunDir(tmp_path / "run", overwrite=True)
    assert list((tmp_path / "run").iterdir()) == []
    other = tmp_path / "not-a-run"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(AutoMRIError, match="refusing to overwrite"):
        RunDir(other, overwrite=True)
    assert (other / "thesis.tex").exists()
    with pytest.raises(AutoMRIError, match="--resume: run directory .* does not exist"):
        RunDir(tmp_path / "missing", resume=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(AutoMRIError, match="not a directory"):
        RunDir(tmp_path / "file")


def test_read_config_errors_name_the_file(tmp_path):
    run = RunDir(tmp_path / "run")
    with pytest.raises(AutoMRIError, match="config.yaml: run configuration not found"):
        run.read_config()
    (run.path / "config.yaml").write_text("- a list\n")
    with pytest.raises(AutoMRIError, match="config.yaml: expected a mapping"):
        run.read_config()


def test_logs_append_and_truncate_for_resume(tmp_path):
    run = RunDir(tmp_path / "run")
    for epoch in (1, 2, 3):
        run.log_metrics({"epoch": epoch, "train_loss": 1.0 / epoch})
    for epoch, step in ((2, 1), (2, 2), (3, 1), (3, 2), (3, 3), (4, 1)):
        run.append_jsonl("alpha.jsonl", {"epoch": epoch, "step_in_epoch": step})
    run.append_jsonl("alpha.jsonl", {"note": "no epoch: always kept"})
    run.truncate_logs(epochs_done=2, step_in_epoch=2)
    assert [r["epoch"] for r in run.read_jsonl()] == [1, 2]
    kept = run.read_jsonl("alpha.jsonl")
    assert [(r.get("epoch"), r.get("step_in_epoch")) for r in kept] == [(2, 1), (2, 2), (3, 1), (3, 2), (None, None)]


def test_read_jsonl_ignores_a_torn_last_line_only(tmp_path):
    run = RunDir(tmp_path / "run")
    run.log_metrics({"epoch": 1})
    with open(run.metrics_path, "a") as handle:
        handle.write('{"epoch": 2, "trai')
    assert run.read_jsonl() == [{"epoch": 1}]
    run.metrics_path.write_text('{"epoch": 1\n{"epoch": 2}\n')
    with pytest.raises(AutoMRIError, match="metrics.jsonl: line 1 is not valid JSON"):
        run.read_jsonl()


def test_write_json_is_atomic_and_readable(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_json("summary.json", {"psnr": 31.5, "path": tmp_path})
    assert json.loads((run.path / "summary.json").read_text())["psnr"] == 31.5
    assert [p.name for p in run.path.iterdir()] == ["summary.json"]


def test_jsonl_logs_are_strict_json(tmp_path):
    """A NaN or infinite metric (a diverging run, a PSNR of identical images) is logged as null with
    the reason, never as the non-standard tokens NaN / Infinity."""
    import json as _json

    run = RunDir(tmp_path / "run")
    run.log_metrics({"epoch": 1, "train_loss": float("nan"), "val_psnr": float("inf")})
    line = (tmp_path / "run" / "metrics.jsonl").read_text().strip()
    assert "NaN" not in line and "Infinity" not in line
    record = _json.loads(line)
    assert record["train_loss"] is None and record["non_finite"] == {"train_loss": "nan", "val_psnr": "inf"}
