"""End to end: automri train (+ --resume), automri evaluate, automri profile."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from automri.cli import app
from automri.errors import AutoMRIError
from automri.train.runs import RunDir

runner = CliRunner()


def _invoke(*args: str):
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_train_resume_evaluate(tmp_path):
    run_path = tmp_path / "run"
    common = ("--model", "unet", "--dataset", "phantom", "--size", "32", "--steps", "2", "--batch-size", "4",
              "--params", "20000", "--val-slices", "8", "--augment", "flip=0.5,rotate=90", "--phase", "0")
    # the smallest U-Net near 20k parameters keeps the test fast
    result = _invoke("train", *common, "--epochs", "1", "--out", str(run_path), "--json")
    summary = json.loads(result.stdout)
    assert summary["epochs"] == 1 and summary["global_step"] == 2 and summary["model"] == "unet"
    run = RunDir(run_path, resume=True)
    config = run.read_config()
    assert config["model"]["name"] == "unet" and config["data"]["size"] == 32 and config["train"]["steps"] == 2
    assert config["train"]["lr"] == pytest.approx(1e-4)  # from configs/unet.yaml
    assert config["model"]["params"] == 20000 and config["model"]["options"]["chans"] == 2  # width_for_params
    assert config["model"]["options"]["in_chans"] == 1 and config["train"]["loss"] == "mse_mag"  # magnitude U-Net
    assert config["data"]["augment"] == "flip=0.5,rotate=90" and config["data"]["phase"] == 0.0
    assert summary["params"] < 40000
    for name in ("checkpoint-last.pt", "checkpoint-best.pt", "summary.json", "eval-val/metrics.json",
                 "figures/curves.png"):
        assert (run_path / name).is_file(), name
    assert list((run_path / "figures").glob("panel-*.png"))

    with pytest.raises(AutoMRIError, match="--out .* directory is not empty; pass --resume"):
        _invoke("train", *common, "--epochs", "1", "--out", str(run_path))

    result = _invoke("train", "--out", str(run_path), "--resume", "--epochs", "2", "--json")
    summary = json.loads(result.stdout)
    assert summary["resumed_from"] == {"epoch": 1, "step_in_epoch": 0, "global_step": 2}
    assert summary["global_step"] == 4
    assert [r["epoch"] for r in run.read_jsonl()] == [1, 2]
    assert run.read_config()["train"]["epochs"] == 2 and run.read_config()["data"]["size"] == 32
    assert run.read_config()["data"]["val_max_slices"] == 8  # kept from the first invocation

    result = _invoke("evaluate", str(run_path), "--split", "test", "--max-slices", "6", "--panels", "1", "--json")
    scores = json.loads(result.stdout)
    assert scores["slice_summary"]["psnr"]["n"] == 6
    assert scores["psnr"] == pytest.approx(scores["volume_summary"]["psnr"]["mean"])
    out = run_path / "eval-test"
    assert (out / "metrics.json").is_file() and (out / "slices.csv").is_file() and list(out.glob("panel-*.png"))

    result = _invoke("evaluate", str(run_path / "checkpoint-best.pt"), "--max-slices", "2", "--panels", "0",
                     "--out", str(tmp_path / "ev"), "--json")
    assert json.loads(result.stdout)["slice_summary"]["psnr"]["n"] == 2


def test_zero_filled_trains_nothing_and_evaluates(tmp_path):
    result = _invoke("train", "--model", "zero_filled", "--dataset", "phantom", "--size", "16", "--val-slices", "4",
                     "--out", str(tmp_path / "zf"), "--json")
    summary = json.loads(result.stdout)
    assert summary["params"] == 0 and summary["global_step"] == 0 and summary["val"]["volume_summary"]["psnr"]["mean"] > 0
    result = _invoke("evaluate", str(tmp_path / "zf"), "--max-slices", "2", "--json")
    assert json.loads(result.stdout)["slice_summary"]["psnr"]["n"] == 2


def test_profile_modl_json():
    result = _invoke("profile", "--model", "modl", "--size", "32", "--repeats", "1", "--no-memory", "--json")
    profile = json.loads(result.stdout)
    assert profile["model"] == "modl" and profile["size"] == 32
    # 5 conv layers of 64 filters (configs/modl.yaml), 10 unrolled iterations: > 1e5 MACs per pixel per iteration
    assert profile["params"] > 100_000 and profile["macs"] > 10 * 32 * 32 * 100_000
    assert profile["latency_ms"] > 0


def test_bad_input_raises_one_clear_error(tmp_path):
    with pytest.raises(AutoMRIError, match="give --model NAME, --genotype FILE or --config YAML"):
        _invoke("train", "--out", str(tmp_path / "x"))
    with pytest.raises(AutoMRIError, match="--loss 'huber'|--loss: unknown loss 'huber'|train.loss: unknown loss 'huber'"):
        _invoke("train", "--model", "unet", "--loss", "huber", "--out", str(tmp_path / "y"))
    with pytest.raises(AutoMRIError, match="no such run directory or checkpoint|no such directory"):
        _invoke("evaluate", str(tmp_path / "missing"))


def test_profile_and_train_a_genotype(tmp_path):
    from automri.nas.cell.genotype import FEDNAS_V1
    from automri.nas.genotype import save_genotype

    path = save_genotype(tmp_path / "genotype.json", {**FEDNAS_V1, "hidden": 4, "iterations": 1})
    profile = json.loads(_invoke("profile", "--genotype", str(path), "--size", "16", "--repeats", "1",
                                 "--no-memory", "--json").stdout)
    assert 0 < profile["params"] < 5000 and profile["macs"] > 0
    result = _invoke("train", "--genotype", str(path), "--dataset", "phantom", "--size", "16", "--epochs", "1",
                     "--steps", "1", "--batch-size", "2", "--val-slices", "2", "--out", str(tmp_path / "run"),
                     "--json")
    assert json.loads(result.stdout)["model"] == "cell_net"
    config = RunDir(tmp_path / "run", resume=True).read_config()
    assert config["model"]["genotype"]["hidden"] == 4  # the genotype file is inlined in config.yaml
    assert config["train"]["optimizer"] == "adamw"  # the defaults come from configs/cell.yaml
