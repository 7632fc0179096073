"""Tiny synthetic undersampled batches for the model tests (32x32, seeded)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch.nn import functional as F

from automri.physics.fft import fft2c


@dataclass
class PhantomBatch:
    """``kspace`` masked centred k-space ``[B, H, W]`` or ``[B, C, H, W]``; ``mask`` ``[B, H, W]``;
    ``target`` complex ``[B, H, W]``; ``sens`` ``[B, C, H, W]`` or None."""

    kspace: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor
    sens: torch.Tensor | None


def _smooth_noise(generator: torch.Generator, batch: int, size: int, sigma: float) -> torch.Tensor:
    """Gaussian-filtered white noise ``[B, H, W]``, scaled to unit peak."""
    noise = torch.randn(batch, 1, size, size, generator=generator)
    radius = int(3 * sigma)
    grid = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(grid**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    smooth = F.conv2d(F.pad(noise, (radius,) * 4, mode="circular"), kernel.view(1, 1, 1, -1))
    smooth = F.conv2d(smooth, kernel.view(1, 1, -1, 1))[:, 0]
    return smooth / smooth.abs().amax(dim=(-2, -1), keepdim=True)


def _disks(generator: torch.Generator, batch: int, size: int, count: int = 4) -> torch.Tensor:
    """Sum of ``count`` random disks of random intensity ``[B, H, W]`` (piecewise constant)."""
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    image = torch.zeros(batch, size, size)
    for _ in range(count):
        centre = torch.rand(batch, 2, 1, 1, generator=generator) * 1.0 - 0.5
        radius = torch.rand(batch, 1, 1, generator=generator) * 0.3 + 0.15
        value = torch.rand(batch, 1, 1, generator=generator) * 0.7 + 0.3
        inside = (yy - centre[:, 0]) ** 2 + (xx - centre[:, 1]) ** 2 < radius**2
        image = image + value * inside
    return image


def random_column_mask(generator: torch.Generator, batch: int, size: int, rate: float = 0.4) -> torch.Tensor:
    """0/1 float ``[B, H, W]`` sampling random columns plus the 4 central ones."""
    columns = (torch.rand(batch, size, generator=generator) < rate).float()
    columns[:, size // 2 - 2 : size // 2 + 2] = 1.0
    return columns[:, None, :].expand(batch, size, size).contiguous()


def make_phantom_batch(
    batch: int = 2, size: int = 32, seed: int = 0, coils: int | None = None, rate: float = 0.4
) -> PhantomBatch:
    """Smooth random complex images (disks + smooth texture, smooth phase), masked k-space."""
    generator = torch.Generator().manual_seed(seed)
    magnitude = _disks(generator, batch, size) + 0.2 * _smooth_noise(generator, batch, size, sigma=3.0)
    phase = math.pi / 4 * _smooth_noise(generator, batch, size, sigma=6.0)
    target = torch.polar(magnitude.abs(), phase).to(torch.complex64)
    mask = random_column_mask(generator, batch, size, rate)
    sens = None
    if coils is None:
        kspace = mask * fft2c(target)
    else:
        raw = torch.complex(
            _smooth_noise(generator, batch * coils, size, 8.0), _smooth_noise(generator, batch * coils, size, 8.0)
        ).view(batch, coils, size, size) + 1.0
        sens = (raw / torch.sqrt((raw.abs() ** 2).sum(dim=1, keepdim=True))).to(torch.complex64)
        kspace = mask[:, None] * fft2c(sens * target[:, None])
    return PhantomBatch(kspace=kspace, mask=mask, target=target, sens=sens)


@pytest.fixture
def phantom() -> PhantomBatch:
    """Single-coil 2 x 32 x 32 batch."""
    return make_phantom_batch()


@pytest.fixture
def phantom_multicoil() -> PhantomBatch:
    """4-coil 2 x 32 x 32 batch with normalised smooth sensitivity maps."""
    return make_phantom_batch(coils=4, seed=1)
