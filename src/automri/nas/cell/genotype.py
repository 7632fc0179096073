"""The FedAutoMRI cell genotype: op names, cell topology, derivation from alphas, validation.

A ``"cell"`` genotype (shared/DESIGN.md) is a JSON object::

    {"space": "cell", "hidden": 16, "cells": 3, "iterations": 5, "activation": "leaky_relu",
     "nodes": [[["sep_conv_3x3", 1], ["sep_conv_5x5", 0]], ...]}

``nodes[i]`` lists node ``i``'s ``[op, input]`` edges; input 0 and 1 are the two previous cells and
``j >= 2`` is node ``j - 2``, so node ``i`` may read inputs ``0 .. i + 1``. ``activation`` is
optional (default ``"relu"``). The order of :data:`PRIMITIVES` is the column order of the
architecture weights ``alpha`` ``[E, 8]``; rows are edges in node order (:func:`node_slices`).
"""

from __future__ import annotations

from typing import Any

import torch

from automri.errors import AutoMRIError

PRIMITIVES: tuple[str, ...] = (
    "std_conv_3x3",
    "std_conv_5x5",
    "std_conv_7x7",
    "dil_2_conv_3x3",
    "dil_3_conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
)
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu")
Edge = tuple[str, int]
CELL_KEYS = ("space", "hidden", "cells", "iterations", "nodes")
FEDNAS_V1: dict[str, Any] = {
    "space": "cell",
    "hidden": 16,
    "cells": 3,
    "iterations": 5,
    "activation": "leaky_relu",
    "nodes": [
        [["sep_conv_3x3", 1], ["sep_conv_5x5", 0]],
        [["sep_conv_3x3", 1], ["sep_conv_5x5", 2]],
        [["sep_conv_5x5", 0], ["std_conv_7x7", 3]],
    ],
}
"""The official searched genotype ``FedNAS_V1`` of GAutoMRI (methods.md 1.5), trained there with
LeakyReLU ops."""


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


def edge_labels(nodes: int) -> list[str]:
    """A label per alpha row: ``"node i <- input j"`` for the two cell inputs (the outputs of the
    previous cells), ``"node i <- node k"`` for an earlier node."""
    labels = []
    for i, rows in enumerate(node_slices(nodes)):
        for j in range(rows.stop - rows.start):
            labels.append(f"node {i} <- input {j}" if j < 2 else f"node {i} <- node {j - 2}")
    return labels


def nodes_for_edges(edges: int) -> int:
    """Inverse of :func:`edge_count`; raises ``ValueError`` when ``edges`` is not a valid count."""
    nodes = 0
    while edge_count(nodes) < edges:
        nodes += 1
    if edge_count(nodes) != edges:
        raise ValueError(f"{edges} edges is not a cell edge count (2, 5, 9, 14, ...)")
    return nodes


def derive_genotype(
    alphas: torch.Tensor,
    k: int = 2,
    all_edges: bool = False,
    hidden: int = 16,
    cells: int = 3,
    iterations: int = 5,
    activation: str = "relu",
) -> dict[str, Any]:
    """Discretise ``alphas`` ``[E, 8]`` (rows in node order) by the DARTS rule.

    Per node, every incoming edge gets its best op ``argmax_o softmax(alpha_edge)_o`` (all 8 ops
    eligible) with strength ``max_o softmax(alpha_edge)_o``; the node keeps its ``k`` strongest
    edges (ties: the lower input index), strongest first. ``all_edges=True`` keeps every edge.
    Ranking uses the SOFTMAX weights, not the raw alphas (the official GAutoMRI code ranked raw
    logits and could never pick the last op; methods.md 1.5).
    """
    alphas = alphas.detach().float().cpu()
    if alphas.dim() != 2 or alphas.shape[1] != len(PRIMITIVES):
        raise AutoMRIError(f"alphas: expected [edges, {len(PRIMITIVES)}], got {tuple(alphas.shape)}")
    try:
        nodes = nodes_for_edges(alphas.shape[0])
    except ValueError as err:
        raise AutoMRIError(f"alphas: {err}") from None
    if k < 1:
        raise AutoMRIError(f"k: expected a positive number of edges per node, got {k}")
    weights = torch.softmax(alphas, dim=-1)
    genotype_nodes = []
    for rows in node_slices(nodes):
        strength, best_op = weights[rows].max(dim=-1)
        order = sorted(range(len(strength)), key=lambda j: (-float(strength[j]), j))
        kept = order if all_edges else order[:k]
        genotype_nodes.append([[PRIMITIVES[int(best_op[j])], j] for j in kept])
    return {
        "space": "cell",
        "hidden": hidden,
        "cells": cells,
        "iterations": iterations,
        "activation": activation,
        "nodes": genotype_nodes,
    }


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def validate_cell_genotype(genotype: dict[str, Any], source: str = "genotype") -> dict[str, Any]:
    """Return the ``"cell"`` genotype ``genotype`` if it is well formed, else raise
    :class:`AutoMRIError` naming ``source`` (a file name) and the offending key."""
    for key in CELL_KEYS:
        if key not in genotype:
            raise AutoMRIError(f"{source}: key {key!r} missing (a 'cell' genotype needs {', '.join(CELL_KEYS)})")
    for key in ("hidden", "cells", "iterations"):
        if not _is_positive_int(genotype[key]):
            raise AutoMRIError(f"{source}: key {key!r} must be a positive integer, got {genotype[key]!r}")
    activation = genotype.get("activation", "relu")
    if activation not in ACTIVATIONS:
        raise AutoMRIError(f"{source}: key 'activation' must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    nodes = genotype["nodes"]
    if not isinstance(nodes, list) or not nodes:
        raise AutoMRIError(f"{source}: key 'nodes' must be a non-empty list of nodes, got {nodes!r}")
    for i, node in enumerate(nodes):
        where = f"{source}: key 'nodes[{i}]'"
        if not isinstance(node, list) or not node:
            raise AutoMRIError(f"{where} must be a non-empty list of [op, input] edges, got {node!r}")
        for edge in node:
            if not isinstance(edge, (list, tuple)) or len(edge) != 2:
                raise AutoMRIError(f"{where}: expected [op, input] pairs, got {edge!r}")
            op, j = edge
            if op not in PRIMITIVES:
                raise AutoMRIError(f"{where}: unknown op {op!r} (expected one of {', '.join(PRIMITIVES)})")
            if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j <= i + 1:
                raise AutoMRIError(
                    f"{where}: bad input index {j!r} (node {i} reads the 2 cell inputs 0, 1 and "
                    f"earlier nodes 2..{i + 1}, so 0..{i + 1})"
                )
    return genotype
