"""Total-variation compressed sensing: beats zero-filling, correct adjoint, scale-equivariant."""

from __future__ import annotations

import pytest
import torch

from automri.errors import AutoMRIError
from automri.models import TotalVariationCS, ZeroFilled
from automri.models.cs import finite_differences, finite_differences_adjoint


def _psnr(image: torch.Tensor, target: torch.Tensor) -> float:
    mse = (image - target).abs().pow(2).mean()
    return (10 * torch.log10(target.abs().max() ** 2 / mse)).item()


@pytest.mark.parametrize("coils", ["single", "multi"])
def test_tv_beats_zero_filled(coils, phantom, phantom_multicoil):
    batch = phantom if coils == "single" else phantom_multicoil
    zf = ZeroFilled()(batch.kspace, batch.mask, batch.sens)
    cs = TotalVariationCS(n_iter=60)(batch.kspace, batch.mask, batch.sens)
    assert _psnr(cs, batch.target) > _psnr(zf, batch.target) + 3.0


def test_more_iterations_lower_the_objective_error(phantom):
    few = TotalVariationCS(n_iter=2)(phantom.kspace, phantom.mask)
    many = TotalVariationCS(n_iter=60)(phantom.kspace, phantom.mask)
    assert _psnr(many, phantom.target) > _psnr(few, phantom.target)


def test_finite_difference_adjoint():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 9, dtype=torch.complex64, generator=generator)
    y_w = torch.randn(2, 7, 9, dtype=torch.complex64, generator=generator)
    y_h = torch.randn(2, 7, 9, dtype=torch.complex64, generator=generator)
    d_w, d_h = finite_differences(x)
    lhs = (d_w.conj() * y_w).sum() + (d_h.conj() * y_h).sum()
    rhs = (x.conj() * finite_differences_adjoint(y_w, y_h)).sum()
    torch.testing.assert_close(lhs, rhs, atol=1e-4, rtol=1e-5)


def test_reconstruction_is_scale_equivariant(phantom):
    model = TotalVariationCS(n_iter=20)
    base = model(phantom.kspace, phantom.mask)
    scaled = model(1000.0 * phantom.kspace, phantom.mask)
    torch.testing.assert_close(scaled, 1000.0 * base, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kwargs", [{"lam": 0.0}, {"eps": -1.0}, {"n_iter": 0}])
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(AutoMRIError):
        TotalVariationCS(**kwargs)
