"""Fault drills of a tampered client: what a faulty or malicious site sends instead of its
honest train reply (``FedConfig.faults["tamper"] = {"<client>": kind}``).

============== ==============================================================================
kind           what the client sends (every train round)
============== ==============================================================================
nan            every floating array filled with NaN
huge           every floating array filled with 1e30 (finite in float32)
shape          its first array with one more element in the last dimension
dtype          every floating array cast to int64
count          ``num-examples`` = 1e9
missing-metric no ``num-examples``
partition      the next client's partition id (also when the server asks who it is)
stall          nothing before the round timeout (it sleeps ``round_timeout + 1`` s first)
poison         Gaussian noise of each tensor's own standard deviation added to its weights:
               finite, right shapes, plausible magnitude, so validation lets it through and
               only a robust aggregation rule (median, trimmed mean, clipping) resists it
============== ==============================================================================

The same functions serve the ClientApp (``client_app``) and the tests' fake Grid.
"""

from __future__ import annotations

import time

import torch

from automri.federated.options import FedConfig

StateDict = dict[str, torch.Tensor]
HUGE = 1e30
INFLATED_COUNT = 1e9
STALL_EXTRA_S = 1.0


def tamper_kind(config: FedConfig, client: str) -> str | None:
    """The drill ``client`` runs, ``None`` for an honest client."""
    return config.faults.get("tamper", {}).get(client)


def claimed_partition(config: FedConfig, client: str, partition: int) -> int:
    """The partition id ``client`` claims: its own, or the next one under the ``partition`` drill."""
    if tamper_kind(config, client) == "partition":
        return (partition + 1) % config.num_clients
    return partition


def _floating(weights: StateDict, transform) -> StateDict:
    return {k: transform(k, v) if v.is_floating_point() else v for k, v in weights.items()}


def _grown(value: torch.Tensor) -> torch.Tensor:
    """``value`` with one more element in its last dimension (a scalar becomes 2 elements)."""
    return value.repeat(2) if value.dim() == 0 else torch.cat([value, value[..., :1]], dim=-1)


def tamper_weights(kind: str, weights: StateDict, seed: int = 0) -> StateDict:
    """The arrays a client running drill ``kind`` sends in place of ``weights``."""
    if kind == "nan":
        return _floating(weights, lambda k, v: torch.full_like(v, float("nan")))
    if kind == "huge":
        return _floating(weights, lambda k, v: torch.full_like(v, HUGE))
    if kind == "dtype":
        return _floating(weights, lambda k, v: v.to(torch.int64))
    if kind == "shape" and weights:
        first = next(iter(weights))
        return {**weights, first: _grown(weights[first])}
    if kind == "poison":
        generator = torch.Generator().manual_seed(seed)
        return _floating(weights, lambda k, v: v + v.std(unbiased=False) * torch.randn(v.shape, generator=generator))
    return weights


def tamper_metrics(kind: str, metrics: dict[str, float], num_clients: int) -> dict[str, float]:
    """The metrics a client running drill ``kind`` reports in place of ``metrics``."""
    metrics = dict(metrics)
    if kind == "count":
        metrics["num-examples"] = INFLATED_COUNT
    elif kind == "missing-metric":
        metrics.pop("num-examples", None)
    elif kind == "partition" and "partition-id" in metrics:
        metrics["partition-id"] = float((int(metrics["partition-id"]) + 1) % num_clients)
    return metrics


def tamper_reply(config: FedConfig, client: str, send: dict[str, StateDict], metrics: dict[str, float],
                 seed: int = 0) -> tuple[dict[str, StateDict], dict[str, float]]:
    """Records and metrics of ``client``'s train reply after its drill (unchanged when honest);
    the ``stall`` drill sleeps past the round timeout first."""
    kind = tamper_kind(config, client)
    if kind is None:
        return send, metrics
    if kind == "stall":
        time.sleep(config.round_timeout + STALL_EXTRA_S)
    send = {name: tamper_weights(kind, weights, seed) for name, weights in send.items()}
    return send, tamper_metrics(kind, metrics, config.num_clients)
