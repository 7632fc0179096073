"""Tiny in-test data and model for the training-engine tests (16x16 images, CPU)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from automri.data.sample import Sample
from automri.physics.complex import channels_to_complex, complex_to_channels
from automri.physics.fft import fft2c, ifft2c


class TinySlices(Dataset):
    """``n`` smooth random complex images ``[size, size]`` undersampled by random column masks.

    Volumes of 4 slices each (``meta["volume"]``, ``meta["slice"]``); deterministic in ``seed``.
    """

    def __init__(self, n: int = 8, size: int = 16, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        coarse = torch.randn(n, 2, size // 4, size // 4, generator=generator)
        smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        images = torch.complex(smooth[:, 0], smooth[:, 1])
        columns = (torch.rand(n, 1, size, generator=generator) < 0.4).float()
        columns[..., size // 2 - 2 : size // 2 + 2] = 1.0
        masks = columns.expand(n, size, size).contiguous()
        kspace = fft2c(images) * masks
        scale = ifft2c(kspace).abs().amax(dim=(-2, -1))
        self.samples = [
            Sample(
                kspace=(kspace[i] / scale[i]).to(torch.complex64),
                mask=masks[i],
                target=(images[i] / scale[i]).to(torch.complex64),
                scale=float(scale[i]),
                meta={"dataset": "tiny", "volume": f"vol{i // 4}", "slice": i % 4},
            )
            for i in range(n)
        ]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]


class TinyNet(nn.Module):
    """Zero-filled image plus a 2-layer CNN correction, with dropout so that training uses the RNG."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2, width, 3, padding=1), nn.ReLU(), nn.Dropout(0.2), nn.Conv2d(width, 2, 3, padding=1)
        )

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None) -> torch.Tensor:
        image = ifft2c(kspace)
        return image + channels_to_complex(self.net(complex_to_channels(image)))


def tiny_model(seed: int = 0) -> TinyNet:
    """A :class:`TinyNet` initialised from ``seed``."""
    torch.manual_seed(seed)
    return TinyNet()
