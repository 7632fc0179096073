"""Server-side aggregation rules: weighted mean (FedAvg), coordinate-wise median, trimmed mean,
and update-norm clipping.

Every rule works per tensor on ``{name: tensor}`` dicts (the replies' arrays after validation by
:mod:`automri.federated.guard`). ``median`` and ``trimmed-mean`` are Flower's own formulas
(``FedMedian``: ``np.median`` over the stacked client tensors; ``FedTrimmedAvg``: its
``trim_mean``, which cuts ``int(beta * K)`` values at each end of every coordinate); like Flower's,
they ignore the sample counts (each client counts once). Flower's strategies themselves cannot be
used as they are: they need exactly one ArrayRecord per reply and run their own round loop, while
AutoMRI aggregates sub-records (FedMRI's encoder, FedNAS's alpha) inside its own strategies.

Clipping (``clip_norm``) bounds the L2 norm of each client's update ``w_k - w_global`` over the
floating tensors of one record before any rule is applied, so one site can move the global model
by at most ``clip_norm`` (``p_k * clip_norm`` under FedAvg).
"""

from __future__ import annotations

import numpy as np
import torch
from flwr.serverapp.strategy.fedtrimmedavg import trim_mean

from automri.errors import AutoMRIError

StateDict = dict[str, torch.Tensor]
AGGREGATIONS = ("fedavg", "median", "trimmed-mean")
"""``fedavg``: ``sum_k p_k w_k`` (weights from ``weighting``); ``median``; ``trimmed-mean``."""


def average_weights(weights: list[StateDict], coefficients: list[float]) -> StateDict:
    """``sum_k c_k w_k / sum_k c_k`` per tensor (accumulated in float64, cast back to the dtype);
    non-floating entries are taken from the first set."""
    if not weights or len(weights) != len(coefficients):
        raise ValueError("average_weights: need one coefficient per weight set (and at least one set)")
    total = float(sum(coefficients))
    if total <= 0:
        raise ValueError(f"average_weights: coefficients must sum to > 0, got {coefficients}")
    averaged = {}
    for key, first in weights[0].items():
        if not first.is_floating_point():
            averaged[key] = first.clone()
            continue
        acc = sum(c * w[key].double() for c, w in zip(coefficients, weights))
        averaged[key] = (acc / total).to(first.dtype)
    return averaged


def _coordinate_wise(weights: list[StateDict], reduce) -> StateDict:
    """Apply ``reduce(stacked [K, ...] float64 array) -> array`` to every floating tensor."""
    combined = {}
    for key, first in weights[0].items():
        if not first.is_floating_point():
            combined[key] = first.clone()
            continue
        stacked = np.stack([w[key].double().numpy() for w in weights])
        combined[key] = torch.from_numpy(np.asarray(reduce(stacked))).to(first.dtype)
    return combined


def median_weights(weights: list[StateDict]) -> StateDict:
    """Coordinate-wise median (Flower's ``FedMedian``)."""
    if not weights:
        raise ValueError("median_weights: need at least one weight set")
    return _coordinate_wise(weights, lambda stacked: np.median(stacked, axis=0))


def check_trim(trim_fraction: float, clients: int) -> None:
    """:class:`AutoMRIError` unless ``trim_fraction`` cuts at least one of ``clients`` values per
    end and keeps at least one (Flower's ``trim_mean`` cuts ``int(trim_fraction * clients)``)."""
    if clients < 3:
        raise AutoMRIError(f"--aggregation trimmed-mean: needs at least 3 clients, the spec has {clients}")
    if not 0.0 <= trim_fraction < 0.5 or int(trim_fraction * clients) < 1:
        raise AutoMRIError(
            f"--trim-fraction {trim_fraction:g}: expected a fraction in [1/{clients}, 0.5) so that the trimmed "
            f"mean of {clients} clients drops at least one value at each end"
        )


def trimmed_mean_weights(weights: list[StateDict], trim_fraction: float) -> StateDict:
    """Coordinate-wise trimmed mean (Flower's ``FedTrimmedAvg.trim_mean``); with fewer replies than
    the cut needs (``int(trim_fraction * K) == 0``) nothing is cut, i.e. the plain mean."""
    if not weights:
        raise ValueError("trimmed_mean_weights: need at least one weight set")
    return _coordinate_wise(weights, lambda stacked: trim_mean(stacked, trim_fraction))


def clip_update(weights: StateDict, reference: StateDict, max_norm: float) -> StateDict:
    """``reference + (weights - reference) * min(1, max_norm / ||weights - reference||_2)``, the
    norm taken over all floating tensors of ``weights`` together (non-floating ones unchanged)."""
    deltas = {k: v.double() - reference[k].double() for k, v in weights.items() if v.is_floating_point()}
    norm = float(torch.sqrt(sum((d ** 2).sum() for d in deltas.values()))) if deltas else 0.0
    if norm <= max_norm:
        return weights
    scale = max_norm / norm
    return {k: (reference[k].double() + deltas[k] * scale).to(v.dtype) if k in deltas else v for k, v in weights.items()}


def aggregate(weights: list[StateDict], coefficients: list[float], rule: str, reference: StateDict | None = None,
              clip_norm: float | None = None, trim_fraction: float = 0.34) -> StateDict:
    """Combine client ``weights`` by ``rule`` (one of :data:`AGGREGATIONS`), after clipping each
    update against ``reference`` (the global weights it started from) when ``clip_norm`` is set."""
    if clip_norm is not None:
        if reference is None:
            raise ValueError("aggregate: clip_norm needs the reference (global) weights")
        weights = [clip_update(w, reference, clip_norm) for w in weights]
    if rule == "fedavg":
        return average_weights(weights, coefficients)
    if rule == "median":
        return median_weights(weights)
    if rule == "trimmed-mean":
        return trimmed_mean_weights(weights, trim_fraction)
    raise AutoMRIError(f"--aggregation {rule!r}: expected one of {', '.join(AGGREGATIONS)}")


def all_finite(weights: StateDict) -> bool:
    """True when every floating tensor of ``weights`` is finite."""
    return all(bool(torch.isfinite(v).all()) for v in weights.values() if v.is_floating_point())
