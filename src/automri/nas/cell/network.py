"""The derived FedAutoMRI network of a cell genotype, and the unrolled MoDL frame it shares with
the search space.

Shapes: feature maps are real ``[B, C, H, W]`` with ``C = hidden``; the denoiser sees real
``[B, 2, H, W]`` (real, imag); the unrolled networks follow the model calling convention
``model(kspace, mask, sens=None) -> complex [B, H, W]`` (docs/architecture.md). The cell topology
is described in :mod:`automri.nas.cell.space`.

Deliberate differences from the official GAutoMRI code (methods.md 1.3): the head conv is LINEAR
(``D_w(x) = x + head(cells(stem(x)))``; the official ReLU on the residual branch forced a
non-negative correction) and the stem is linear in both the search and the derived network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.models.common import apply_real_net, check_positive, maybe_checkpoint, zero_filled
from automri.nas.cell.genotype import FEDNAS_V1, Edge
from automri.nas.cell.ops import build_op, conv_act
from automri.nas.genotype import resolve_genotype
from automri.physics.dc import ProximalDC


class _CellInputs(nn.Module):
    """The ``1 x 1`` conv + activation applied to each of the two cell inputs."""

    def __init__(self, channels: int, activation: str) -> None:
        super().__init__()
        self.preprocess0 = conv_act(channels, 1, activation)
        self.preprocess1 = conv_act(channels, 1, activation)

    def initial_states(self, s0: torch.Tensor, s1: torch.Tensor) -> list[torch.Tensor]:
        return [self.preprocess0(s0), self.preprocess1(s1)]


class DerivedCell(_CellInputs):
    """Cell of a genotype: node ``i`` = sum of its chosen ``(op, input_state)`` edges.

    ``nodes``: per node a list of ``(op_name, input_index)``, input 0/1 the cell inputs, ``j >= 2``
    the earlier node ``j - 2``. ``forward(s0, s1)``: ``[B, C, H, W]`` -> ``[B, C, H, W]``.
    """

    def __init__(self, channels: int, nodes: Sequence[Sequence[Edge]], activation: str = "relu") -> None:
        super().__init__(channels, activation)
        self.inputs = [[int(j) for _, j in node] for node in nodes]
        self.node_ops = nn.ModuleList(
            nn.ModuleList(build_op(op, channels, activation) for op, _ in node) for node in nodes
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = self.initial_states(s0, s1)
        for ops, inputs in zip(self.node_ops, self.inputs):
            states.append(sum(op(states[j]) for op, j in zip(ops, inputs)))
        return sum(states[2:])


class _StackedCellDenoiser(nn.Module):
    """``D(x) = x + head(cells(stem(x)))`` on real ``[B, 2, H, W]``.

    Stem: linear ``3 x 3`` conv ``2 -> C``; cells chained as ``s0, s1 = s1, cell(s0, s1, *extra)``
    (the first cell gets ``(stem, stem)``); head: LINEAR ``3 x 3`` conv ``C -> 2``; global residual.
    """

    def __init__(self, hidden: int, cells: nn.ModuleList) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, hidden, 3, padding=1, bias=True)
        self.cells = cells
        self.head = nn.Conv2d(hidden, 2, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor, *cell_args: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, *cell_args)
        return x + self.head(s1)


class DerivedDenoiser(_StackedCellDenoiser):
    """Denoiser of identical :class:`DerivedCell` s; ``forward(x [B, 2, H, W]) -> [B, 2, H, W]``."""

    def __init__(
        self, nodes: Sequence[Sequence[Edge]], hidden: int = 16, cells: int = 3, activation: str = "relu"
    ) -> None:
        super().__init__(hidden, nn.ModuleList(DerivedCell(hidden, nodes, activation) for _ in range(cells)))


class _UnrolledMoDL(nn.Module):
    """MoDL unroll with SHARED weights: ``x0 = A^H k``; ``K`` times ``z = D(x)``,
    ``x = (A^H A + lam I)^-1 (A^H k + lam z)`` (:class:`ProximalDC`, one learnable ``lam``).

    Subclasses define :meth:`denoise` (real ``[B, 2, H, W]`` -> ``[B, 2, H, W]``).
    ``forward(kspace [B, H, W] | [B, C, H, W], mask [B, H, W], sens=None) -> complex [B, H, W]``.
    ``checkpoint=True`` recomputes each denoiser pass in the backward pass to save memory.
    """

    def __init__(
        self, iterations: int, lam: float, learn_lambda: bool, cg_iterations: int, checkpoint: bool
    ) -> None:
        super().__init__()
        check_positive(iterations=iterations, cg_iterations=cg_iterations)
        self.iterations = iterations
        self.checkpoint = checkpoint
        self.dc = ProximalDC(lam=lam, learnable=learn_lambda, max_iter=cg_iterations)

    def denoise(self, channels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = zero_filled(kspace, mask, sens)
        for _ in range(self.iterations):
            z = maybe_checkpoint(self.checkpoint, apply_real_net, self.denoise, x)
            x = self.dc(z, kspace, mask, sens)
        return x


class CellNet(_UnrolledMoDL):
    """The derived (discrete) network of a cell genotype: MoDL unroll around a
    :class:`DerivedDenoiser`; build it with :meth:`from_genotype`."""

    def __init__(
        self,
        nodes: Sequence[Sequence[Edge]],
        hidden: int = 16,
        cells: int = 3,
        iterations: int = 5,
        activation: str = "relu",
        lam: float = 0.05,
        learn_lambda: bool = True,
        cg_iterations: int = 10,
        checkpoint: bool = False,
    ) -> None:
        super().__init__(iterations, lam, learn_lambda, cg_iterations, checkpoint)
        check_positive(hidden=hidden, cells=cells)
        self.denoiser = DerivedDenoiser(nodes, hidden, cells, activation)

    @classmethod
    def from_genotype(cls, genotype: dict[str, Any], **overrides: Any) -> "CellNet":
        """Build from a validated ``"cell"`` genotype dict; ``overrides`` replace its ``hidden``,
        ``cells``, ``iterations``, ``activation`` or set ``lam``, ``learn_lambda``, ``cg_iterations``,
        ``checkpoint``."""
        allowed = ("hidden", "cells", "iterations", "activation", "lam", "learn_lambda", "cg_iterations", "checkpoint")
        unknown = sorted(set(overrides) - set(allowed))
        if unknown:
            raise AutoMRIError(f"cell_net: unknown option(s) {', '.join(unknown)} (expected any of {', '.join(allowed)})")
        settings = {key: genotype[key] for key in ("hidden", "cells", "iterations") if key in genotype}
        if "activation" in genotype:
            settings["activation"] = genotype["activation"]
        settings.update(overrides)
        nodes = [[(op, int(j)) for op, j in node] for node in genotype["nodes"]]
        return cls(nodes, **settings)

    def denoise(self, channels: torch.Tensor) -> torch.Tensor:
        return self.denoiser(channels)


def cell_net(
    genotype: dict[str, Any] | str | os.PathLike[str] | None = None,
    hidden: int | None = None,
    cells: int | None = None,
    iterations: int | None = None,
    activation: str | None = None,
    lam: float = 0.05,
    learn_lambda: bool = True,
    cg_iterations: int = 10,
    checkpoint: bool = False,
) -> nn.Module:
    """Registry builder ``cell_net``: the :class:`CellNet` of ``genotype`` (dict or JSON path;
    default :data:`FEDNAS_V1`); ``hidden``, ``cells``, ``iterations``, ``activation`` (``None``:
    the genotype's) and the DC settings override it. ``hidden`` is its width."""
    given = {"hidden": hidden, "cells": cells, "iterations": iterations, "activation": activation}
    overrides = {key: value for key, value in given.items() if value is not None}
    resolved = resolve_genotype(FEDNAS_V1 if genotype is None else genotype, "cell")
    return CellNet.from_genotype(
        resolved, lam=lam, learn_lambda=learn_lambda, cg_iterations=cg_iterations, checkpoint=checkpoint, **overrides
    )
