"""Shipped models: the package's entries load, verify their checksum and reproduce their documented
test PSNR; ``ship_run`` turns a train run into an entry; ``automri predict`` finds entries by name."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_helpers import one_error_line, run_cli

from automri.errors import AutoMRIError
from automri.experiments.demo_shipped import applicable
from automri.experiments.ship_model import MAX_WEIGHTS_BYTES, evaluate_entry, main, ship_run
from automri.train.config import config_from_dict
from automri.train.engine import train
from automri.train.shipped import (
    SHIPPED_ROOT,
    WEIGHTS_FILE,
    list_shipped,
    load_shipped,
    resolve_checkpoint,
    sha256_file,
    shipped_names,
)

TOLERANCE_DB = 0.05
TINY = {"model": {"name": "dccnn", "options": {"nf": 4, "n_cascades": 2, "n_convs": 3}},
        "data": {"dataset": "phantom", "size": 32, "mask": "fastmri-random:cf=0.08,acc=4", "phase": 0.0,
                 "max_slices": 4, "val_max_slices": 2},
        "train": {"epochs": 1, "steps": 2, "batch_size": 2}, "seed": 0}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("AUTOMRI_NO_PROGRESS", "1")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "dccnn"
    train(config_from_dict(TINY), out, progress=False)
    return out


def test_the_package_ships_at_least_one_small_model() -> None:
    names = shipped_names()
    assert names, f"no shipped model under {SHIPPED_ROOT}"
    total = sum((SHIPPED_ROOT / name / WEIGHTS_FILE).stat().st_size for name in names)
    assert total < 3 * MAX_WEIGHTS_BYTES
    for entry in list_shipped():
        assert entry["train_command"].startswith("automri train") and entry["ship_command"]
        assert entry["data"]["split"] == "test" and entry["data"]["slices"] > 0
        assert (SHIPPED_ROOT / entry["name"] / WEIGHTS_FILE).stat().st_size <= MAX_WEIGHTS_BYTES


@pytest.mark.parametrize("name", shipped_names())
def test_shipped_model_reproduces_its_documented_test_psnr(name) -> None:
    model, config, entry = load_shipped(name)
    assert config.model.name == entry["model"] or config.model.genotype is not None
    scores = evaluate_entry(name)
    assert scores["slices"] == entry["data"]["slices"]
    assert abs(scores["psnr"] - entry["test"]["psnr"]) <= TOLERANCE_DB, (scores["psnr"], entry["test"]["psnr"])


def test_ship_run_writes_an_entry_that_loads_and_reproduces(tiny_run, tmp_path) -> None:
    root = tmp_path / "registry"
    entry = ship_run(tiny_run, "tiny-dccnn", "automri train --config tiny.yaml --out run", "tiny", root=root,
                     command="python benchmarks/ship_model.py ...")
    folder = root / "tiny-dccnn"
    assert json.loads((folder / "entry.json").read_text())["sha256"] == {WEIGHTS_FILE: sha256_file(folder / WEIGHTS_FILE)}
    assert entry["recipe"]["model"]["options"] == TINY["model"]["options"] and entry["data"]["dataset"] == "phantom"
    assert entry["params"] > 0 and set(entry["test"]) == {"psnr", "ssim", "nmse"}
    assert evaluate_entry("tiny-dccnn", root)["psnr"] == pytest.approx(entry["test"]["psnr"], abs=1e-6)
    model, config, origin = resolve_checkpoint("tiny-dccnn", root=root)
    assert origin["kind"] == "shipped" and config.data.size == 32
    with pytest.raises(AutoMRIError, match="exists"):
        ship_run(tiny_run, "tiny-dccnn", "automri train ...", root=root)
    with pytest.raises(AutoMRIError, match="NAME"):
        ship_run(tiny_run, "../escape", "automri train ...", root=root)


def test_checksum_mismatch_is_a_clear_error(tiny_run, tmp_path) -> None:
    root = tmp_path / "registry"
    ship_run(tiny_run, "tiny", "automri train ...", root=root)
    weights = root / "tiny" / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AutoMRIError, match="checksum mismatch"):
        load_shipped("tiny", root=root)
    with pytest.raises(AutoMRIError, match="not a shipped model"):
        load_shipped("missing", root=root)


def test_script_entry_point_and_unfinished_run(tiny_run, tmp_path, capsys) -> None:
    entry = main([str(tiny_run), "cli-tiny", "--train-command", "automri train ...", "--root", str(tmp_path / "r")])
    assert "test PSNR" in capsys.readouterr().out and entry["name"] == "cli-tiny"
    unfinished = tmp_path / "unfinished"
    shutil.copytree(tiny_run, unfinished)
    (unfinished / "summary.json").unlink()
    with pytest.raises(AutoMRIError, match="not a finished train run"):
        ship_run(unfinished, "x", "automri train ...", root=tmp_path / "r")


def test_predict_list_and_predict_by_name(tmp_path, monkeypatch, capsys) -> None:
    code, stdout, stderr = run_cli(monkeypatch, capsys, "predict", "--list", "--json")
    assert code == 0, stderr
    listed = json.loads(stdout)
    assert [e["name"] for e in listed] == shipped_names()
    code, stdout, _ = run_cli(monkeypatch, capsys, "predict", "--list")
    assert code == 0 and all(name in stdout for name in shipped_names())
    name = shipped_names()[0]
    code, stdout, stderr = run_cli(monkeypatch, capsys, "predict", "--checkpoint", name, "--out", str(tmp_path / "p"),
                                   "--max-slices", "3", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["origin"]["kind"] == "shipped" and result["origin"]["test_psnr"] == listed[0]["test"]["psnr"]
    assert result["scores"]["model"]["volume_summary"]["psnr"]["mean"] > result["scores"]["zero_filled"]["volume_summary"]["psnr"]["mean"]
    code, _, stderr = run_cli(monkeypatch, capsys, "predict", "--checkpoint", "nope", "--out", str(tmp_path / "q"))
    assert code == 2 and name in one_error_line(stderr)


def test_predict_runs_a_train_run_directory(tiny_run, tmp_path) -> None:
    from automri.experiments.predict import run_predict

    result = run_predict(str(tiny_run), None, tmp_path / "p", max_slices=2, command="test")
    assert result["origin"] == {"kind": "run", "checkpoint": str(tiny_run)}
    assert result["dataset"] == "phantom" and result["size"] == 32 and (tmp_path / "p" / "scores.json").is_file()


def test_the_demo_shows_the_shipped_models_of_its_dataset_best_first() -> None:
    entries = applicable("colin27")
    assert entries and all(entry["data"]["dataset"] == "colin27" for entry in entries)
    scores = [entry["test"]["psnr"] for entry in entries]
    assert scores == sorted(scores, reverse=True)
    assert {entry["name"] for entry in entries} == {e["name"] for e in list_shipped() if e["data"]["dataset"] == "colin27"}
