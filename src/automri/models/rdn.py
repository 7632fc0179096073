"""RDN: recursive dilated network (Sun, Fan, Ding, Huang, Paisley, AAAI 2018).

No official code exists; this follows the paper's description (blocks of dilated convolutions with
a modified shortcut, a data-fidelity unit after every block, blocks cascaded) and the layout of the
third-party ``yjump/NAS-for-CSMRI`` ``models/dcnet/rdnet.py`` (see ``research/methods.md`` 7.2).

Block: entry Conv3x3 (2 -> nf) + LeakyReLU gives ``h_0``; ``n_recursions`` sub-blocks, each a chain
of 3x3 convolutions with the given ``dilations`` (nf -> nf, LeakyReLU), update
``h_r = h_0 + F_r(h_{r-1})`` (the modified shortcut: every sub-block's output is added to the
entry features); exit Conv3x3 (nf -> 2, linear) added to the block input; then hard DC.
Deviation from the third-party code: no LeakyReLU after the exit convolution (it would shrink the
negative real/imaginary parts of the image) and the block output is a residual of its input, as in
DC-CNN's cascades.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from automri.models.common import apply_real_net, check_dilations, check_positive, conv3x3, zero_filled
from automri.physics.dc import HardDC


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(negative_slope=0.2, inplace=True)


class RecursiveDilatedBlock(nn.Module):
    """One RDN block: real ``[B, 2, H, W] -> [B, 2, H, W]`` (before DC), see the module docstring."""

    def __init__(self, nf: int, n_recursions: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.entry = nn.Sequential(conv3x3(2, nf), _lrelu())
        self.sub_blocks = nn.ModuleList(
            nn.Sequential(*[layer for d in dilations for layer in (conv3x3(nf, nf, dilation=d), _lrelu())])
            for _ in range(n_recursions)
        )
        self.exit = conv3x3(nf, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        entry = self.entry(x)
        features = entry
        for sub_block in self.sub_blocks:
            features = entry + sub_block(features)
        return x + self.exit(features)


class RDN(nn.Module):
    """Cascade of recursive dilated blocks, each followed by hard data consistency.

    Args:
        nf: feature channels (the width knob).
        n_blocks: cascaded blocks (each with its own weights and a DC).
        n_recursions: sub-blocks per block.
        dilations: dilation of each convolution of a sub-block.

    ``forward(kspace [B, H, W] | [B, C, H, W], mask [B, H, W], sens=None) -> complex [B, H, W]``.
    """

    def __init__(
        self, nf: int = 32, n_blocks: int = 3, n_recursions: int = 3, dilations: Sequence[int] = (1, 2, 4)
    ) -> None:
        super().__init__()
        check_positive(nf=nf, n_blocks=n_blocks, n_recursions=n_recursions)
        dilations = check_dilations(dilations)
        self.blocks = nn.ModuleList(RecursiveDilatedBlock(nf, n_recursions, dilations) for _ in range(n_blocks))
        self.dc = HardDC()

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = zero_filled(kspace, mask, sens)
        for block in self.blocks:
            x = self.dc(apply_real_net(block, x), kspace, mask, sens)
        return x
