"""k-space simulation pieces: smooth phase, coil maps, noise, sensitivity estimation, resizing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from automri.data.coils import estimate_sens_maps, rss
from automri.data.phantom import PhantomSource
from automri.data.resize import fourier_resize, resize_magnitude, resize_maps
from automri.data.simulate import add_noise, coil_maps, magnitude_to_complex, simulate_kspace, smooth_phase
from automri.physics.fft import fft2c
from automri.physics.operators import sense_combine


def rng(seed=0):
    return np.random.default_rng(seed)


def test_smooth_phase_is_seeded_bounded_smooth_and_size_independent():
    phase = smooth_phase((64, 48), rng(1), max_phase=2.0)
    assert phase.shape == (64, 48) and phase.dtype == torch.float32
    assert phase.abs().max().item() == pytest.approx(2.0, rel=1e-5)
    assert torch.equal(phase, smooth_phase((64, 48), rng(1), max_phase=2.0))
    assert not torch.equal(phase, smooth_phase((64, 48), rng(2), max_phase=2.0))
    assert phase.diff(dim=0).abs().max() < 0.3 and phase.diff(dim=1).abs().max() < 0.3  # smooth
    coarse = smooth_phase((16, 12), rng(1), max_phase=2.0)
    fine = torch.nn.functional.avg_pool2d(phase[None, None], 4)[0, 0]
    assert (coarse - fine).abs().max() < 0.3  # the same field at any resolution


def test_coil_maps_are_normalised_seeded_and_distinct():
    maps = coil_maps((32, 32), 6, rng(3))
    assert maps.shape == (6, 32, 32) and maps.dtype == torch.complex64
    torch.testing.assert_close(rss(maps), torch.ones(32, 32), atol=1e-5, rtol=0)
    assert torch.equal(maps, coil_maps((32, 32), 6, rng(3)))
    assert not torch.allclose(maps, coil_maps((32, 32), 6, rng(4)))
    # each coil is brightest near its own side of the field of view
    peaks = {int(m.abs().argmax()) for m in maps}
    assert len(peaks) == 6
    image = magnitude_to_complex(torch.rand(32, 32), rng(0))
    torch.testing.assert_close(sense_combine(maps * image, maps), image, atol=1e-5, rtol=1e-4)


def test_noise_has_the_requested_relative_level():
    kspace = fft2c(magnitude_to_complex(PhantomSource().load_slice("phantom-00", 10).image, rng(0)))
    noisy = add_noise(kspace, 0.1, rng(5))
    relative = ((noisy - kspace).abs().pow(2).mean().sqrt() / kspace.abs().pow(2).mean().sqrt()).item()
    assert relative == pytest.approx(0.1, rel=0.05)
    assert torch.equal(add_noise(kspace, 0.0, rng(5)), kspace)
    assert torch.equal(noisy, add_noise(kspace, 0.1, rng(5)))
    with pytest.raises(ValueError, match="Generator"):
        simulate_kspace(kspace, noise=0.1)


def test_magnitude_to_complex_keeps_the_magnitude():
    magnitude = torch.rand(20, 20)
    image = magnitude_to_complex(magnitude, rng(0), max_phase=math.pi)
    torch.testing.assert_close(image.abs(), magnitude)
    assert image.imag.abs().max() > 0
    assert torch.equal(magnitude_to_complex(magnitude, rng(0), max_phase=0).imag, torch.zeros(20, 20))


def test_estimated_maps_recover_the_image_from_coil_images():
    image = magnitude_to_complex(PhantomSource(shape=(48, 48)).load_slice("phantom-02", 12).image, rng(1))
    truth = coil_maps((48, 48), 4, rng(2))
    estimated = estimate_sens_maps(truth * image, acs_fraction=0.15)
    inside = image.abs() > 0.2 * image.abs().max()
    torch.testing.assert_close(rss(estimated)[inside], torch.ones(int(inside.sum())), atol=1e-4, rtol=0)
    combined = sense_combine(truth * image, estimated)
    assert ((combined.abs() - image.abs())[inside].abs().mean() / image.abs()[inside].mean()) < 0.02


def test_resizing():
    constant = torch.full((40, 30), 3.0)
    torch.testing.assert_close(resize_magnitude(constant, 10), torch.full((10, 10), 3.0))
    assert resize_magnitude(constant, 50).shape == (50, 50)
    # a band-limited complex image survives Fourier down- and up-sampling exactly
    small = torch.randn(8, 8, dtype=torch.complex64)
    big = fourier_resize(small, 32)
    torch.testing.assert_close(fourier_resize(big, 8), small, atol=1e-5, rtol=1e-4)
    assert fourier_resize(torch.ones(3, 24, 20, dtype=torch.complex64), 16).shape == (3, 16, 16)
    for side, size in ((233, 64), (232, 63), (20, 31)):  # DC stays at the centre for odd and even sizes
        resized = fourier_resize(torch.ones(side, side, dtype=torch.complex64), size)
        assert divmod(int(fft2c(resized).abs().argmax()), size) == (size // 2, size // 2)
    maps = coil_maps((24, 20), 2, rng(0))
    assert resize_maps(maps, 10).shape == (2, 10, 10) and resize_maps(maps, 10).dtype == torch.complex64
