"""Extra terms of the local objectives: FedProx's proximal term and FedMRI's regulariser.

Both return a scalar tensor that is differentiable with respect to the model's parameters; the
reference weights are frozen copies taken at the start of the round.
"""

from __future__ import annotations

import torch
from torch import nn

StateDict = dict[str, torch.Tensor]
FEDMRI_EPS = 1e-14


def _parameters(model: nn.Module, keys: list[str] | set[str]) -> dict[str, nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if name in keys}


def proximal_term(model: nn.Module, global_weights: StateDict, mu: float) -> torch.Tensor:
    """FedProx (``litian96/FedProx``): ``(mu / 2) * sum ||w - w_global||^2`` over the model's
    parameters that appear in ``global_weights`` (the round's received global model)."""
    params = _parameters(model, global_weights.keys())
    squared = sum(((p - global_weights[name].to(p.dtype)) ** 2).sum() for name, p in params.items())
    return 0.5 * mu * squared


def fedmri_regulariser(
    model: nn.Module, server_weights: StateDict, peers: list[StateDict], beta: float
) -> torch.Tensor:
    """FedMRI's weighted contrastive term as coded (``engine.train_one_epoch_ours``):
    ``beta * posi / (nega + 1e-14)`` with ``posi = sum_k ||theta_k - server_k||_1`` over the shared
    parameters ``k`` (the keys of ``server_weights``, the received global encoder) and
    ``nega = sum_peers sum_k ||theta_k - peer_k||_1`` over the negatives ``peers`` (in the official
    code every client's pre-aggregation encoder of the previous round; AutoMRI passes only the
    client's own previous encoder). A parameter-space ratio, not a feature-space InfoNCE."""
    params = _parameters(model, server_weights.keys())
    posi = sum((p - server_weights[name].to(p.dtype)).abs().sum() for name, p in params.items())
    nega = sum(
        (p - peer[name].to(p.dtype)).abs().sum() for peer in peers for name, p in params.items()
    )
    return beta * posi / (nega + FEDMRI_EPS)
