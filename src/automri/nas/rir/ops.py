"""The eight EMR-NAS candidate operations O1..O8 (Huang et al. 2020, Table 1).

Every OP cell is a residual dense block of four 3x3 convolutions mapping ``[B, F, H, W]`` to
``[B, F, H, W]`` (``F`` = ``width`` channels), LeakyReLU(0.2) after the first three convolutions,
no BatchNorm (``batch_norm=True`` is the ablation B of Table 3: BN between each of the first three
convolutions and its LeakyReLU), and a local residual ``x + residual_scale * conv4(...)``.

Table 1: dilations ``(1, 2, 4, 1)`` for O1..O7 and ``(1, 1, 1, 1)`` for O8; connection subsets
O1 {1,2,3}, O2 {2,3}, O3 {1,3}, O4 {1,2}, O5 {1}, O6 {2}, O7 {3}, O8 {1,2,3}.

Meaning of the connection numbers (Fig. 2 right is not reproduced in the text; no official code
exists, so this is our choice, selectable with ``connection_mode``). Let ``f0 = x`` be the cell
input and ``f_i`` the output of convolution ``i``; the plain chain is ``f0 -> conv1 -> conv2 ->
conv3 -> conv4``.

* ``"fusion"`` (default): connection ``i`` is a dense skip from ``f_{i-1}`` straight into the last
  (fusion) convolution, which therefore sees ``concat(f3, f_{i-1} for i in subset)`` (the skips
  ordered by ``i``). Connection 1 carries the cell input, 2 the output of conv1, 3 that of conv2.
  Every convolution stays on the path to the output whatever the subset, and O1/O8 equal a residual
  dense block whose last layer fuses all earlier features.
* ``"dense"`` (ESRGAN RDB links): connection ``i`` makes convolution ``i + 1`` read the
  concatenation of all earlier features ``f0 .. f_i`` instead of ``f_i`` alone.

Every convolution outputs ``F`` channels (no growth-rate bottleneck), has a bias and
``padding = dilation`` so the spatial size is kept.

Residual scale: ESRGAN (the RIR reference [19] of the paper) scales residual branches by 0.2; the
paper does not say, so ``residual_scale`` defaults to :data:`DEFAULT_RESIDUAL_SCALE` = 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.models.common import check_positive, conv3x3

DEFAULT_RESIDUAL_SCALE = 0.2
CONNECTION_MODES = ("fusion", "dense")
NEGATIVE_SLOPE = 0.2


@dataclass(frozen=True)
class OpSpec:
    """One row of Table 1: the four dilations and the connection subset (numbers in 1..3)."""

    dilations: tuple[int, int, int, int]
    connections: frozenset[int]


_DILATED = (1, 2, 4, 1)
OP_SPECS: dict[str, OpSpec] = {
    "O1": OpSpec(_DILATED, frozenset({1, 2, 3})),
    "O2": OpSpec(_DILATED, frozenset({2, 3})),
    "O3": OpSpec(_DILATED, frozenset({1, 3})),
    "O4": OpSpec(_DILATED, frozenset({1, 2})),
    "O5": OpSpec(_DILATED, frozenset({1})),
    "O6": OpSpec(_DILATED, frozenset({2})),
    "O7": OpSpec(_DILATED, frozenset({3})),
    "O8": OpSpec((1, 1, 1, 1), frozenset({1, 2, 3})),
}
OPS: tuple[str, ...] = tuple(OP_SPECS)


def op_spec(name: str) -> OpSpec:
    """The :class:`OpSpec` of ``name`` (``"O1"`` .. ``"O8"``); AutoMRIError for unknown names."""
    if name not in OP_SPECS:
        raise AutoMRIError(f"op: expected one of {', '.join(OPS)}, got {name!r}")
    return OP_SPECS[name]


def conv_input_widths(spec: OpSpec, width: int, connection_mode: str) -> tuple[int, int, int, int]:
    """Input channels of the four convolutions of an OP cell (each outputs ``width``)."""
    if connection_mode == "fusion":
        return (width, width, width, width * (1 + len(spec.connections)))
    if connection_mode == "dense":
        return tuple(width * (i + 1) if i in spec.connections else width for i in range(4))  # type: ignore[return-value]
    raise AutoMRIError(f"connection_mode: expected one of {CONNECTION_MODES}, got {connection_mode!r}")


class OPCell(nn.Module):
    """One candidate operation ``O1``..``O8``: ``[B, F, H, W] -> [B, F, H, W]``.

    Args:
        name: ``"O1"`` .. ``"O8"`` (Table 1).
        width: channels ``F``.
        batch_norm: BatchNorm2d after each of the first three convolutions (ablation B).
        residual_scale: the local residual is ``x + residual_scale * conv4(.)``.
        connection_mode: ``"fusion"`` or ``"dense"`` (module docstring).
    """

    def __init__(
        self,
        name: str,
        width: int,
        batch_norm: bool = False,
        residual_scale: float = DEFAULT_RESIDUAL_SCALE,
        connection_mode: str = "fusion",
    ) -> None:
        super().__init__()
        check_positive(width=width)
        self.name = name
        self.spec = op_spec(name)
        self.connection_mode = connection_mode
        self.residual_scale = float(residual_scale)
        in_widths = conv_input_widths(self.spec, width, connection_mode)
        self.convs = nn.ModuleList(
            conv3x3(c_in, width, dilation=d) for c_in, d in zip(in_widths, self.spec.dilations)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(width) if batch_norm else nn.Identity() for _ in range(3))
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)

    def _conv_input(self, index: int, features: list[torch.Tensor]) -> torch.Tensor:
        """Input of convolution ``index`` (0-based) given the features ``f0 .. f_index``."""
        if self.connection_mode == "dense":
            return torch.cat(features, dim=1) if index in self.spec.connections else features[-1]
        if index < 3:
            return features[-1]
        skips = [features[i - 1] for i in sorted(self.spec.connections)]
        return torch.cat([features[3], *skips], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for index in range(3):
            hidden = self.convs[index](self._conv_input(index, features))
            features.append(self.act(self.norms[index](hidden)))
        return x + self.residual_scale * self.convs[3](self._conv_input(3, features))

    def extra_repr(self) -> str:
        return (
            f"name={self.name}, dilations={self.spec.dilations}, "
            f"connections={sorted(self.spec.connections)}, mode={self.connection_mode}"
        )
