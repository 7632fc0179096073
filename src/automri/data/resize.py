"""Bringing every slice to ``size x size`` before k-space is formed.

- Magnitude images (simulated k-space): centre crop to a square, then area-resize
  (``torch.nn.functional.interpolate(mode="area")``, an exact box average when shrinking; bilinear
  when enlarging).
- Complex images from real k-space: centre crop to a square in image space (e.g. fastMRI's readout
  oversampling is already cropped by the reader), then Fourier resampling: the centred k-space of
  the square is centre-cropped (or zero-padded) to ``size x size``, i.e. the slice as it would be
  acquired with a ``size``-point matrix over the same field of view. Intensities are preserved.
- Coil sensitivity maps: the same square crop, then area/bilinear resize of real and imaginary
  parts (maps are smooth; Fourier resampling would ring at the edge of their support).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from automri.physics.fft import fft2c, ifft2c

NATIVE_SIZE = 0
"""``--size 0`` (``size: 0`` in a configuration): keep the stored size, no resampling."""


def requested_size(size: int | None) -> int | None:
    """The image side a dataset is resampled to: ``size``, or ``None`` (native) for ``None`` and
    :data:`NATIVE_SIZE`."""
    return None if size in (None, NATIVE_SIZE) else size


def centre_crop(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Centre crop of the last two dims of ``x`` (a tensor or numpy array ``[..., H, W]``) to
    ``shape``, clamped to the current size; fastMRI's offsets ``(H - h) // 2``, ``(W - w) // 2``."""
    height, width = x.shape[-2:]
    out_h, out_w = min(shape[0], height), min(shape[1], width)
    top, left = (height - out_h) // 2, (width - out_w) // 2
    return x[..., top : top + out_h, left : left + out_w]


def crop_to_square(x: torch.Tensor) -> torch.Tensor:
    """Centre crop of the last two dims of ``x`` to ``min(H, W)`` square."""
    side = min(x.shape[-2:])
    return centre_crop(x, (side, side))


def _interpolate(x: torch.Tensor, size: int) -> torch.Tensor:
    """Real ``[..., H, W]`` -> ``[..., size, size]``: area average when shrinking, bilinear when enlarging."""
    lead = x.shape[:-2]
    flat = x.reshape(1, -1, *x.shape[-2:]).float()
    if size <= min(x.shape[-2:]):
        out = F.interpolate(flat, size=(size, size), mode="area")
    else:
        out = F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False)
    return out.reshape(*lead, size, size)


def resize_magnitude(image: torch.Tensor, size: int) -> torch.Tensor:
    """Real ``[H, W]`` -> float32 ``[size, size]``: square centre crop then area resize."""
    return _interpolate(crop_to_square(image), size)


def resize_maps(sens: torch.Tensor, size: int) -> torch.Tensor:
    """Complex maps ``[C, H, W]`` -> complex64 ``[C, size, size]``: square crop, then resize of real and imag."""
    square = crop_to_square(sens)
    return torch.complex(_interpolate(square.real, size), _interpolate(square.imag, size))


def fourier_resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """Complex ``[..., H, W]`` -> complex64 ``[..., size, size]``: square crop, then k-space crop/zero-pad."""
    square = crop_to_square(image).to(torch.complex64)
    side = square.shape[-1]
    if side == size:
        return square
    kspace = fft2c(square)
    if size < side:
        start = side // 2 - size // 2  # keeps DC (index side // 2) at index size // 2
        kspace = kspace[..., start : start + size, start : start + size]
    else:
        before = size // 2 - side // 2
        after = size - side - before
        kspace = F.pad(kspace, (before, after, before, after))
    return ifft2c(kspace) * (size / side)
