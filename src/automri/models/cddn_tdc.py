"""CDDN-TDC: cascaded dilated dense network with two-step data consistency
(Zheng, Fang, Zhang, NeurIPS 2019 workshop; no official code, see ``research/methods.md`` 7.3).

Each cascade, on the real ``[B, 2, H, W]`` image:
abstraction Conv3x3 (2 -> nf) -> IN -> LeakyReLU(0.2);
dense dilated block: one bottleneck unit per dilation (Conv1x1 to half its input width -> IN ->
LeakyReLU -> Conv3x3 with that dilation to ``growth`` channels -> IN -> LeakyReLU), each unit fed the
concatenation of the abstraction features and all previous unit outputs, the block returning the
concatenation of all (``nf + len(dilations) * growth`` channels);
transition Conv1x1 to half that width -> IN -> LeakyReLU; restore Conv3x3 to 2 channels (linear),
added to the cascade input. Then the faithful two-step DC (``physics.dc.TwoStepDC``: hard DC, make
the image real, hard DC again) after every cascade. Convolutions followed by InstanceNorm have no
bias (IN would cancel it). Deviations from the third-party ``CDDNwTDC``: complex 2-channel input
instead of magnitude, DenseNet growth (each unit adds ``growth`` channels) instead of doubling, and
both DC steps kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from automri.models.common import apply_real_net, check_dilations, check_positive, conv3x3, zero_filled
from automri.physics.dc import TwoStepDC


def _norm_act(chans: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(chans), nn.LeakyReLU(negative_slope=0.2, inplace=True)]


class DilatedDenseBlock(nn.Module):
    """Dense block of dilated bottleneck units: ``[B, in, H, W] -> [B, in + len(dilations) * growth, H, W]``."""

    def __init__(self, in_chans: int, growth: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.units = nn.ModuleList()
        chans = in_chans
        for dilation in dilations:
            bottleneck = max(chans // 2, 1)
            self.units.append(
                nn.Sequential(
                    nn.Conv2d(chans, bottleneck, kernel_size=1, bias=False),
                    *_norm_act(bottleneck),
                    conv3x3(bottleneck, growth, dilation=dilation, bias=False),
                    *_norm_act(growth),
                )
            )
            chans += growth
        self.out_chans = chans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for unit in self.units:
            features.append(unit(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class DilatedDenseSubnet(nn.Module):
    """One CDDN cascade before DC: real ``[B, 2, H, W] -> [B, 2, H, W]``, residual on its input."""

    def __init__(self, nf: int, growth: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.abstraction = nn.Sequential(conv3x3(2, nf, bias=False), *_norm_act(nf))
        self.dense = DilatedDenseBlock(nf, growth, dilations)
        transition_chans = max(self.dense.out_chans // 2, 1)
        self.transition = nn.Sequential(
            nn.Conv2d(self.dense.out_chans, transition_chans, kernel_size=1, bias=False), *_norm_act(transition_chans)
        )
        self.restore = conv3x3(transition_chans, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.restore(self.transition(self.dense(self.abstraction(x))))


class CDDNTDC(nn.Module):
    """Cascaded dilated dense network with two-step data consistency.

    Args:
        nf: abstraction features (the width knob).
        growth: channels each dense unit adds (default ``nf``).
        n_cascades: cascaded sub-networks, each followed by TDC.
        dilations: one dense unit per dilation.
        real_mode: how TDC makes the image real, ``"abs"`` (magnitude) or ``"real"`` (real part).

    ``forward(kspace [B, H, W] | [B, C, H, W], mask [B, H, W], sens=None) -> complex [B, H, W]``.
    """

    def __init__(
        self,
        nf: int = 16,
        growth: int | None = None,
        n_cascades: int = 5,
        dilations: Sequence[int] = (1, 2, 4),
        real_mode: str = "abs",
    ) -> None:
        super().__init__()
        growth = nf if growth is None else growth
        check_positive(nf=nf, growth=growth, n_cascades=n_cascades)
        dilations = check_dilations(dilations)
        self.cascades = nn.ModuleList(DilatedDenseSubnet(nf, growth, dilations) for _ in range(n_cascades))
        self.dc = TwoStepDC(real_mode=real_mode)

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = zero_filled(kspace, mask, sens)
        for subnet in self.cascades:
            x = self.dc(apply_real_net(subnet, x), kspace, mask, sens)
        return x
