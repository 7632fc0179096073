"""Losses on complex images."""

from __future__ import annotations

import pytest
import torch

from automri.errors import AutoMRIError
from automri.train.losses import LOSSES, build_loss


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    pred = torch.randn(2, 16, 16, dtype=torch.complex64, generator=generator)
    target = torch.randn(2, 16, 16, dtype=torch.complex64, generator=generator)
    return pred, target


def test_losses_match_their_definitions():
    pred, target = _pair()
    diff = pred - target
    assert torch.allclose(build_loss("mse")(pred, target), (diff.abs() ** 2).mean() / 2)
    assert torch.allclose(build_loss("l1")(pred, target), (diff.real.abs().mean() + diff.imag.abs().mean()) / 2)
    assert torch.allclose(build_loss("mse_mag")(pred, target), ((pred.abs() - target.abs()) ** 2).mean())
    assert torch.allclose(build_loss("l1_mag")(pred, target), (pred.abs() - target.abs()).abs().mean())
    ssim = build_loss("ssim")(pred, target)
    assert 0.0 < float(ssim) < 2.0
    assert torch.allclose(build_loss("mse+ssim")(pred, target), build_loss("mse")(pred, target) + ssim)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_is_zero_at_the_target_and_differentiable(name):
    pred, target = _pair(1)
    assert float(build_loss(name)(target.clone(), target)) == pytest.approx(0.0, abs=1e-5)
    pred.requires_grad_(True)
    value = build_loss(name)(pred, target)
    value.backward()
    assert value.dim() == 0 and pred.grad is not None and torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0


def test_magnitude_losses_ignore_phase():
    _, target = _pair(2)
    rotated = target * torch.exp(torch.tensor(0.7j))
    for name in ("mse_mag", "l1_mag", "ssim"):
        assert float(build_loss(name)(rotated, target)) == pytest.approx(0.0, abs=1e-5)
    assert float(build_loss("mse")(rotated, target)) > 0.1


def test_unknown_loss_lists_the_valid_names():
    with pytest.raises(AutoMRIError, match=r"--loss 'huber': unknown loss \(expected one of mse, l1, mse_mag"):
        build_loss("huber")


def test_mse_mag_z_is_the_magnitude_mse_of_z_scored_images():
    from automri.train.losses import build_loss

    torch.manual_seed(0)
    target = torch.randn(3, 8, 8, dtype=torch.complex64)
    pred = target + 0.1 * torch.randn(3, 8, 8, dtype=torch.complex64)
    z = build_loss("mse_mag_z")
    per_image = ((pred.abs() - target.abs()) ** 2).mean(dim=(1, 2)) / target.abs().var(dim=(1, 2))
    torch.testing.assert_close(z(pred, target), per_image.mean())
    torch.testing.assert_close(z(7.0 * pred, 7.0 * target), z(pred, target))  # the normalisation's scale is gone
    assert float(build_loss("mse_mag")(7.0 * pred, 7.0 * target)) == pytest.approx(49 * float(build_loss("mse_mag")(pred, target)), rel=1e-4)
