"""Every registered model follows the calling convention, learns, and keeps the data where promised."""

from __future__ import annotations

import pytest
import torch

from automri.errors import AutoMRIError
from automri.models import build_model
from automri.models.common import zero_filled
from automri.physics.fft import fft2c

# Small configurations so that every test runs in well under a second on one core.
SMALL = {
    "zero_filled": {},
    "cs_tv": {"n_iter": 20},
    "unet": {"chans": 4, "num_pool_layers": 2},
    "dccnn": {"nf": 8, "n_cascades": 2, "n_convs": 3},
    "modl": {"nf": 8, "n_layers": 3, "iterations": 2},
    "rdn": {"nf": 8, "n_blocks": 2, "n_recursions": 2},
    "cddn_tdc": {"nf": 4, "n_cascades": 2},
}
TRAINABLE = ["unet", "dccnn", "modl", "rdn", "cddn_tdc"]


def _model(name: str, **overrides: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, **{**SMALL[name], **overrides})


@pytest.mark.parametrize("name", sorted(SMALL))
def test_output_is_a_complex_image_single_coil(name, phantom):
    out = _model(name)(phantom.kspace, phantom.mask)
    assert out.shape == phantom.target.shape
    assert out.dtype == torch.complex64
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_output_is_a_complex_image_multi_coil(name, phantom_multicoil):
    batch = phantom_multicoil
    out = _model(name)(batch.kspace, batch.mask, batch.sens)
    assert out.shape == batch.target.shape
    assert out.dtype == torch.complex64
    assert torch.isfinite(out).all()


def test_zero_filled_is_the_adjoint(phantom):
    out = build_model("zero_filled")(phantom.kspace, phantom.mask)
    dims = (-2, -1)
    expected = torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(phantom.kspace, dim=dims), norm="ortho"), dim=dims)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("name", TRAINABLE)
def test_a_few_adam_steps_lower_the_loss(name, phantom):
    model = _model(name)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        return (model(phantom.kspace, phantom.mask) - phantom.target).abs().pow(2).mean()

    initial = loss().item()
    for _ in range(8):
        optimiser.zero_grad()
        value = loss()
        value.backward()
        optimiser.step()
    assert loss().item() < 0.9 * initial


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("dccnn", {"dc": "hard"}),
        ("rdn", {}),
        ("cddn_tdc", {}),
        ("cddn_tdc", {"real_mode": "real"}),
        ("unet", {"dc": True}),
    ],
)
def test_sampled_kspace_is_kept_exactly(name, overrides, phantom):
    out = _model(name, **overrides)(phantom.kspace, phantom.mask)
    torch.testing.assert_close(phantom.mask * fft2c(out), phantom.kspace, atol=1e-5, rtol=0)


def test_noise_weighted_dccnn_moves_towards_but_not_onto_the_data(phantom):
    out = _model("dccnn", dc="noise", noise_level=1.0)(phantom.kspace, phantom.mask)
    residual = (phantom.mask * fft2c(out) - phantom.kspace).abs().max()
    assert 1e-4 < residual.item()
    assert list(_model("dccnn", dc="noise").dc_layers[0].parameters())


@pytest.mark.parametrize("name", TRAINABLE)
def test_same_seed_gives_the_same_model(name, phantom):
    first = _model(name).eval()(phantom.kspace, phantom.mask)
    second = _model(name).eval()(phantom.kspace, phantom.mask)
    torch.testing.assert_close(first, second)


def test_bad_inputs_raise_one_clear_error(phantom, phantom_multicoil):
    model = _model("dccnn")
    with pytest.raises(AutoMRIError, match="kspace: expected a complex tensor"):
        model(phantom.kspace.abs(), phantom.mask)
    with pytest.raises(AutoMRIError, match="multi-coil k-space needs sens"):
        model(phantom_multicoil.kspace, phantom_multicoil.mask)
    with pytest.raises(AutoMRIError, match="mask: expected a real"):
        model(phantom.kspace, phantom.mask[0])
    with pytest.raises(AutoMRIError, match="sens: expected coil maps"):
        zero_filled(phantom_multicoil.kspace, phantom_multicoil.mask, phantom_multicoil.sens[:, :2])
