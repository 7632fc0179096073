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
:data:`automri.nas.cell.genotype.PRIMITIVES` order) shared by every cell, kept apart from the network weights:
``arch_parameters()`` vs ``weight_parameters()`` (the DC weight ``lambda`` is a weight).

Deliberate differences from the official GAutoMRI code (methods.md 1.3): the head conv is LINEAR
(``D_w(x) = x + head(cells(stem(x)))``; the official ReLU on the residual branch forced a
non-negative correction) and the stem is linear in both the search and the derived network.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from automri.models.common import check_positive
from automri.nas.cell.genotype import PRIMITIVES, edge_count, node_slices
from automri.nas.cell.network import _CellInputs, _StackedCellDenoiser, _UnrolledMoDL
from automri.nas.cell.ops import build_op


class MixedOp(nn.Module):
    """``sum_o w_o * op_o(x)`` over the 8 candidate ops; ``x`` ``[B, C, H, W]``, ``weights`` ``[8]``
    (the softmax of the edge's alpha)."""

    def __init__(self, channels: int, activation: str = "relu") -> None:
        super().__init__()
        self.ops = nn.ModuleList(build_op(name, channels, activation) for name in PRIMITIVES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


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


class SearchDenoiser(_StackedCellDenoiser):
    """Denoiser of :class:`SearchCell` s; ``forward(x [B, 2, H, W], weights [E, 8]) -> [B, 2, H, W]``."""

    def __init__(self, hidden: int = 16, cells: int = 3, nodes: int = 3, activation: str = "relu") -> None:
        super().__init__(hidden, nn.ModuleList(SearchCell(hidden, nodes, activation) for _ in range(cells)))


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
