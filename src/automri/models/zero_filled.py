"""Zero-filled reconstruction: the adjoint of the acquisition operator, no parameters."""

from __future__ import annotations

import torch
from torch import nn

from automri.models.common import zero_filled


class ZeroFilled(nn.Module):
    """``x_u = A^H k``: inverse FFT of the zero-filled k-space (coil-combined with ``sens``).

    ``forward(kspace [B, H, W] | [B, C, H, W], mask [B, H, W], sens=None) -> complex [B, H, W]``.
    """

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        return zero_filled(kspace, mask, sens)
