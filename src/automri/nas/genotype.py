"""Genotypes: derivation from architecture weights, JSON (de)serialisation, validation, and
building the network a genotype describes.

A ``"cell"`` genotype (shared/DESIGN.md) is a JSON object::

    {"space": "cell", "hidden": 16, "cells": 3, "iterations": 5, "activation": "leaky_relu",
     "nodes": [[["sep_conv_3x3", 1], ["sep_conv_5x5", 0]], ...]}

``nodes[i]`` lists node ``i``'s ``[op, input]`` edges; input 0 and 1 are the two previous cells and
``j >= 2`` is node ``j - 2``, so node ``i`` may read inputs ``0 .. i + 1``. ``activation`` is
optional (default ``"relu"``). ``"rir"`` genotypes (EMR-NAS) are built by
``automri.nas.rir_space.RIRNet.from_genotype``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from automri.atomic import write_json_atomic
from automri.errors import AutoMRIError
from automri.nas.cell_space import CellNet, node_slices, nodes_for_edges
from automri.nas.ops import ACTIVATIONS, PRIMITIVES

SPACES = ("cell", "rir")
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


def validate_genotype(genotype: Any, source: str = "genotype") -> dict[str, Any]:
    """Return ``genotype`` if it is a well-formed genotype dict, else raise :class:`AutoMRIError`
    naming ``source`` (a file name) and the offending key.

    ``"cell"`` genotypes are checked completely here; ``"rir"`` genotypes only for their space
    (their contents are checked by ``RIRNet.from_genotype``).
    """
    if not isinstance(genotype, dict):
        raise AutoMRIError(f"{source}: expected a JSON object (genotype), got {type(genotype).__name__}")
    if "space" not in genotype:
        raise AutoMRIError(f"{source}: key 'space' missing (expected one of {', '.join(SPACES)})")
    if genotype["space"] not in SPACES:
        raise AutoMRIError(f"{source}: key 'space' is {genotype['space']!r}, expected one of {', '.join(SPACES)}")
    if genotype["space"] != "cell":
        return genotype
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


def save_genotype(path: str | os.PathLike[str], genotype: dict[str, Any]) -> Path:
    """Validate and write ``genotype`` as indented JSON atomically (:mod:`automri.atomic`)."""
    path = Path(path)
    validate_genotype(genotype, source=str(path))
    return write_json_atomic(path, genotype)


def load_genotype(path: str | os.PathLike[str], space: str | None = None) -> dict[str, Any]:
    """Read and validate a genotype JSON file; ``space`` (optional) is the space it must belong to."""
    path = Path(path)
    if not path.is_file():
        raise AutoMRIError(f"{path}: genotype file not found")
    try:
        genotype = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AutoMRIError(f"{path}: not valid JSON ({err})") from None
    validate_genotype(genotype, source=str(path))
    if space is not None and genotype["space"] != space:
        raise AutoMRIError(f"{path}: key 'space' is {genotype['space']!r}, expected {space!r}")
    return genotype


def _resolve(genotype: dict[str, Any] | str | os.PathLike[str], space: str) -> dict[str, Any]:
    """A genotype dict from a dict or a JSON file path, checked to belong to ``space``."""
    if isinstance(genotype, (str, os.PathLike)):
        return load_genotype(genotype, space=space)
    validate_genotype(genotype)
    if genotype["space"] != space:
        raise AutoMRIError(f"genotype: key 'space' is {genotype['space']!r}, expected {space!r}")
    return genotype


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
    resolved = _resolve(FEDNAS_V1 if genotype is None else genotype, "cell")
    return CellNet.from_genotype(
        resolved, lam=lam, learn_lambda=learn_lambda, cg_iterations=cg_iterations, checkpoint=checkpoint, **overrides
    )


def build_network(genotype: dict[str, Any], **overrides: Any) -> nn.Module:
    """The reconstruction network a genotype describes (``"cell"`` -> :class:`CellNet`,
    ``"rir"`` -> ``RIRNet``); ``overrides`` are passed to its ``from_genotype``."""
    validate_genotype(genotype)
    if genotype["space"] == "cell":
        return CellNet.from_genotype(genotype, **overrides)
    from automri.nas.rir_space import RIRNet

    return RIRNet.from_genotype(genotype, **overrides)
