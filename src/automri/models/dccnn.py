"""DC-CNN (Schlemper et al. 2018, ``js3611/Deep-MRI-Reconstruction``, Theano ``build_d5_c5``).

``n_cascades`` cascades; each is a residual CNN of ``n_convs`` 3x3 convolutions
(``n_convs - 1`` with ``nf`` filters and ReLU, then a linear one back to 2 channels) added to the
cascade input, followed by data consistency: hard replacement (``dc="hard"``, the paper's noiseless
case) or the noise-weighted replacement (``dc="noise"``, ``physics.dc.NoiseWeightedDC``). Weights
are He-normal with zero biases as in the Theano code. Each cascade has its own weights.
"""

from __future__ import annotations

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.models.common import apply_real_net, check_positive, conv3x3, maybe_checkpoint, zero_filled
from automri.physics.dc import HardDC, NoiseWeightedDC


def residual_cnn(n_convs: int, nf: int) -> nn.Sequential:
    """``n_convs - 1`` x (Conv3x3 -> ReLU) with ``nf`` filters, then a linear Conv3x3 to 2 channels.

    Real ``[B, 2, H, W]`` in and out; He-normal weights, zero biases.
    """
    layers: list[nn.Module] = []
    in_chans = 2
    for _ in range(n_convs - 1):
        layers += [conv3x3(in_chans, nf), nn.ReLU(inplace=True)]
        in_chans = nf
    layers.append(conv3x3(in_chans, 2))
    for module in layers:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return nn.Sequential(*layers)


class DCCNN(nn.Module):
    """Deep cascade of CNNs with data consistency.

    Args:
        nf: filters of the hidden convolutions (the width knob; 64 in the paper).
        n_cascades: number of CNN + DC cascades (5 in the paper).
        n_convs: convolutions per cascade (5 in the paper), at least 2.
        dc: ``"hard"`` (noiseless replacement) or ``"noise"`` (noise-weighted replacement).
        noise_level: initial noise weight ``v`` of ``dc="noise"``.
        learnable_noise: train ``v`` (``dc="noise"``).
        checkpointing: recompute each cascade in the backward pass to save memory.

    ``forward(kspace [B, H, W] | [B, C, H, W], mask [B, H, W], sens=None) -> complex [B, H, W]``.
    """

    def __init__(
        self,
        nf: int = 64,
        n_cascades: int = 5,
        n_convs: int = 5,
        dc: str = "hard",
        noise_level: float = 1.0,
        learnable_noise: bool = True,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        check_positive(nf=nf, n_cascades=n_cascades, n_convs=n_convs)
        if n_convs < 2:
            raise AutoMRIError(f"n_convs: expected at least 2 convolutions per cascade, got {n_convs}")
        if dc not in ("hard", "noise"):
            raise AutoMRIError(f"dc: expected 'hard' or 'noise', got {dc!r}")
        self.cascades = nn.ModuleList(residual_cnn(n_convs, nf) for _ in range(n_cascades))
        self.dc_layers = nn.ModuleList(
            HardDC() if dc == "hard" else NoiseWeightedDC(noise_level, learnable_noise)
            for _ in range(n_cascades)
        )
        self.checkpointing = checkpointing

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = zero_filled(kspace, mask, sens)
        for cnn, dc in zip(self.cascades, self.dc_layers):
            def cascade(image: torch.Tensor, cnn: nn.Module = cnn, dc: nn.Module = dc) -> torch.Tensor:
                return dc(image + apply_real_net(cnn, image), kspace, mask, sens)

            x = maybe_checkpoint(self.checkpointing, cascade, x)
        return x
