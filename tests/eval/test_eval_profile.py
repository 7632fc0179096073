"""Model profiling: parameter and MAC counts (FFTs and CG iterations included), latency, memory."""

import pytest
import torch
from torch import nn

from automri.eval.profile import count_flops, count_macs, example_inputs, measure_latency, peak_memory, profile_model
from automri.models.registry import count_params
from automri.physics.cg import conjugate_gradient
from automri.physics.complex import channels_to_complex, complex_to_channels
from automri.physics.fft import ifft2c
from automri.physics.operators import make_operator

FFT_MACS_16 = 5 * 256 * 8 // 2  # one complex 16x16 FFT: 5 N log2 N real FLOPs with N = 256, halved


class ConvDenoiser(nn.Module):
    """Zero-filled image -> Conv2d(2, 4, 3) -> Conv2d(4, 2, 3), the model signature of the contract."""

    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1, bias=bias), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1, bias=bias)
        )

    def forward(self, kspace, mask, sens=None):
        return channels_to_complex(self.net(complex_to_channels(ifft2c(kspace))))


class CGRecon(nn.Module):
    """``(A^H A + lam I)^-1 A^H k`` by ``iterations`` CG steps (each step: one normal op = 2 FFTs per coil)."""

    def __init__(self, iterations: int) -> None:
        super().__init__()
        self.iterations = iterations
        self.lam = nn.Parameter(torch.tensor(0.05))

    def forward(self, kspace, mask, sens=None):
        operator = make_operator(mask, sens)
        return conjugate_gradient(
            lambda x: operator.normal(x) + self.lam * x, operator.adjoint(kspace), max_iter=self.iterations, tol=-1.0
        )


class Wide(nn.Module):
    """A 2 -> 64 channel conv on a 256x256 image: its output alone takes 16 MiB."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 64, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize("bias", [True, False])
def test_conv_macs_by_hand_bias_not_counted(bias):
    conv = nn.Conv2d(2, 4, 3, padding=1, bias=bias)
    assert count_macs(conv, (torch.randn(1, 2, 8, 8),)) == 2 * 4 * 9 * 64
    assert count_macs(conv, (torch.randn(3, 2, 8, 8),)) == 3 * 2 * 4 * 9 * 64


def test_macs_include_ffts():
    kspace, mask, _ = example_inputs(16, batch=2)
    conv_macs = 2 * (2 * 4 * 9 * 256 + 4 * 2 * 9 * 256)
    assert count_macs(ConvDenoiser(), (kspace, mask)) == conv_macs + 2 * FFT_MACS_16


def test_real_ffts_cost_half_a_complex_fft():
    def round_trip(x):
        return torch.fft.irfft2(torch.fft.rfft2(x), s=x.shape[-2:])

    flops = count_flops(round_trip, (torch.randn(2, 16, 16),))
    assert flops == {"aten._fft_r2c": 2 * FFT_MACS_16, "aten._fft_c2r": 2 * FFT_MACS_16}  # 2 slices x half


@pytest.mark.parametrize("coils", [0, 3])
def test_macs_count_every_cg_iteration(coils):
    kspace, mask, sens = example_inputs(16, batch=1, coils=coils)
    per_fft = FFT_MACS_16 * max(coils, 1)
    for iterations in (2, 5):
        # A^H k once, then one normal operator (forward + adjoint) per iteration
        assert count_macs(CGRecon(iterations), (kspace, mask, sens)) == (1 + 2 * iterations) * per_fft


def test_example_inputs_are_seeded_and_masked():
    first, second = example_inputs(16, batch=2, seed=3), example_inputs(16, batch=2, seed=3)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    kspace, mask, sens = example_inputs(16, batch=2, coils=4)
    assert kspace.shape == (2, 4, 16, 16) and sens.shape == (2, 4, 16, 16) and mask.shape == (2, 16, 16)
    assert torch.all(kspace[mask.unsqueeze(1).expand_as(kspace) == 0] == 0)
    torch.testing.assert_close(sens.abs().pow(2).sum(dim=1), torch.ones(2, 16, 16))


def test_parameters_and_latency():
    model = ConvDenoiser()
    assert count_params(model, trainable_only=False) == (2 * 4 * 9 + 4) + (4 * 2 * 9 + 2)
    model.net[0].weight.requires_grad_(False)
    assert count_params(model, trainable_only=True) == 4 + 4 * 2 * 9 + 2
    kspace, mask, _ = example_inputs(16)
    assert measure_latency(model, (kspace, mask), repeats=3, warmup=1) > 0


def test_peak_memory_cpu_grows_with_activations():
    one = peak_memory(Wide(), (torch.randn(1, 2, 256, 256),))
    four = peak_memory(Wide(), (torch.randn(4, 2, 256, 256),))
    assert 16.0 <= one < 400.0
    assert four - one >= 0.9 * 3 * 16.0  # three more 16 MiB outputs


def test_profile_model_report():
    report = profile_model(CGRecon(3), size=16, batch=2, coils=2, repeats=2, warmup=1, memory=False)
    assert report["params"] == 1
    assert report["macs"] == (1 + 2 * 3) * FFT_MACS_16 * 2 * 2
    assert report["gmacs"] == pytest.approx(report["macs"] / 1e9)
    assert report["latency_ms"] > 0 and report["peak_mem_mb"] is None
    assert (report["size"], report["batch"], report["coils"], report["device"]) == (16, 2, 2, "cpu")
