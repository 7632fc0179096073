"""Data-consistency layers: hard, noise-weighted (DC-CNN), two-step (CDDN) and proximal (MoDL)."""

import pytest
import torch

from automri.errors import AutoMRIError
from automri.physics.dc import HardDC, NoiseWeightedDC, ProximalDC, TwoStepDC
from automri.physics.fft import fft2c, ifft2c
from automri.physics.operators import SenseOperator

B, C, H, W = 2, 3, 8, 10


def _randn_complex(shape, g):
    return torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                         torch.randn(shape, generator=g, dtype=torch.float64))


def _problem(seed=0):
    """Network output x, measured masked k-space k0 of a different image, column mask."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(B, 1, W, generator=g) < 0.4).double().expand(B, H, W).contiguous()
    mask[..., W // 2] = 1
    x = _randn_complex((B, H, W), g)
    k0 = mask * fft2c(_randn_complex((B, H, W), g))
    return x, k0, mask


def _normalised_sens(seed=1):
    g = torch.Generator().manual_seed(seed)
    sens = _randn_complex((B, C, H, W), g)
    return sens / (sens.abs() ** 2).sum(dim=1, keepdim=True).sqrt()


def test_hard_dc_keeps_measured_samples_and_unsampled_prediction():
    x, k0, mask = _problem()
    k_out = fft2c(HardDC()(x, k0, mask))
    torch.testing.assert_close(mask * k_out, k0)
    torch.testing.assert_close((1 - mask) * k_out, (1 - mask) * fft2c(x))


def test_hard_dc_multicoil_is_per_coil_replacement_then_coil_combine():
    x, _, mask = _problem()
    sens = _normalised_sens()
    g = torch.Generator().manual_seed(5)
    k0 = mask[:, None] * fft2c(_randn_complex((B, C, H, W), g))
    coil_mask = mask[:, None]
    expected = (sens.conj() * ifft2c((1 - coil_mask) * fft2c(sens * x[:, None]) + coil_mask * k0)).sum(1)
    torch.testing.assert_close(HardDC()(x, k0, mask, sens), expected)
    # A consistent image is a fixed point when sum_c |S_c|^2 = 1.
    k_true = SenseOperator(mask, sens).forward(x)
    torch.testing.assert_close(HardDC()(x, k_true, mask, sens), x)


def test_kspace_layout_must_match_sens():
    x, k0, mask = _problem()
    with pytest.raises(AutoMRIError, match="kspace"):
        HardDC()(x, k0, mask, _normalised_sens())


def test_noise_weighted_dc_formula_and_limits():
    x, k0, mask = _problem()
    hard = HardDC()(x, k0, mask)
    torch.testing.assert_close(NoiseWeightedDC(None)(x, k0, mask), hard)
    torch.testing.assert_close(NoiseWeightedDC(1e9, learnable=False)(x, k0, mask), hard)
    v = 0.5
    k = fft2c(x)
    expected = ifft2c((1 - mask) * k + mask * (k + v * k0) / (1 + v))
    torch.testing.assert_close(NoiseWeightedDC(v, learnable=False)(x, k0, mask), expected)
    sens = _normalised_sens()
    k0_coils = SenseOperator(mask, sens).forward(x)
    torch.testing.assert_close(NoiseWeightedDC(v)(x, k0_coils, mask, sens).detach(), x)


def test_noise_weighted_dc_learnable_weight_is_positive_and_trained():
    x, k0, mask = _problem()
    layer = NoiseWeightedDC(0.3)
    assert abs(layer.noise_level.item() - 0.3) < 1e-6
    assert [name for name, _ in layer.named_parameters()] == ["raw_noise"]
    layer(x.to(torch.complex64), k0.to(torch.complex64), mask.float()).abs().sum().backward()
    assert layer.raw_noise.grad is not None and layer.raw_noise.grad != 0
    with torch.no_grad():
        layer.raw_noise.fill_(-50.0)
    assert layer.noise_level > 0
    assert list(NoiseWeightedDC(0.3, learnable=False).parameters()) == []
    assert list(NoiseWeightedDC(None).parameters()) == []
    with pytest.raises(AutoMRIError, match="noise_level"):
        NoiseWeightedDC(0.0)


@pytest.mark.parametrize("real_mode", ["abs", "real"])
def test_two_step_dc_matches_hand_formula_and_is_consistent(real_mode):
    x, k0, mask = _problem()
    x1 = ifft2c((1 - mask) * fft2c(x) + mask * k0)
    x1r = x1.abs() if real_mode == "abs" else x1.real
    expected = ifft2c((1 - mask) * fft2c(x1r.to(torch.complex128)) + mask * k0)
    out = TwoStepDC(real_mode)(x, k0, mask)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(mask * fft2c(out), k0)
    assert not torch.allclose(out, HardDC()(x, k0, mask))
    with pytest.raises(AutoMRIError, match="real_mode"):
        TwoStepDC("imag")


def test_proximal_dc_closed_form_equals_cg_and_definition():
    z, k0, mask = _problem()
    closed = ProximalDC(0.05, closed_form=True)(z, k0, mask)
    cg = ProximalDC(0.05, closed_form=False, max_iter=10)(z, k0, mask)
    torch.testing.assert_close(closed, cg, atol=1e-4, rtol=1e-4)
    # Definition: (A^H A + lam I) x = A^H k + lam z.
    lam = 0.05
    lhs = ifft2c(mask * fft2c(closed)) + lam * closed
    torch.testing.assert_close(lhs, ifft2c(mask * k0) + lam * z)
    ones = torch.ones(B, 1, H, W, dtype=torch.complex128)
    sense = ProximalDC(0.05)(z, k0[:, None], mask, ones)
    torch.testing.assert_close(sense, closed, atol=1e-4, rtol=1e-4)


def test_proximal_dc_lam_limits():
    z, k0, mask = _problem()
    torch.testing.assert_close(ProximalDC(1e8)(z, k0, mask), z, atol=1e-6, rtol=1e-6)
    small = ProximalDC(1e-8)(z, k0, mask)
    torch.testing.assert_close(mask * fft2c(small), k0, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("closed_form", [True, False])
def test_proximal_dc_gradients_reach_lam_and_z(closed_form):
    z, k0, mask = _problem()
    z = z.requires_grad_(True)
    layer = ProximalDC(0.05, closed_form=closed_form, max_iter=20, tol=1e-20).double()
    assert isinstance(layer.lam, torch.nn.Parameter) and layer.lam.item() == pytest.approx(0.05)
    layer(z, k0, mask).abs().pow(2).sum().backward()
    assert layer.lam.grad is not None and layer.lam.grad != 0
    assert z.grad is not None and z.grad.abs().sum() > 0
    # Central finite difference on lam (in float64).
    eps, lam0 = 1e-6, layer.lam.item()
    losses = []
    with torch.no_grad():
        for value in (lam0 + eps, lam0 - eps):
            layer.lam.fill_(value)
            losses.append(layer(z, k0, mask).abs().pow(2).sum())
    numeric = (losses[0] - losses[1]) / (2 * eps)
    assert layer.lam.grad.item() == pytest.approx(numeric.item(), rel=1e-4)


def test_proximal_dc_options():
    z, k0, mask = _problem()
    assert list(ProximalDC(learnable=False).parameters()) == []
    with pytest.raises(AutoMRIError, match="closed_form"):
        ProximalDC(closed_form=True)(z, k0[:, None], mask, torch.ones(B, 1, H, W, dtype=torch.complex128))
    with pytest.raises(AutoMRIError, match="closed_form"):
        ProximalDC(closed_form="yes")
    with pytest.raises(AutoMRIError, match="lam"):
        ProximalDC(lam=-1.0)
