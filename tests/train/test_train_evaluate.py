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
        records = [  # scored in source units: each slice times its own scale
            (s.meta["volume"], s.meta["slice"], s.target.abs() * s.scale,
             model(s.kspace[None], s.mask[None])[0].abs() * s.scale)
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


def test_per_volume_scores_are_in_source_units(tmp_path):
    """Slices of one volume stored at scales 2, 5 and 10: each sample is normalised by its own scale,
    and the fastMRI per-volume PSNR/NMSE must be those of the STORED images (checked against
    scikit-image), not of the rescaled slices stacked together."""
    import nibabel as nib
    import numpy as np
    from skimage.metrics import peak_signal_noise_ratio

    from automri.data.datasets import build_dataset
    from automri.models.zero_filled import ZeroFilled
    from automri.physics.fft import fft2c, ifft2c

    yy, xx = np.mgrid[-1:1:32j, -1:1:32j]
    base = ((xx**2 + (yy / 0.8) ** 2) < 0.7).astype(np.float32) + 0.5 * ((xx - 0.2) ** 2 + yy**2 < 0.1)
    scales = (2.0, 5.0, 10.0)  # every slice above the reader's 10 %-of-volume-max tissue threshold
    volume = np.stack([base * s for s in scales], axis=-1).astype(np.float32)  # [H, W, slices]
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "scaled.nii.gz")
    data = build_dataset(str(tmp_path / "scaled.nii.gz"), "all", size=None, mask="random:rate=0.3,center=0.1",
                         phase=0.0, reader_options={"min_tissue": 0})
    assert len(data) == 3 and len({round(float(s.scale), 3) for s in data}) == 3

    result = evaluate_model(ZeroFilled(), data, batch_size=2, panels=0, progress=False)

    order = sorted(range(3), key=lambda i: data[i].meta["slice"])
    target = np.stack([(data[i].target.abs() * data[i].scale).numpy() for i in order])
    recon = np.stack([(ifft2c(data[i].kspace).abs() * data[i].scale).numpy() for i in order])
    stored = np.stack([np.abs(ifft2c(fft2c(torch.from_numpy(volume[..., s]).to(torch.complex64))).numpy())
                       for s in range(3)])
    # the source units are the stored intensities (up to the orientation of the reader)
    assert sorted(float(t.max()) for t in target) == pytest.approx(sorted(float(s.max()) for s in stored), rel=1e-4)
    expected_psnr = peak_signal_noise_ratio(target, recon, data_range=target.max())
    expected_nmse = float(np.sum((target - recon) ** 2) / np.sum(target**2))
    (volume_scores,) = result["volumes"].values()
    assert volume_scores["psnr"] == pytest.approx(expected_psnr, abs=1e-3)
    assert volume_scores["nmse"] == pytest.approx(expected_nmse, rel=1e-3)
    normalised = np.stack([data[i].target.abs().numpy() for i in order])
    normalised_recon = np.stack([ifft2c(data[i].kspace).abs().numpy() for i in order])
    wrong = peak_signal_noise_ratio(normalised, normalised_recon, data_range=normalised.max())
    assert abs(wrong - expected_psnr) > 0.5  # the old stacking of rescaled slices is measurably off
