"""MiLeNAS and DARTS (1st/2nd order) search steps on the cell space."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from test_nas_cell_fixtures import tiny_batch
from torch import nn
from torch.func import functional_call

from automri.errors import AutoMRIError
from automri.nas.cell.space import CellSearchNet, MixedOp
from automri.nas.strategies import DARTSFirstOrder, DARTSSecondOrder, MiLeNAS, build_strategy
from automri.physics.fft import ifft2c
from automri.train.losses import mse_complex, mse_magnitude

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny_search_net(seed: int = 0) -> CellSearchNet:
    torch.manual_seed(seed)
    return CellSearchNet(hidden=4, cells=1, iterations=1)


def alpha_grad(net, batch, loss):
    return torch.autograd.grad(loss(net(batch.kspace, batch.mask, batch.sens), batch.target), net.alphas)[0]


def test_milenas_alpha_gradient_is_train_plus_beta_val():
    net = tiny_search_net()
    train, val = tiny_batch(seed=0), tiny_batch(seed=1)
    strategy = MiLeNAS(net, mse_magnitude, arch_loss=mse_complex, beta=0.7)
    (grad,), metrics = strategy.arch_gradients(train, val)
    g_train, g_val = alpha_grad(net, train, mse_complex), alpha_grad(net, val, mse_complex)
    assert g_train.abs().max() > 0 and g_val.abs().max() > 0
    torch.testing.assert_close(grad, g_train + 0.7 * g_val)
    assert {"arch_train_loss", "val_loss"} <= set(metrics)


def test_darts_first_order_alpha_gradient_is_the_val_gradient():
    net = tiny_search_net()
    train, val = tiny_batch(seed=0), tiny_batch(seed=1)
    (grad,), _ = DARTSFirstOrder(net, mse_complex).arch_gradients(train, val)
    torch.testing.assert_close(grad, alpha_grad(net, val, mse_complex))


def test_step_updates_alpha_first_with_adam_then_clips_only_the_weights():
    net = tiny_search_net()
    train, val = tiny_batch(seed=0), tiny_batch(seed=1)
    lr, wd, clip = 3e-3, 1e-3, 1e-4
    strategy = MiLeNAS(net, mse_magnitude, arch_loss=mse_complex, beta=1.0, arch_lr=lr, arch_weight_decay=wd, grad_clip=clip)
    alpha0 = net.alphas.detach().clone()
    g = alpha_grad(net, train, mse_complex) + alpha_grad(net, val, mse_complex) + wd * alpha0  # at the initial w
    seen = {}
    for name, optimizer, params in (
        ("arch", strategy.arch_optimizer, strategy.alphas),
        ("weight", strategy.weight_optimizer, strategy.weights),
    ):
        original = optimizer.step

        def recording_step(*args, _name=name, _params=params, _original=original, **kwargs):
            seen[_name] = float(torch.sqrt(sum((p.grad**2).sum() for p in _params)))
            return _original(*args, **kwargs)

        optimizer.step = recording_step
    metrics = strategy.step(train, val)
    # Adam's first step is lr * g / (|g| + eps): alpha moved with the gradient at the ORIGINAL w
    torch.testing.assert_close(net.alphas.detach(), alpha0 - lr * g / (g.abs() + 1e-8))
    assert seen["weight"] <= clip * (1 + 1e-4) < metrics["grad_norm"]  # weights clipped
    assert seen["arch"] > clip  # alphas not clipped
    assert metrics["loss"] > 0 and metrics["lambda"] != 0.05


class TinyMixedNet(nn.Module):
    """A float64 toy search net: ``x_u + MixedOp(x_u)`` on the (real, imag) channels."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(11)
        self.mixed = MixedOp(2, activation="leaky_relu")
        self.alphas = nn.Parameter(0.5 * torch.randn(1, 8))
        self.double()

    def arch_parameters(self):
        return [self.alphas]

    def weight_parameters(self):
        return list(self.mixed.parameters())

    def forward(self, kspace, mask, sens=None):
        x = ifft2c(kspace)
        channels = torch.stack((x.real, x.imag), dim=1)
        out = channels + self.mixed(channels, torch.softmax(self.alphas[0], dim=-1))
        return torch.complex(out[:, 0], out[:, 1])


def unrolled_objective(net, alpha, train, val, xi):
    """L_val(w - xi grad_w L_tr(w, alpha), alpha), computed independently of the strategy."""
    params = dict(net.mixed.named_parameters())
    state = {"alphas": alpha}
    out = functional_call(net, {**state}, (train.kspace, train.mask))
    grads = torch.autograd.grad(mse_complex(out, train.target), list(params.values()))
    unrolled = {f"mixed.{name}": p - xi * g for (name, p), g in zip(params.items(), grads)}
    out_val = functional_call(net, {**unrolled, **state}, (val.kspace, val.mask))
    return float(mse_complex(out_val, val.target).detach())


def test_darts_second_order_matches_finite_differences_of_the_unrolled_objective():
    net = TinyMixedNet()
    train = tiny_batch(seed=2, size=8, dtype=torch.complex128)
    val = tiny_batch(seed=3, size=8, dtype=torch.complex128)
    xi = 0.5
    strategy = DARTSSecondOrder(net, mse_complex, xi=xi)
    (grad,), _ = strategy.arch_gradients(train, val)
    alpha = net.alphas.detach().clone()
    h = 1e-6
    numeric = torch.zeros_like(alpha)
    for j in range(alpha.shape[1]):
        step = torch.zeros_like(alpha)
        step[0, j] = h
        numeric[0, j] = (
            unrolled_objective(net, alpha + step, train, val, xi) - unrolled_objective(net, alpha - step, train, val, xi)
        ) / (2 * h)
    (first_order,), _ = DARTSFirstOrder(net, mse_complex).arch_gradients(train, val)
    scale = float(numeric.abs().max())
    assert float((numeric - first_order).abs().max()) > 0.05 * scale  # the second-order term matters here
    # the only approximation left is DARTS's finite-difference Hessian-vector product (~0.3% here)
    assert float((grad - numeric).abs().max()) < 0.01 * scale


def test_short_search_lowers_the_loss_and_moves_alpha_off_uniform():
    net = tiny_search_net(seed=3)
    train, val = tiny_batch(seed=4), tiny_batch(seed=5)
    strategy = MiLeNAS(net, mse_magnitude, arch_loss=mse_complex, w_lr=3e-3)
    alpha0 = net.alphas.detach().clone()
    entropy0 = strategy.end_epoch(0)["alpha_entropy"]
    assert entropy0 == pytest.approx(math.log(8), abs=1e-4)
    losses = [strategy.step(train, val)["loss"] for _ in range(12)]
    assert losses[-1] < 0.8 * losses[0]
    assert float((net.alphas.detach() - alpha0).abs().max()) > 0.02
    assert strategy.end_epoch(1)["alpha_entropy"] < entropy0


@pytest.mark.parametrize("name", ["darts1", "darts2"])
def test_darts_steps_run_on_the_cell_net(name):
    net = tiny_search_net()
    alpha0 = net.alphas.detach().clone()
    strategy = build_strategy(name, net, mse_magnitude, arch_loss=mse_complex)
    metrics = strategy.step(tiny_batch(seed=0), tiny_batch(seed=1))
    assert math.isfinite(metrics["loss"]) and math.isfinite(metrics["val_loss"])
    assert not torch.equal(net.alphas.detach(), alpha0)


def test_state_dict_resumes_exactly_and_arch_state_round_trips():
    batches = [(tiny_batch(seed=0), tiny_batch(seed=1)), (tiny_batch(seed=2), tiny_batch(seed=3))]
    net_a = tiny_search_net()
    net_b = copy.deepcopy(net_a)
    a = MiLeNAS(net_a, mse_magnitude)
    for train, val in batches:
        a.step(train, val)
    b = MiLeNAS(net_b, mse_magnitude)
    b.step(*batches[0])
    model_state, stepper_state = copy.deepcopy(net_b.state_dict()), copy.deepcopy(b.state_dict())
    net_c = tiny_search_net(seed=99)
    net_c.load_state_dict(model_state)
    c = MiLeNAS(net_c, mse_magnitude)
    c.load_state_dict(stepper_state)
    c.step(*batches[1])
    for pa, pc in zip(net_a.parameters(), net_c.parameters()):
        torch.testing.assert_close(pa, pc, rtol=0, atol=0)
    alphas = [torch.full((9, 8), 0.25)]
    c.load_arch_state(alphas)
    assert torch.equal(c.arch_state()[0], alphas[0])
    with pytest.raises(AutoMRIError, match="shape"):
        c.load_arch_state([torch.zeros(3, 8)])


def test_bad_strategy_arguments():
    with pytest.raises(AutoMRIError, match="--strategy"):
        build_strategy("enas", tiny_search_net(), mse_magnitude)
    with pytest.raises(AutoMRIError, match="--beta"):
        MiLeNAS(tiny_search_net(), mse_magnitude, beta=-1.0)
    with pytest.raises(AutoMRIError, match="arch_parameters"):
        MiLeNAS(nn.Linear(2, 2), mse_magnitude)
