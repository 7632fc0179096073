"""The EMR-NAS genotype: 15 op names (one per cell) and the network settings, the paper's searched
architectures, and the derivation of a genotype from the folds' architecture probabilities.

A ``"rir"`` genotype is ``{"space": "rir", "ops": ["O5", "O8", ...], "width": 19, ...}``; missing
settings take :data:`GENOTYPE_DEFAULTS`. Derivation: EMR-NAS architecture ensembling and display.

The paper (Sec. 3) sums the probabilities ``p = softmax(alpha)`` of the three folds' searches per
cell and discretises the sum by argmax. The homogeneous variant (ablation G of Table 3) gives every
cell of a BasicBlock the block's most probable op (argmax of the probabilities summed over the
folds and over the block's cells).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from automri.errors import AutoMRIError
from automri.nas.rir.ops import DEFAULT_RESIDUAL_SCALE, OPS

DEFAULT_WIDTH = 19
DEFAULT_RIR_SCALE = 0.2
PAPER_PARAMS = 330_000
PAPER_CARDIAC_OPS = ("O5 O8 O8 O8 O8 O8 O4 O1 O2 O8 O8 O8 O6 O8 O8").split()
PAPER_BRAIN_OPS = ("O6 O6 O2 O4 O1 O2 O3 O8 O1 O3 O6 O3 O3 O1 O3").split()
GENOTYPE_DEFAULTS: dict[str, Any] = {
    "width": DEFAULT_WIDTH,
    "components": 5,
    "cells_per_block": 3,
    "batch_norm": False,
    "rir": True,
    "residual_scale": DEFAULT_RESIDUAL_SCALE,
    "rir_scale": DEFAULT_RIR_SCALE,
    "connection_mode": "fusion",
    "tdc_real_mode": "abs",
}
Probabilities = Sequence[Sequence[Sequence[float]]]


def _summed(prob_list: Probabilities, op_names: Sequence[str]) -> np.ndarray:
    """Sum over folds of ``[folds][cells][ops]`` probabilities -> ``[cells, ops]``."""
    if len(prob_list) == 0:
        raise AutoMRIError("prob_list: expected the probabilities of at least one fold, got none")
    arrays = [np.asarray(p, dtype=np.float64) for p in prob_list]
    shape = arrays[0].shape
    if len(shape) != 2 or shape[1] != len(op_names):
        raise AutoMRIError(f"prob_list: expected [cells, {len(op_names)}] per fold, got shape {shape}")
    for index, array in enumerate(arrays):
        if array.shape != shape:
            raise AutoMRIError(f"prob_list: fold {index} has shape {array.shape}, fold 0 has {shape}")
    return np.sum(arrays, axis=0)


def ensemble_genotype(prob_list: Probabilities, op_names: Sequence[str] = OPS) -> list[str]:
    """Per cell, the op with the largest probability summed over folds (ties: the lower index)."""
    return [op_names[int(i)] for i in _summed(prob_list, op_names).argmax(axis=1)]


def homogeneous_genotype(prob_list: Probabilities, cells_per_block: int, op_names: Sequence[str] = OPS) -> list[str]:
    """Per BasicBlock, the op with the largest probability summed over folds and the block's cells,
    repeated for every cell of the block."""
    total = _summed(prob_list, op_names)
    if total.shape[0] % cells_per_block:
        raise AutoMRIError(f"cells_per_block: {total.shape[0]} cells do not split into blocks of {cells_per_block}")
    blocks = total.reshape(-1, cells_per_block, len(op_names)).sum(axis=1)
    return [op_names[int(i)] for i in blocks.argmax(axis=1) for _ in range(cells_per_block)]


def format_genotype(ops: Sequence[str], cells_per_block: int = 3) -> str:
    """The paper's notation, e.g. ``"[O5 O8 O8|O8 O8 O8|O4 O1 O2|O8 O8 O8|O6 O8 O8]"``."""
    if cells_per_block < 1 or len(ops) % cells_per_block:
        raise AutoMRIError(f"cells_per_block: {len(ops)} ops do not split into blocks of {cells_per_block}")
    blocks = [" ".join(ops[i : i + cells_per_block]) for i in range(0, len(ops), cells_per_block)]
    return "[" + "|".join(blocks) + "]"
