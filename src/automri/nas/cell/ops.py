"""The 8 candidate operations of the FedAutoMRI cell search space (methods.md 1.1).

Every op maps ``[B, C, H, W] -> [B, C, H, W]`` (stride 1, "same" padding), uses convolutions with
bias and no BatchNorm, and applies its activation AFTER the convolution(s):

- ``std_conv_kxk``: a dense ``k x k`` convolution, then the activation.
- ``dil_d_conv_3x3``: a dense (not depthwise) ``3 x 3`` convolution with dilation ``d`` (receptive
  field ``5 x 5`` for d=2, ``7 x 7`` for d=3), then the activation.
- ``sep_conv_kxk``: ONE depthwise ``k x k`` convolution (``groups=C``), a pointwise ``1 x 1``
  convolution, then the activation (not DARTS's doubly stacked SepConv).

The order of :data:`PRIMITIVES` is the column order of the architecture weights ``alpha``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from automri.errors import AutoMRIError
from automri.nas.cell.genotype import ACTIVATIONS, PRIMITIVES


def build_activation(name: str) -> nn.Module:
    """``"relu"`` -> ``nn.ReLU``; ``"leaky_relu"`` -> ``nn.LeakyReLU`` (slope 0.01, PyTorch default)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU()
    raise AutoMRIError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {name!r}")


def conv_act(channels: int, kernel: int, activation: str, dilation: int = 1) -> nn.Sequential:
    """Dense ``kernel x kernel`` convolution ``C -> C`` (bias, same padding, optional dilation),
    then the activation."""
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel, padding=padding, dilation=dilation, bias=True),
        build_activation(activation),
    )


def sep_conv_act(channels: int, kernel: int, activation: str) -> nn.Sequential:
    """Depthwise ``kernel x kernel`` (``groups=C``) -> pointwise ``1 x 1`` -> activation, ``C -> C``."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel, padding=(kernel - 1) // 2, groups=channels, bias=True),
        nn.Conv2d(channels, channels, 1, bias=True),
        build_activation(activation),
    )


OPS: dict[str, Callable[[int, str], nn.Module]] = {
    "std_conv_3x3": lambda c, act: conv_act(c, 3, act),
    "std_conv_5x5": lambda c, act: conv_act(c, 5, act),
    "std_conv_7x7": lambda c, act: conv_act(c, 7, act),
    "dil_2_conv_3x3": lambda c, act: conv_act(c, 3, act, dilation=2),
    "dil_3_conv_3x3": lambda c, act: conv_act(c, 3, act, dilation=3),
    "sep_conv_3x3": lambda c, act: sep_conv_act(c, 3, act),
    "sep_conv_5x5": lambda c, act: sep_conv_act(c, 5, act),
    "sep_conv_7x7": lambda c, act: sep_conv_act(c, 7, act),
}


def build_op(name: str, channels: int, activation: str = "relu") -> nn.Module:
    """The candidate op ``name`` (one of :data:`PRIMITIVES`) on ``channels`` channels."""
    if name not in OPS:
        raise AutoMRIError(f"op: expected one of {', '.join(PRIMITIVES)}, got {name!r}")
    return OPS[name](channels, activation)
