"""fastMRI's U-Net (Ronneberger et al. 2015 as in ``facebookresearch/fastMRI``, ``fastmri/models/unet.py``),
on the zero-filled image, as used by FedMRI and FL-MRCM and as EMR-NAS's U-Net baseline.

Encoder = ``down_sample_layers`` + bottleneck ``conv``; decoder = ``up_transpose_conv`` + ``up_conv``
(the last ``up_conv`` entry ends with the 1x1 output convolution). FedMRI shares (averages) only the
encoder across clients: :meth:`UNet.encoder_keys` lists those ``state_dict`` keys.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from automri.errors import AutoMRIError
from automri.models.common import check_positive, zero_filled
from automri.physics.complex import channels_to_complex, complex_to_channels
from automri.physics.dc import HardDC

ENCODER_MODULES = ("down_sample_layers", "conv")
DECODER_MODULES = ("up_transpose_conv", "up_conv")


class ConvBlock(nn.Module):
    """``[Conv3x3 (no bias), InstanceNorm2d, LeakyReLU(0.2), Dropout2d] x 2``: ``[B, in, H, W] -> [B, out, H, W]``."""

    def __init__(self, in_chans: int, out_chans: int, drop_prob: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Dropout2d(drop_prob),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Dropout2d(drop_prob),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TransposeConvBlock(nn.Module):
    """``ConvTranspose2d(2x2, stride 2, no bias), InstanceNorm2d, LeakyReLU(0.2)``: doubles H and W."""

    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class UNet(nn.Module):
    """U-Net image-to-image reconstruction from the zero-filled image.

    Args:
        chans: channels of the first level (doubled at every pooling level); the width knob.
        num_pool_layers: number of 2x average-pooling levels.
        drop_prob: ``Dropout2d`` probability.
        in_chans: 2 = complex image as (real, imag) channels, output complex; 1 = magnitude image
            (FedMRI), output a real magnitude returned as a complex image with zero imaginary part.
        dc: apply a final hard data consistency (``physics.dc.HardDC``) to the output.
        residual: predict the correction to the input instead of the image itself: the output is
            ``x_u + network(x_u)`` (of the magnitudes when ``in_chans=1``), before ``dc``. ``False``
            (default) is fastMRI's design; ``True`` (a global residual, as in DC-CNN, MoDL and CDDN)
            starts training from the zero-filled image instead of from noise, which a short training
            run needs (the ``small`` baselines preset turns it on).

    ``forward(kspace [B, H, W] | [B, C, H, W], mask [B, H, W], sens=None) -> complex [B, H, W]``.
    Any H, W work (odd sizes are reflect-padded in the decoder, as in fastMRI).
    """

    def __init__(
        self,
        chans: int = 32,
        num_pool_layers: int = 4,
        drop_prob: float = 0.0,
        in_chans: int = 2,
        dc: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        check_positive(chans=chans, num_pool_layers=num_pool_layers)
        if in_chans not in (1, 2):
            raise AutoMRIError(f"in_chans: expected 1 (magnitude) or 2 (complex), got {in_chans!r}")
        if not 0.0 <= drop_prob < 1.0:
            raise AutoMRIError(f"drop_prob: expected a probability in [0, 1), got {drop_prob!r}")
        self.in_chans = in_chans
        self.down_sample_layers = nn.ModuleList([ConvBlock(in_chans, chans, drop_prob)])
        ch = chans
        for _ in range(num_pool_layers - 1):
            self.down_sample_layers.append(ConvBlock(ch, ch * 2, drop_prob))
            ch *= 2
        self.conv = ConvBlock(ch, ch * 2, drop_prob)
        self.up_conv = nn.ModuleList()
        self.up_transpose_conv = nn.ModuleList()
        for _ in range(num_pool_layers - 1):
            self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch))
            self.up_conv.append(ConvBlock(ch * 2, ch, drop_prob))
            ch //= 2
        self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch))
        self.up_conv.append(
            nn.Sequential(ConvBlock(ch * 2, ch, drop_prob), nn.Conv2d(ch, in_chans, kernel_size=1))
        )
        self.dc = HardDC() if dc else None
        self.residual = residual

    def encoder_keys(self) -> list[str]:
        """``state_dict`` keys of the encoder (``down_sample_layers`` and the bottleneck ``conv``)."""
        return [key for key in self.state_dict() if key.split(".", 1)[0] in ENCODER_MODULES]

    def decoder_keys(self) -> list[str]:
        """``state_dict`` keys of the decoder (``up_transpose_conv`` and ``up_conv``)."""
        return [key for key in self.state_dict() if key.split(".", 1)[0] in DECODER_MODULES]

    def network(self, image: torch.Tensor) -> torch.Tensor:
        """The U-Net proper: real ``[B, in_chans, H, W] -> [B, in_chans, H, W]``."""
        stack = []
        output = image
        for layer in self.down_sample_layers:
            output = layer(output)
            stack.append(output)
            output = F.avg_pool2d(output, kernel_size=2, stride=2, padding=0)
        output = self.conv(output)
        for transpose_conv, conv in zip(self.up_transpose_conv, self.up_conv):
            skip = stack.pop()
            output = transpose_conv(output)
            pad_w = skip.shape[-1] - output.shape[-1]
            pad_h = skip.shape[-2] - output.shape[-2]
            if pad_w or pad_h:
                output = F.pad(output, [0, pad_w, 0, pad_h], mode="reflect")
            output = conv(torch.cat([output, skip], dim=1))
        return output

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        x_u = zero_filled(kspace, mask, sens)
        if self.in_chans == 2:
            x = channels_to_complex(self.network(complex_to_channels(x_u)))
            if self.residual:
                x = x_u + x
        else:
            magnitude = self.network(x_u.abs().unsqueeze(1))[:, 0]
            if self.residual:
                magnitude = x_u.abs() + magnitude
            x = torch.complex(magnitude, torch.zeros_like(magnitude))
        if self.dc is not None:
            x = self.dc(x, kspace, mask, sens)
        return x
