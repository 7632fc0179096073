"""evaluate_model: metrics in both conventions, files written, predictions for figures."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from train_fixtures import TinySlices, tiny_model

from automri.errors import AutoMRIError
from automri.eval.metrics import evaluate_volumes
from automri.train.evaluate import evaluate_model


def test_scores_match_eval_metrics_and_files_are_written(tmp_path):
    data = TinySlices(n=8, seed=3)  # 2 volumes of 4 slices
    model = tiny_model().train()
    result = evaluate_model(model, data, batch_size=3, out=tmp_path / "eval", panels=2, progress=False)
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        records = [
            (s.meta["volume"], s.meta["slice"], s.target.abs(), model(s.kspace[None], s.mask[None])[0].abs())
            for s in data
        ]
    expected = evaluate_volumes(records).to_dict()
    assert result["psnr"] == pytest.approx(expected["volume_summary"]["psnr"]["mean"], rel=1e-5)
    assert result["slice_summary"]["ssim"]["mean"] == pytest.approx(expected["slice_summary"]["ssim"]["mean"], rel=1e-5)
    assert result["volume_summary"]["nmse"]["n"] == 2 and result["slice_summary"]["psnr"]["n"] == 8
    assert [(p["volume"], p["slice"]) for p in result["predictions"]] == [("vol0", 0), ("vol0", 1)]
    assert result["predictions"][0]["reconstruction"].shape == (16, 16)

    folder = tmp_path / "eval"
    saved = json.loads((folder / "metrics.json").read_text())
    assert "predictions" not in saved and saved["psnr"] == pytest.approx(result["psnr"])
    with open(folder / "slices.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and set(rows[0]) == {"volume", "slice", "psnr", "ssim", "nmse"}
    with open(folder / "volumes.csv") as handle:
        assert [r["volume"] for r in csv.DictReader(handle)] == ["vol0", "vol1"]
    assert sorted(p.name for p in folder.glob("*.png")) == ["panel-vol0-0.png", "panel-vol0-1.png"]


def test_empty_dataset_is_an_error():
    with pytest.raises(AutoMRIError, match="evaluation set is empty"):
        evaluate_model(tiny_model(), [], progress=False)
