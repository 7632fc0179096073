"""`automri score`: fastMRI-style scoring of prediction .h5 files against target .h5 files."""

import json
import sys

import h5py
import numpy as np
import pytest

from automri.cli import main
from automri.errors import AutoMRIError
from automri.eval.metrics import cc359_metrics, slice_metrics, volume_metrics
from automri.eval.score import center_crop, score_directory, score_slices


def _write(path, key, data):
    with h5py.File(path, "w") as handle:
        handle[key] = data


@pytest.fixture
def folders(tmp_path):
    """Two volumes: 32x30 targets (rss) and 40x36 predictions whose centre crop is target + noise."""
    rng = np.random.default_rng(0)
    targets, predictions = tmp_path / "targets", tmp_path / "predictions"
    targets.mkdir()
    predictions.mkdir()
    expected = {}
    for name in ("file1000.h5", "file1001.h5"):
        target = rng.random((3, 32, 30)).astype(np.float32)
        prediction = rng.random((3, 40, 36)).astype(np.float32)
        prediction[:, 4:36, 3:33] = target + 0.05 * rng.standard_normal(target.shape).astype(np.float32)
        _write(targets / name, "reconstruction_rss", target)
        _write(predictions / name, "reconstruction", prediction)
        expected[name] = volume_metrics(target, prediction[:, 4:36, 3:33])
    return targets, predictions, expected


def _run_main(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["automri", "score", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
        raise SystemExit(0)
    return exit_info.value.code


def test_score_slices_reads_like_score_volume(folders):
    targets, predictions, _ = folders
    key, scores = score_slices(targets / "file1000.h5", predictions / "file1000.h5")
    with h5py.File(targets / "file1000.h5") as t, h5py.File(predictions / "file1000.h5") as p:
        expected = slice_metrics(t["reconstruction_rss"][()].astype(np.float64),
                                 p["reconstruction"][:, 4:36, 3:33].astype(np.float64))
    assert key == "reconstruction_rss" and len(scores["psnr"]) == 3
    for metric, values in expected.items():
        np.testing.assert_allclose(scores[metric], values, rtol=1e-12)


def test_center_crop_offsets_like_fastmri():
    volume = np.arange(2 * 5 * 6).reshape(2, 5, 6)
    np.testing.assert_array_equal(center_crop(volume, (3, 3), "x"), volume[:, 1:4, 1:4])
    with pytest.raises(AutoMRIError, match="cannot be centre-cropped"):
        center_crop(volume, (6, 6), "x")


def test_score_directory_crops_predictions(folders):
    targets, predictions, expected = folders
    result = score_directory(targets, predictions)
    assert result.keys == {name: "reconstruction_rss" for name in expected}
    for name, scores in expected.items():
        for metric, value in scores.items():
            assert result.volumes[name][metric] == pytest.approx(value, rel=1e-6)
    assert result.summary["psnr"].mean == pytest.approx(np.mean([s["psnr"] for s in expected.values()]))
    with pytest.raises(AutoMRIError, match="use --crop"):
        score_directory(targets, predictions, crop=False)


def test_auto_key_prefers_esc_and_explicit_key_must_exist(folders):
    targets, predictions, _ = folders
    with h5py.File(targets / "file1000.h5", "a") as handle:
        handle["reconstruction_esc"] = handle["reconstruction_rss"][()] * 2
    result = score_directory(targets, predictions)
    assert result.keys == {"file1000.h5": "reconstruction_esc", "file1001.h5": "reconstruction_rss"}
    with pytest.raises(AutoMRIError, match=r"file1001.h5: key 'reconstruction_esc' missing"):
        score_directory(targets, predictions, key="reconstruction_esc")


def test_cli_json_output_parses(folders, monkeypatch, capsys):
    targets, predictions, expected = folders
    code = _run_main(monkeypatch, "--targets", str(targets), "--predictions", str(predictions), "--json")
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload["volumes"]) == set(expected)
    assert payload["summary"]["ssim"]["n"] == 2
    assert payload["volumes"]["file1001.h5"]["ssim"] == pytest.approx(expected["file1001.h5"]["ssim"], rel=1e-6)


def test_cli_table_output(folders, monkeypatch, capsys):
    targets, predictions, _ = folders
    assert _run_main(monkeypatch, "--targets", str(targets), "--predictions", str(predictions)) == 0
    out = capsys.readouterr().out
    assert "file1000.h5" in out and "PSNR" in out and "mean ± std" in out


def test_cli_missing_prediction_exits_2_naming_the_file(folders, monkeypatch, capsys):
    targets, predictions, _ = folders
    (predictions / "file1001.h5").unlink()
    code = _run_main(monkeypatch, "--targets", str(targets), "--predictions", str(predictions), "--json")
    assert code == 2
    assert "file1001.h5" in capsys.readouterr().err


def test_cli_missing_prediction_key_exits_2(folders, monkeypatch, capsys):
    targets, predictions, _ = folders
    _write(predictions / "file1000.h5", "recon", np.zeros((3, 40, 36), np.float32))
    code = _run_main(monkeypatch, "--targets", str(targets), "--predictions", str(predictions))
    assert code == 2
    err = capsys.readouterr().err
    assert "file1000.h5" in err and "'reconstruction'" in err


def test_cc359_convention_through_the_cli(folders, monkeypatch, capsys):
    targets, predictions, expected = folders
    args = ["--targets", str(targets), "--predictions", str(predictions), "--convention", "cc359"]
    assert _run_main(monkeypatch, *args, "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["convention"] == "cc359"
    with h5py.File(targets / "file1000.h5") as t, h5py.File(predictions / "file1000.h5") as p:
        wanted = cc359_metrics(t["reconstruction_rss"][()], p["reconstruction"][:, 4:36, 3:33])
    assert payload["volumes"]["file1000.h5"] == pytest.approx(wanted)
    assert payload["volumes"]["file1000.h5"]["psnr"] != pytest.approx(expected["file1000.h5"]["psnr"], abs=1e-3)
    assert _run_main(monkeypatch, *args) == 0
    assert "Calgary-Campinas" in capsys.readouterr().out
    assert _run_main(monkeypatch, *args[:-1], "direct") == 2
    with pytest.raises(AutoMRIError, match="--convention"):
        score_directory(targets, predictions, convention="direct")
