"""Pieces every reconstruction model shares: input checks, the zero-filled image, the real/complex
edge of a CNN, and optional gradient checkpointing.

Calling convention of every model (``docs/architecture.md``):
``model(kspace, mask, sens=None) -> complex64 [B, H, W]`` with ``kspace`` the masked centred
k-space, complex ``[B, H, W]`` (single-coil) or ``[B, C, H, W]`` (with ``sens`` ``[B, C, H, W]``),
and ``mask`` real 0/1 ``[B, H, W]``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from automri.errors import AutoMRIError
from automri.physics.complex import channels_to_complex, complex_to_channels
from automri.physics.operators import make_operator


def check_inputs(kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None) -> None:
    """Raise :class:`AutoMRIError` unless the arguments follow the model calling convention."""
    if not torch.is_tensor(kspace) or not kspace.is_complex():
        raise AutoMRIError(f"kspace: expected a complex tensor, got {getattr(kspace, 'dtype', type(kspace))}")
    if sens is None and kspace.dim() != 3:
        hint = " (multi-coil k-space needs sens maps [B, C, H, W])" if kspace.dim() == 4 else ""
        raise AutoMRIError(f"kspace: expected [B, H, W] without sens{hint}, got shape {tuple(kspace.shape)}")
    if sens is not None and (kspace.dim() != 4 or sens.shape != kspace.shape):
        raise AutoMRIError(
            f"sens: expected coil maps with the k-space shape [B, C, H, W] = {tuple(kspace.shape)}, "
            f"got {tuple(sens.shape)}"
        )
    if mask.is_complex() or mask.dim() != 3 or mask.shape[-2:] != kspace.shape[-2:]:
        raise AutoMRIError(
            f"mask: expected a real [B, H, W] tensor with H, W = {tuple(kspace.shape[-2:])}, "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )


def zero_filled(kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None) -> torch.Tensor:
    """``x_u = A^H k``: the zero-filled (coil-combined when ``sens`` is given) image, complex ``[B, H, W]``."""
    check_inputs(kspace, mask, sens)
    return make_operator(mask, sens).adjoint(kspace)


def apply_real_net(net: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Run a real CNN ``[B, 2, H, W] -> [B, 2, H, W]`` on a complex image ``[B, H, W]``."""
    return channels_to_complex(net(complex_to_channels(image)))


def maybe_checkpoint(
    enabled: bool, function: Callable[..., torch.Tensor], *args: torch.Tensor
) -> torch.Tensor:
    """``function(*args)``, recomputed in the backward pass instead of storing activations when
    ``enabled`` and gradients are being recorded (``torch.utils.checkpoint``, non-reentrant).

    Trades compute for memory in unrolled networks. Layers with running statistics (BatchNorm) see
    the recomputation as a second forward and update their running statistics twice.
    """
    if enabled and torch.is_grad_enabled():
        return checkpoint(function, *args, use_reentrant=False)
    return function(*args)


def conv3x3(in_chans: int, out_chans: int, dilation: int = 1, bias: bool = True) -> nn.Conv2d:
    """3x3 convolution keeping the spatial size (padding = dilation)."""
    return nn.Conv2d(in_chans, out_chans, kernel_size=3, padding=dilation, dilation=dilation, bias=bias)


def check_positive(**values: int) -> None:
    """Raise :class:`AutoMRIError` naming the first argument that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AutoMRIError(f"{name}: expected a positive integer, got {value!r}")


def check_dilations(dilations: object) -> tuple[int, ...]:
    """``dilations`` as a tuple of positive integers, or :class:`AutoMRIError` naming the flag."""
    try:
        values = tuple(dilations)  # type: ignore[arg-type]
    except TypeError:
        values = ()
    if not values or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in values):
        raise AutoMRIError(f"dilations: expected a non-empty list of positive integers, got {dilations!r}")
    return values
