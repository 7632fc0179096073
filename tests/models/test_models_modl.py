"""MoDL: proximal data consistency, shared weights, parameter counts, multi-coil, checkpointing."""

from __future__ import annotations

import pytest
import torch

import automri.models.common as common
from automri.models import DCCNN, MoDL, count_params
from automri.physics.complex import channels_to_complex
from automri.physics.operators import make_operator


def _last_denoiser_output(model: MoDL) -> list[torch.Tensor]:
    """Record every output of the shared denoiser (as complex images)."""
    outputs: list[torch.Tensor] = []
    model.denoiser.register_forward_hook(lambda _m, _i, out: outputs.append(channels_to_complex(out).detach()))
    return outputs


def _normal_equation_residual(model, batch) -> float:
    outputs = _last_denoiser_output(model)
    with torch.no_grad():
        x = model(batch.kspace, batch.mask, batch.sens)
    operator = make_operator(batch.mask, batch.sens)
    lam = model.dc.lam.detach()
    lhs = operator.normal(x) + lam * x
    rhs = operator.adjoint(batch.kspace) + lam * outputs[-1]
    assert len(outputs) == model.iterations
    return ((lhs - rhs).abs().max() / rhs.abs().max()).item()


def test_output_solves_the_proximal_normal_equation_single_coil(phantom):
    torch.manual_seed(0)
    model = MoDL(nf=8, n_layers=3, iterations=3, batch_norm=False)
    assert _normal_equation_residual(model, phantom) < 1e-5


def test_output_solves_the_proximal_normal_equation_multi_coil(phantom_multicoil):
    torch.manual_seed(0)
    model = MoDL(nf=8, n_layers=3, iterations=2, batch_norm=False, cg_iter=60, cg_tol=1e-14)
    assert _normal_equation_residual(model, phantom_multicoil) < 1e-4


def test_multi_coil_modl_trains_with_sens(phantom_multicoil):
    batch = phantom_multicoil
    torch.manual_seed(0)
    model = MoDL(nf=8, n_layers=3, iterations=2)
    loss = (model(batch.kspace, batch.mask, batch.sens) - batch.target).abs().pow(2).mean()
    loss.backward()
    assert model.dc.lam.grad is not None and torch.isfinite(model.dc.lam.grad)
    assert all(p.grad is not None for p in model.denoiser.parameters())


def test_weights_and_lambda_are_shared_across_iterations():
    assert count_params(MoDL(nf=8, n_layers=3, iterations=1)) == count_params(MoDL(nf=8, n_layers=3, iterations=7))
    assert [name for name, _ in MoDL(nf=8).named_parameters() if "lam" in name] == ["dc.lam"]


def test_denoiser_parameters_match_the_hand_count_without_batch_norm():
    model = MoDL(nf=64, n_layers=5, batch_norm=False)
    expected = 2 * 64 * 9 + 64 + 3 * (64 * 64 * 9 + 64) + 64 * 2 * 9 + 2
    assert count_params(model.denoiser) == expected
    assert count_params(model) == expected + 1  # the learnable lambda


def test_denoiser_parameters_match_the_hand_count_with_batch_norm():
    model = MoDL(nf=64, n_layers=5, batch_norm=True)
    convs = 2 * 64 * 9 + 3 * 64 * 64 * 9 + 64 * 2 * 9  # no bias before BN
    batch_norm_affine = 2 * (4 * 64 + 2)
    assert count_params(model.denoiser) == convs + batch_norm_affine


def test_fedautomri_authors_modl_baseline_has_260866_parameters():
    # methods.md 1.5: 9 convs at 64 channels (2->64, 7 x 64->64, 64->2) with bias.
    assert count_params(MoDL(nf=64, n_layers=9, batch_norm=False).denoiser) == 260_866


@pytest.mark.parametrize(
    "factory",
    [lambda: MoDL(nf=8, n_layers=3, iterations=3, batch_norm=False), lambda: DCCNN(nf=8, n_cascades=3, n_convs=3)],
    ids=["modl", "dccnn"],
)
def test_checkpointing_gives_the_same_gradients(factory, phantom, monkeypatch):
    calls = []
    original = common.checkpoint
    monkeypatch.setattr(common, "checkpoint", lambda *a, **k: calls.append(1) or original(*a, **k))

    def gradients(checkpointing: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = factory()
        model.checkpointing = checkpointing
        (model(phantom.kspace, phantom.mask) - phantom.target).abs().pow(2).mean().backward()
        return [p.grad for p in model.parameters()]

    plain = gradients(False)
    assert not calls
    checkpointed = gradients(True)
    assert len(calls) == 3
    for a, b in zip(plain, checkpointed):
        torch.testing.assert_close(a, b)
