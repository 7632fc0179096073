"""FedAutoMRI's cell search space: mixed cells, the searchable MoDL network and the derived network.

Shapes: feature maps are real ``[B, C, H, W]`` with ``C = hidden``; the denoiser sees real
``[B, 2, H, W]`` (real, imag); the unrolled networks follow the model calling convention
``model(kspace, mask, sens=None) -> complex [B, H, W]`` (docs/architecture.md).

A cell has ``nodes`` intermediate nodes; node ``i`` (0-based) receives one edge from every earlier
state: the two cell inputs (states 0 and 1, the outputs of the two previous cells, each through a
``1 x 1`` conv + activation) and nodes ``0..i-1`` (states ``2..i+1``), so 2 + 3 + 4 = 9 edges for 3
nodes. Node value = sum of its incoming edges; cell output = SUM of the intermediate nodes (not a
concat), so every cell keeps ``C`` channels (methods.md 1.2).

Architecture weights ``alpha`` are ONE tensor ``[E, 8]`` (E edges in node order, columns in
:data:`automri.nas.ops.PRIMITIVES` order) shared by every cell, kept apart from the network weights:
``arch_parameters()`` vs ``weight_parameters()`` (the DC weight ``lambda`` is a weight).

Deliberate differences from the official GAutoMRI code (methods.md 1.3): the head conv is LINEAR
(``D_w(x) = x + head(cells(stem(x)))``; the official ReLU on the residual branch forced a
non-negative correction) and the stem is linear in both the search and the derived network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.models.common import apply_real_net, check_positive, maybe_checkpoint, zero_filled
from automri.nas.ops import PRIMITIVES, build_op, conv_act
from automri.physics.dc import ProximalDC

Edge = tuple[str, int]


def edge_count(nodes: int) -> int:
    """Number of mixed edges in a cell with ``nodes`` intermediate nodes: ``sum_i (i + 2)``."""
    return sum(i + 2 for i in range(nodes))


def node_slices(nodes: int) -> list[slice]:
    """Rows of the alpha tensor ``[E, 8]`` that belong to each node (node ``i`` has ``i + 2`` rows)."""
    slices, start = [], 0
    for i in range(nodes):
        slices.append(slice(start, start + i + 2))
        start += i + 2
    return slices


def nodes_for_edges(edges: int) -> int:
    """Inverse of :func:`edge_count`; raises ``ValueError`` when ``edges`` is not a valid count."""
    nodes = 0
    while edge_count(nodes) < edges:
        nodes += 1
    if edge_count(nodes) != edges:
        raise ValueError(f"{edges} edges is not a cell edge count (2, 5, 9, 14, ...)")
    return nodes


class MixedOp(nn.Module):
    """``sum_o w_o * op_o(x)`` over the 8 candidate ops; ``x`` ``[B, C, H, W]``, ``weights`` ``[8]``
    (the softmax of the edge's alpha)."""

    def __init__(self, channels: int, activation: str = "relu") -> None:
        super().__init__()
        self.ops = nn.ModuleList(build_op(name, channels, activation) for name in PRIMITIVES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class _CellInputs(nn.Module):
    """The ``1 x 1`` conv + activation applied to each of the two cell inputs."""

    def __init__(self, channels: int, activation: str) -> None:
        super().__init__()
        self.preprocess0 = conv_act(channels, 1, activation)
        self.preprocess1 = conv_act(channels, 1, activation)

    def initial_states(self, s0: torch.Tensor, s1: torch.Tensor) -> list[torch.Tensor]:
        return [self.preprocess0(s0), self.preprocess1(s1)]


class SearchCell(_CellInputs):
    """Cell with a :class:`MixedOp` on every edge.

    ``forward(s0, s1, weights)``: ``s0``, ``s1`` ``[B, C, H, W]``; ``weights`` ``[E, 8]`` softmaxed
    alphas in node order (see :func:`node_slices`). Returns ``[B, C, H, W]``.
    """

    def __init__(self, channels: int, nodes: int = 3, activation: str = "relu") -> None:
        super().__init__(channels, activation)
        self.nodes = nodes
        self.edges = nn.ModuleList(MixedOp(channels, activation) for _ in range(edge_count(nodes)))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = self.initial_states(s0, s1)
        for rows in node_slices(self.nodes):
            edge_ids = range(rows.start, rows.stop)
            states.append(sum(self.edges[e](h, weights[e]) for e, h in zip(edge_ids, states)))
        return sum(states[2:])


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


class SearchDenoiser(_StackedCellDenoiser):
    """Denoiser of :class:`SearchCell` s; ``forward(x [B, 2, H, W], weights [E, 8]) -> [B, 2, H, W]``."""

    def __init__(self, hidden: int = 16, cells: int = 3, nodes: int = 3, activation: str = "relu") -> None:
        super().__init__(hidden, nn.ModuleList(SearchCell(hidden, nodes, activation) for _ in range(cells)))


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


class CellSearchNet(_UnrolledMoDL):
    """The searchable FedAutoMRI network: MoDL unroll around a :class:`SearchDenoiser`.

    ``alphas``: ``nn.Parameter`` ``[E, 8]`` initialised ``1e-3 * randn`` (torch's global RNG, like
    every module init; seed it with ``train.seed.seed_everything``), shared by all cells.
    Defaults: ``hidden`` C = 16, ``cells`` L = 3, ``nodes`` = 3, ``iterations`` K = 5.
    """

    def __init__(
        self,
        hidden: int = 16,
        cells: int = 3,
        nodes: int = 3,
        iterations: int = 5,
        activation: str = "relu",
        lam: float = 0.05,
        learn_lambda: bool = True,
        cg_iterations: int = 10,
        checkpoint: bool = False,
    ) -> None:
        super().__init__(iterations, lam, learn_lambda, cg_iterations, checkpoint)
        check_positive(hidden=hidden, cells=cells, nodes=nodes)
        self.hidden, self.num_cells, self.nodes, self.activation = hidden, cells, nodes, activation
        self.denoiser = SearchDenoiser(hidden, cells, nodes, activation)
        self.alphas = nn.Parameter(1e-3 * torch.randn(edge_count(nodes), len(PRIMITIVES)))

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture weights (one tensor ``[E, 8]``)."""
        return [self.alphas]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every trainable parameter except the alphas (convs and the DC ``lambda``)."""
        return [p for name, p in self.named_parameters() if name != "alphas"]

    def arch_weights(self) -> torch.Tensor:
        """``softmax(alphas)`` per edge, ``[E, 8]``."""
        return torch.softmax(self.alphas, dim=-1)

    def space_config(self) -> dict[str, Any]:
        """The genotype fields that describe this network (see ``genotype.derive_genotype``)."""
        return {
            "hidden": self.hidden,
            "cells": self.num_cells,
            "iterations": self.iterations,
            "activation": self.activation,
        }

    def denoise(self, channels: torch.Tensor) -> torch.Tensor:
        return self.denoiser(channels, self.arch_weights())


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
