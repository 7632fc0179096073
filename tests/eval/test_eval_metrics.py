"""Metrics equal scikit-image under the fastMRI (per-volume), per-slice and Calgary-Campinas conventions."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from automri.errors import AutoMRIError
from automri.eval.metrics import (
    cc359_metrics,
    evaluate_volumes,
    nmse,
    psnr_per_slice,
    psnr_volume,
    ssim_per_slice,
    ssim_torch,
    ssim_volume,
)


def _volumes(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random and structured (smooth blob + edges) volumes with noisy predictions, varied sizes/ranges."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:40, 0:36] / 36.0
    blobs = [np.exp(-((xx - 0.5) ** 2 + (yy - 0.5 - 0.05 * s) ** 2) / 0.05) for s in range(5)]
    structured = np.stack(blobs) + (xx > 0.7)  # smooth blobs plus a sharp edge
    volumes = [rng.random((3, 24, 32)) * 7.0, structured * 1e-4, rng.gamma(2.0, size=(4, 20, 20))]
    return [(gt, np.clip(gt + 0.1 * gt.max() * rng.standard_normal(gt.shape), 0, None)) for gt in volumes]


@pytest.mark.parametrize("seed", [0, 1])
def test_fastmri_convention_equals_skimage(seed):
    for gt, pred in _volumes(seed):
        assert psnr_volume(gt, pred) == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=gt.max()), abs=1e-4)
        expected = np.mean([structural_similarity(g, p, data_range=gt.max()) for g, p in zip(gt, pred)])
        assert ssim_volume(gt, pred) == pytest.approx(expected, abs=1e-4)
        # torch float32 input gives the same numbers (computed in float64 internally)
        assert ssim_volume(torch.tensor(gt, dtype=torch.float32), torch.tensor(pred, dtype=torch.float32)) == (
            pytest.approx(expected, abs=1e-4)
        )


def test_per_slice_convention_equals_skimage_with_slice_max():
    for gt, pred in _volumes(2):
        psnr = [peak_signal_noise_ratio(g, p, data_range=g.max()) for g, p in zip(gt, pred)]
        ssim = [structural_similarity(g, p, data_range=g.max()) for g, p in zip(gt, pred)]
        np.testing.assert_allclose(psnr_per_slice(gt, pred), psnr, atol=1e-4)
        np.testing.assert_allclose(ssim_per_slice(gt, pred), ssim, atol=1e-4)
    # the two conventions differ when slice maxima differ
    gt = np.stack([np.full((16, 16), 1.0), np.full((16, 16), 4.0)]) + np.eye(16)
    pred = gt + 0.1
    assert psnr_per_slice(gt, pred).mean() != pytest.approx(psnr_volume(gt, pred), abs=1e-3)


def test_cc359_convention_equals_skimage_on_slices_normalised_by_their_max():
    for gt, pred in _volumes(3):
        psnr, ssim = [], []
        for g, p in zip(gt, pred):
            g, p = g / g.max(), p / g.max()  # DIRECT divides both by the target slice's max
            span = max(g.max(), p.max()) - min(g.min(), p.min())
            psnr.append(peak_signal_noise_ratio(g, p, data_range=span))
            ssim.append(structural_similarity(g, p, data_range=span))
        scores = cc359_metrics(gt, pred)
        assert scores["psnr"] == pytest.approx(np.mean(psnr), abs=1e-4)
        assert scores["ssim"] == pytest.approx(np.mean(ssim), abs=1e-4)
    # per-slice normalisation: rescaling one slice of both images changes nothing, unlike fastMRI's volume max
    gt, pred = _volumes(3)[0]
    scaled_gt, scaled_pred = gt.copy(), pred.copy()
    scaled_gt[0] *= 10.0
    scaled_pred[0] *= 10.0
    assert cc359_metrics(scaled_gt, scaled_pred) == pytest.approx(cc359_metrics(gt, pred))
    assert psnr_volume(scaled_gt, scaled_pred) != pytest.approx(psnr_volume(gt, pred), abs=1e-3)
    with pytest.raises(AutoMRIError, match="all zero"):
        cc359_metrics(np.zeros((1, 8, 8)), np.ones((1, 8, 8)))


def test_nmse_by_hand():
    gt = np.array([[3.0, 4.0], [0.0, 0.0]])
    pred = np.array([[3.0, 3.0], [1.0, 0.0]])
    assert nmse(gt, pred) == pytest.approx(2.0 / 25.0)
    assert nmse(torch.tensor(gt), torch.tensor(pred)) == pytest.approx(0.08)


def test_complex_inputs_use_magnitude():
    gt, pred = _volumes(3)[0]
    phase = np.exp(1j * np.random.default_rng(0).uniform(0, 6, gt.shape))
    assert psnr_volume(gt * phase, pred * phase) == pytest.approx(psnr_volume(gt, pred))


def test_ssim_torch_equals_skimage_and_has_gradients():
    rng = np.random.default_rng(4)
    gt = rng.random((3, 28, 30)) * np.array([1.0, 3.0, 0.5])[:, None, None]
    pred = gt + 0.05 * rng.standard_normal(gt.shape)
    ranges = gt.max(axis=(1, 2))
    x = torch.tensor(pred, dtype=torch.float32, requires_grad=True)
    values = ssim_torch(x, torch.tensor(gt, dtype=torch.float32), torch.tensor(ranges), reduction="none")
    expected = [structural_similarity(g, p, data_range=r) for g, p, r in zip(gt, pred, ranges)]
    np.testing.assert_allclose(values.detach().numpy(), expected, atol=1e-4)
    (1 - values.mean()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # a float data range and the mean reduction
    single = ssim_torch(x[:1], torch.tensor(gt[:1], dtype=torch.float32), float(ranges[0]))
    assert single.item() == pytest.approx(expected[0], abs=1e-4)


def test_evaluate_volumes_groups_and_orders_slices():
    (gt_a, pred_a), (gt_b, pred_b) = _volumes(5)[0], _volumes(6)[0]
    records = [("b", s, gt_b[s], pred_b[s]) for s in range(3)]
    records += [("a", s, torch.tensor(gt_a[s]), torch.tensor(pred_a[s])) for s in (2, 0, 1)]  # shuffled order
    result = evaluate_volumes(records)
    assert set(result.volumes) == {"a", "b"}
    assert result.volumes["a"]["psnr"] == pytest.approx(psnr_volume(gt_a, pred_a))
    assert result.volumes["a"]["ssim"] == pytest.approx(ssim_volume(gt_a, pred_a))
    assert result.volumes["b"]["nmse"] == pytest.approx(nmse(gt_b, pred_b))
    a_rows = [row for row in result.slices if row["volume"] == "a"]
    assert [row["slice"] for row in a_rows] == [0, 1, 2]
    np.testing.assert_allclose([row["ssim"] for row in a_rows], ssim_per_slice(gt_a, pred_a))
    psnrs = [result.volumes[v]["psnr"] for v in ("a", "b")]
    assert result.volume_summary["psnr"].mean == pytest.approx(np.mean(psnrs))
    assert result.volume_summary["psnr"].std == pytest.approx(np.std(psnrs, ddof=1))
    assert result.slice_summary["ssim"].n == 6
    assert result.to_dict()["volume_summary"]["nmse"]["n"] == 2


def test_evaluate_volumes_rejects_bad_records():
    image = np.ones((8, 8))
    with pytest.raises(AutoMRIError, match="slice 0 given twice"):
        evaluate_volumes([("v", 0, image, image), ("v", 0, image, image)])
    with pytest.raises(AutoMRIError, match="differ"):
        evaluate_volumes([("v", 0, image, np.ones((8, 9)))])
    with pytest.raises(AutoMRIError, match="empty"):
        evaluate_volumes([])
