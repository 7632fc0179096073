"""Tiny seeded undersampled batches for the cell-search tests (smooth random images, column masks),
plus a check that they are what the tests assume."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from automri.data.sample import Batch
from automri.physics.fft import fft2c


def tiny_batch(batch: int = 2, size: int = 16, seed: int = 0, dtype: torch.dtype = torch.complex64) -> Batch:
    """Smooth random complex images ``[B, H, W]`` (blurred noise), a random column mask with the
    2 central columns, and the masked centred k-space, as a :class:`Batch`."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(batch * 2, 1, size, size, generator=generator)
    kernel = torch.ones(1, 1, 5, 5) / 25.0
    smooth = F.conv2d(F.pad(noise, (2, 2, 2, 2), mode="circular"), kernel)[:, 0].view(batch, 2, size, size)
    target = torch.complex(smooth[:, 0] + 1.0, smooth[:, 1]).to(dtype)
    columns = (torch.rand(batch, size, generator=generator) < 0.4).float()
    columns[:, size // 2 - 1 : size // 2 + 1] = 1.0
    real_dtype = torch.float64 if dtype == torch.complex128 else torch.float32
    mask = columns[:, None, :].expand(batch, size, size).contiguous().to(real_dtype)
    return Batch(
        kspace=mask * fft2c(target),
        mask=mask,
        target=target,
        sens=None,
        scale=torch.ones(batch),
        meta=[{"slice": i} for i in range(batch)],
    )


def test_tiny_batch_is_undersampled_and_seeded():
    a, b = tiny_batch(seed=3), tiny_batch(seed=3)
    assert torch.equal(a.kspace, b.kspace)
    assert 0.1 < float(a.mask.mean()) < 0.9
    assert torch.all(a.kspace[a.mask == 0] == 0)
