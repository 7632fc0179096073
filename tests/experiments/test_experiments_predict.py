"""``automri predict``: fastMRI-style files in source units, scored exactly as ``automri score`` scores them."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from cli_helpers import one_error_line, run_cli

from automri.experiments.predict import build_predict_split, run_predict
from automri.nas.factory import build_network
from automri.physics.fft import fft2c
from automri.train.checkpoint import save_checkpoint
from automri.train.config import config_from_dict
from automri.train.evaluate import evaluate_model

MASK = "fastmri-random:cf=0.08,acc=4"
RECIPE = {"model": {"name": "dccnn", "options": {"nf": 4, "n_cascades": 2, "n_convs": 3}},
          "data": {"dataset": "phantom", "size": 32, "mask": MASK, "phase": 0.0}, "seed": 0}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint file of a small DC-CNN (random weights: a network unlike zero-filled) with its config."""
    config = config_from_dict(RECIPE)
    torch.manual_seed(0)
    model = build_network("dccnn", **RECIPE["model"]["options"])
    path = tmp_path_factory.mktemp("ckpt") / "dccnn.pt"
    save_checkpoint(path, {"model": model.state_dict(), "meta": {"config": config.to_dict()}})
    return path


@pytest.fixture(scope="module")
def predicted(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "recons"
    result = run_predict(str(checkpoint), None, out, max_slices=6, command="automri predict (test)")
    return out, result


def test_writes_fastmri_files_in_source_units(predicted, checkpoint) -> None:
    out, result = predicted
    names = sorted(result["files"].values())
    assert names and sorted(p.name for p in out.glob("*.h5")) == names
    for name in names:
        with h5py.File(out / name) as recon, h5py.File(out / "zero_filled" / name) as zf, \
                h5py.File(out / "targets" / name) as target:
            data = recon["reconstruction"]
            assert data.dtype == np.float32 and data.ndim == 3 and data.shape[1:] == (32, 32)
            assert zf["reconstruction"].shape == data.shape == target["reconstruction_esc"].shape
            assert recon.attrs["automri_model"] == "dccnn" and recon.attrs["automri_mask"] == MASK
            assert recon.attrs["automri_command"] == "automri predict (test)"
            assert zf.attrs["automri_model"] == "zero_filled"
            assert len(recon.attrs["automri_slices"]) == data.shape[0]
    # the same model through the one evaluator (in memory, source units) gives the file-based scores
    from automri.train.engine import load_trained

    model, config = load_trained(checkpoint)
    config = config_from_dict({**config.to_dict(), "data": {**config.to_dict()["data"], "augment": "none"}})
    direct = evaluate_model(model, build_predict_split(config, "test", 6), panels=0, progress=False)
    scored = result["scores"]["model"]["volume_summary"]["psnr"]["mean"]
    assert scored == pytest.approx(direct["volume_summary"]["psnr"]["mean"], abs=1e-3)
    assert len(result["scores"]["model"]["slices"]) == sum(len(v) for v in [direct["slices"]])


def test_automri_score_on_the_written_files_gives_the_printed_numbers(predicted, checkpoint, tmp_path,
                                                                       monkeypatch, capsys) -> None:
    out = tmp_path / "cli"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "predict", "--checkpoint", str(checkpoint), "--out", str(out),
                                   "--max-slices", "6", "--json")
    assert code == 0, stderr
    printed = json.loads(stdout)["scores"]
    for method, folder in (("model", out), ("zero_filled", out / "zero_filled")):
        code, stdout, stderr = run_cli(monkeypatch, capsys, "score", "--targets", str(out / "targets"),
                                       "--predictions", str(folder), "--json")
        assert code == 0, stderr
        rescored = json.loads(stdout)
        assert rescored["volumes"] == printed[method]["volumes"]
        assert rescored["summary"] == printed[method]["volume_summary"]
    saved = json.loads((out / "scores.json").read_text())
    assert saved["scores"] == printed
    rows = (out / "slices.csv").read_text().splitlines()
    assert rows[0] == "method,volume,slice,psnr,ssim,nmse" and len(rows) == 1 + 2 * len(printed["model"]["slices"])
    # the random-weight network is not zero-filled
    assert printed["model"]["volume_summary"]["psnr"]["mean"] != printed["zero_filled"]["volume_summary"]["psnr"]["mean"]


def test_table_output_names_both_methods(checkpoint, tmp_path, monkeypatch, capsys) -> None:
    code, stdout, stderr = run_cli(monkeypatch, capsys, "predict", "--checkpoint", str(checkpoint), "--out",
                                   str(tmp_path / "t"), "--max-slices", "2")
    assert code == 0, stderr
    assert "zero-filled" in stdout and "dccnn" in stdout and "per slice" in stdout


def test_fastmri_input_keeps_its_attributes(checkpoint, tmp_path) -> None:
    folder = tmp_path / "knee"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[-1:1:32j, -1:1:32j]
    images = np.stack([(np.exp(-(xx ** 2 + yy ** 2) * (2 + k)) + 0.05 * rng.random((32, 32))) for k in range(3)])
    kspace = fft2c(torch.from_numpy(images.astype(np.complex64))).numpy()
    header = ("<?xml version=\"1.0\"?><ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\"><encoding>"
              "<encodedSpace><matrixSize><x>32</x><y>32</y><z>1</z></matrixSize></encodedSpace>"
              "<reconSpace><matrixSize><x>32</x><y>32</y><z>1</z></matrixSize></reconSpace>"
              "<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>31</maximum><center>16</center>"
              "</kspace_encoding_step_1></encodingLimits></encoding></ismrmrdHeader>")
    with h5py.File(folder / "file1000.h5", "w") as handle:
        handle["kspace"] = kspace.astype(np.complex64)
        handle["ismrmrd_header"] = header.encode()
        handle["reconstruction_esc"] = np.abs(images).astype(np.float32)
        handle["reconstruction_rss"] = np.abs(images).astype(np.float32)
        handle.attrs["acquisition"] = "CORPD_FBK"
        handle.attrs["patient_id"] = "abc123"
    result = run_predict(str(checkpoint), str(folder / "file1000.h5"), tmp_path / "out", split="all")
    assert result["files"] == {"file1000": "file1000.h5"}
    with h5py.File(tmp_path / "out" / "file1000.h5") as handle:
        assert handle.attrs["acquisition"] == "CORPD_FBK" and handle.attrs["patient_id"] == "abc123"
        assert handle["reconstruction"].shape == (3, 32, 32)
        # source units: the target written next to it is the file's own image magnitude
    with h5py.File(tmp_path / "out" / "targets" / "file1000.h5") as handle:
        np.testing.assert_allclose(handle["reconstruction_esc"][()], np.abs(images), rtol=1e-3, atol=1e-4)


def _refuse(token: str) -> None:
    raise AssertionError(f"non-strict JSON token {token}")


def test_non_finite_scores_are_strict_json(checkpoint, tmp_path, monkeypatch, capsys) -> None:
    """A reconstruction equal to its target has PSNR inf: written as null and listed under non_finite."""
    from automri.experiments import predict as predict_module

    real = predict_module.reconstruct

    def perfect(*args, **kwargs):
        volumes = real(*args, **kwargs)
        for data in volumes.values():
            data["model"] = data["target"].copy()
        return volumes

    monkeypatch.setattr(predict_module, "reconstruct", perfect)
    out = tmp_path / "perfect"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "predict", "--checkpoint", str(checkpoint), "--out", str(out),
                                   "--max-slices", "2", "--json")
    assert code == 0, stderr
    payload = json.loads(stdout, parse_constant=_refuse)
    assert payload["scores"]["model"]["volume_summary"]["psnr"]["mean"] is None
    assert payload["non_finite"]["scores.model.volume_summary.psnr.mean"] == "inf"
    json.loads((out / "scores.json").read_text(), parse_constant=_refuse)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--checkpoint", "no-such-model"], "not a shipped model"),
        (["--dataset", "/no/such/data"], "--dataset"),
        (["--split", "holdout"], "--split 'holdout'"),
        (["--mask", "bogus:x=1"], "mask"),
        (["--size", "1"], "--size"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, checkpoint, tmp_path, monkeypatch, capsys) -> None:
    full = ["predict", "--out", str(tmp_path / "x"), *args]
    if "--checkpoint" not in args:
        full += ["--checkpoint", str(checkpoint)]
    code, _, stderr = run_cli(monkeypatch, capsys, *full)
    assert code == 2
    assert message in one_error_line(stderr)


def test_missing_flags_and_damaged_checkpoint(tmp_path, monkeypatch, capsys) -> None:
    code, _, stderr = run_cli(monkeypatch, capsys, "predict", "--out", str(tmp_path / "x"))
    assert code == 2 and "--checkpoint" in one_error_line(stderr)
    damaged = tmp_path / "bad.pt"
    damaged.write_bytes(b"not a checkpoint")
    code, _, stderr = run_cli(monkeypatch, capsys, "predict", "--checkpoint", str(damaged), "--out", str(tmp_path / "y"))
    assert code == 2 and "bad.pt" in one_error_line(stderr)


@pytest.mark.parametrize("case", ["truncated", "empty", "nan-weights", "not-a-checkpoint"])
def test_damaged_checkpoints_fuzzed_give_one_line_or_a_finite_result(case, checkpoint, tmp_path, monkeypatch, capsys):
    """``automri predict`` on damaged checkpoints (the fuzz classes of docs/reliability.md: truncation,
    empty file, NaN injection, wrong content): one error line and exit 2, never a traceback or NaN scores."""
    data = checkpoint.read_bytes()
    bad = tmp_path / f"{case}.pt"
    if case == "truncated":
        bad.write_bytes(data[: len(data) // 3])
    elif case == "empty":
        bad.write_bytes(b"")
    elif case == "not-a-checkpoint":
        bad.write_text("weights")
    else:
        state = torch.load(checkpoint, weights_only=False)
        state["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                          for k, v in state["model"].items()}
        save_checkpoint(bad, state)
    code, out, err = run_cli(monkeypatch, capsys, "predict", "--checkpoint", str(bad), "--dataset", "phantom",
                             "--size", "32", "--max-slices", "2", "--out", str(tmp_path / "out"), "--json")
    if code == 0:
        scores = json.loads(out)
        assert "NaN" not in out and "Infinity" not in out and scores
    else:
        assert code == 2 and one_error_line(err)
