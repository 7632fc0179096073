"""Linear MRI forward operators on centred k-space: single-coil and SENSE (multi-coil) Cartesian.

Both operators expose ``forward`` (image -> k-space), ``adjoint`` (k-space -> image) and ``normal``
(``adjoint(forward(x))``), all on complex tensors. Masks are real 0/1 (or weights) ``[B, H, W]``
(``[H, W]`` broadcasts over the batch) in the centred layout and broadcast over coils.
"""

from __future__ import annotations

import torch

from automri.errors import AutoMRIError
from automri.physics.fft import fft2c, ifft2c


def sense_combine(coil_images: torch.Tensor, sens: torch.Tensor) -> torch.Tensor:
    """``sum_c conj(S_c) x_c``: coil images and maps ``[..., C, H, W]`` -> complex ``[..., H, W]``
    (the coil part of the SENSE adjoint)."""
    return (sens.conj() * coil_images).sum(dim=-3)


def zero_filled_image(kspace: torch.Tensor, sens: torch.Tensor | None = None) -> torch.Tensor:
    """``A^H k`` of already masked centred k-space ``[..., H, W]`` (or coil k-space
    ``[..., C, H, W]``, combined with the maps ``sens``): the zero-filled image, complex ``[..., H, W]``."""
    image = ifft2c(kspace)
    return image if sens is None else sense_combine(image, sens)


class SingleCoilOperator:
    """``A x = M * fft2c(x)``; ``A^H k = ifft2c(M * k)``.

    ``mask``: real ``[B, H, W]`` or ``[H, W]``. Images and k-space are complex ``[B, H, W]``.
    """

    def __init__(self, mask: torch.Tensor) -> None:
        if mask.dim() not in (2, 3) or mask.is_complex():
            raise AutoMRIError(
                f"mask: expected a real tensor [B, H, W] or [H, W], got {mask.dtype} {tuple(mask.shape)}"
            )
        self.mask = mask

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex image ``[B, H, W]`` -> masked centred k-space ``[B, H, W]``."""
        return self.mask * fft2c(image)

    def adjoint(self, kspace: torch.Tensor) -> torch.Tensor:
        """Centred k-space ``[B, H, W]`` -> zero-filled complex image ``[B, H, W]``."""
        return zero_filled_image(self.mask * kspace)

    def normal(self, image: torch.Tensor) -> torch.Tensor:
        """``A^H A x = ifft2c(M^2 * fft2c(x))`` for a complex image ``[B, H, W]``."""
        return self.adjoint(self.forward(image))


class SenseOperator:
    """SENSE: ``(A x)_c = M * fft2c(S_c x)``; ``A^H k = sum_c conj(S_c) * ifft2c(M * k_c)``.

    ``mask``: real ``[B, H, W]`` or ``[H, W]`` (the same for every coil); ``sens``: complex coil
    sensitivity maps ``[B, C, H, W]``. Images are complex ``[B, H, W]``, k-space ``[B, C, H, W]``.
    """

    def __init__(self, mask: torch.Tensor, sens: torch.Tensor) -> None:
        if mask.dim() not in (2, 3) or mask.is_complex():
            raise AutoMRIError(
                f"mask: expected a real tensor [B, H, W] or [H, W], got {mask.dtype} {tuple(mask.shape)}"
            )
        if sens.dim() != 4 or sens.shape[-2:] != mask.shape[-2:]:
            raise AutoMRIError(
                f"sens: expected coil maps [B, C, H, W] with H, W = {tuple(mask.shape[-2:])} "
                f"matching the mask, got {tuple(sens.shape)}"
            )
        self.mask = mask.unsqueeze(-3)  # broadcast over the coil dimension
        self.sens = sens

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex image ``[B, H, W]`` -> masked coil k-space ``[B, C, H, W]``."""
        return self.mask * fft2c(self.sens * image.unsqueeze(-3))

    def adjoint(self, kspace: torch.Tensor) -> torch.Tensor:
        """Coil k-space ``[B, C, H, W]`` -> coil-combined complex image ``[B, H, W]``."""
        return zero_filled_image(self.mask * kspace, self.sens)

    def normal(self, image: torch.Tensor) -> torch.Tensor:
        """``A^H A x`` for a complex image ``[B, H, W]``."""
        return self.adjoint(self.forward(image))


def make_operator(
    mask: torch.Tensor, sens: torch.Tensor | None = None
) -> SingleCoilOperator | SenseOperator:
    """The single-coil operator when ``sens`` is None, else the SENSE operator."""
    return SingleCoilOperator(mask) if sens is None else SenseOperator(mask, sens)
