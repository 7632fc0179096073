"""Did a search separate its ops? Per edge (cell space) or cell (RIR space) of the architecture
probabilities ``p = softmax(alpha)`` ``[E, O]``:

- ``entropy``: ``-sum_o p_o log p_o`` divided by ``log O`` (1 = uniform, 0 = one op);
- ``margin``: ``p`` of the chosen (most probable) op minus ``p`` of the runner-up.

A search whose mean margin stays under :data:`SEPARATION_MARGIN` has not separated its ops: the
argmax genotype it derives is then close to arbitrary, and reports say so next to the genotype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

SEPARATION_MARGIN = 0.02
"""Mean margin below which a search is reported as not separated (uniform over 8 ops is 0)."""


def probabilities_from_logits(alpha: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Row-wise softmax of architecture logits ``[E, O]``."""
    logits = np.asarray(alpha, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def separation(probabilities: Sequence[Sequence[float]] | np.ndarray) -> dict[str, Any]:
    """``{"entropy": [E], "margin": [E], "mean_entropy", "mean_margin", "separated"}`` of
    probabilities ``[E, O]`` (rows summing to 1)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities: expected [edges, ops >= 2], got shape {p.shape}")
    entropy = -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=1) / np.log(p.shape[1])
    top_two = np.sort(p, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    mean_margin = float(margin.mean())
    return {
        "entropy": [round(float(v), 6) for v in entropy],
        "margin": [round(float(v), 6) for v in margin],
        "mean_entropy": float(entropy.mean()),
        "mean_margin": mean_margin,
        "separated": mean_margin >= SEPARATION_MARGIN,
    }


def separation_sentence(diagnostics: dict[str, Any], what: str = "The search") -> str:
    """One sentence for a report: whether the search separated its ops, with the numbers."""
    numbers = (
        f"mean margin of the chosen op over the runner-up {diagnostics['mean_margin']:.3f}, "
        f"mean normalised entropy {diagnostics['mean_entropy']:.3f}"
    )
    if diagnostics["separated"]:
        return f"{what} separated its ops ({numbers})."
    return (
        f"**{what} did not separate its ops** ({numbers}; under {SEPARATION_MARGIN} the architecture "
        "weights are still close to uniform), so the derived genotype is close to arbitrary and is not "
        "evidence of what the search space prefers."
    )
