"""Issue 16 examples for ``automri score``: bad files give one clear line (exit 2), never NaN; JSON is strict."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from cli_helpers import one_error_line, run_cli


def _folders(tmp_path, target, prediction):
    targets, predictions = tmp_path / "targets", tmp_path / "predictions"
    targets.mkdir()
    predictions.mkdir()
    with h5py.File(targets / "file1.h5", "w") as handle:
        handle["reconstruction_esc"] = target
    with h5py.File(predictions / "file1.h5", "w") as handle:
        handle["reconstruction"] = prediction
    return targets, predictions


def _score(monkeypatch, capsys, targets, predictions, *extra):
    return run_cli(monkeypatch, capsys, "score", "--targets", str(targets), "--predictions", str(predictions), *extra)


GOOD = np.random.default_rng(0).random((2, 8, 8)).astype(np.float32) + 0.1


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_empty_or_truncated_prediction_file_is_one_clear_line(tmp_path, monkeypatch, capsys, damage):
    targets, predictions = _folders(tmp_path, GOOD, GOOD * 0.9)
    path = predictions / "file1.h5"
    path.write_bytes(b"" if damage == "empty" else path.read_bytes()[:1000])
    code, _, err = _score(monkeypatch, capsys, targets, predictions)
    assert code == 2
    assert "predictions/file1.h5: cannot open as HDF5" in one_error_line(err)


@pytest.mark.parametrize("which,key", [("target", "reconstruction_esc"), ("prediction", "reconstruction")])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_values_are_refused_naming_file_and_key(tmp_path, monkeypatch, capsys, which, key, value):
    bad = GOOD.copy()
    bad[1, 2, 3] = value
    targets, predictions = _folders(tmp_path, bad if which == "target" else GOOD, bad if which == "prediction" else GOOD)
    code, out, err = _score(monkeypatch, capsys, targets, predictions, "--json")
    assert code == 2 and out == ""
    assert f"file1.h5: key '{key}': contains NaN or Inf" in one_error_line(err)


def test_zero_slices_and_all_zero_target_are_refused(tmp_path, monkeypatch, capsys):
    targets, predictions = _folders(tmp_path, np.zeros((0, 8, 8), np.float32), np.zeros((0, 8, 8), np.float32))
    code, _, err = _score(monkeypatch, capsys, targets, predictions)
    assert code == 2 and "key 'reconstruction_esc': shape (0, 8, 8) has an empty or negative size" in one_error_line(err)
    zero = tmp_path / "zero"
    zero.mkdir()
    targets, predictions = _folders(zero, np.zeros((2, 8, 8), np.float32), GOOD)
    code, _, err = _score(monkeypatch, capsys, targets, predictions)
    assert code == 2 and "key 'reconstruction_esc' is all zeros" in one_error_line(err)


def test_perfect_prediction_gives_strict_json_with_null_and_reason(tmp_path, monkeypatch, capsys):
    targets, predictions = _folders(tmp_path, GOOD, GOOD)
    code, out, err = _score(monkeypatch, capsys, targets, predictions, "--json")
    assert code == 0, err
    assert "Infinity" not in out and "NaN" not in out
    result = json.loads(out)
    assert result["summary"]["psnr"]["mean"] is None
    assert result["non_finite"]["summary.psnr.mean"] == "inf"
    assert result["volumes"]["file1.h5"]["nmse"] == 0.0


def test_debug_flag_shows_the_traceback(tmp_path, monkeypatch, capsys):
    targets, predictions = _folders(tmp_path, np.zeros((2, 8, 8), np.float32), GOOD)
    code, _, err = run_cli(monkeypatch, capsys, "--debug", "score", "--targets", str(targets), "--predictions", str(predictions))
    assert code == 2
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith("error: ")
