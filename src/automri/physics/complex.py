"""Conversions between complex images and the real 2-channel layout that networks see."""

from __future__ import annotations

import torch


def complex_to_channels(image: torch.Tensor) -> torch.Tensor:
    """Complex ``[B, H, W]`` -> real ``[B, 2, H, W]`` (channel 0 real part, channel 1 imaginary)."""
    return torch.stack((image.real, image.imag), dim=1)


def channels_to_complex(channels: torch.Tensor) -> torch.Tensor:
    """Real ``[B, 2, H, W]`` -> complex ``[B, H, W]``."""
    if channels.shape[1] != 2:
        raise ValueError(f"expected 2 channels (real, imag), got shape {tuple(channels.shape)}")
    return torch.complex(channels[:, 0].float(), channels[:, 1].float())
