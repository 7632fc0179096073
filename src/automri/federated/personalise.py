"""FedAutoMRI's client-side exponential moving average (EMA) of the global weights.

No public code implements it (methods.md 1.7); this is the bias-corrected reading:

- each client keeps a raw buffer ``m`` (initially 0) and a counter ``t``;
- on receiving the aggregated global weights ``w_t``: ``m <- gamma * m + (1 - gamma) * w_t``, ``t <- t + 1``;
- the personalised model is ``m / (1 - gamma^t)`` (Adam-style bias correction).

The correction is applied OUTSIDE the recursion: the corrected weights are never fed back into
``m`` (the paper's literal nesting inflates the weights by ``1 / (1 - gamma^t)`` every round). The
buffer lives only in the client's private state and is never sent.
"""

from __future__ import annotations

import torch

StateDict = dict[str, torch.Tensor]


def ema_update(buffer: StateDict | None, weights: StateDict, gamma: float) -> StateDict:
    """``gamma * buffer + (1 - gamma) * weights`` per floating-point entry (``buffer=None`` is 0).

    Integer entries (e.g. BatchNorm's ``num_batches_tracked``) are not averaged: the buffer takes
    the latest value.
    """
    updated = {}
    for key, value in weights.items():
        value = value.detach()
        if not value.is_floating_point():
            updated[key] = value.clone()
            continue
        previous = torch.zeros_like(value) if buffer is None else buffer[key]
        updated[key] = gamma * previous + (1.0 - gamma) * value
    return updated


def ema_personalised(buffer: StateDict, gamma: float, t: int) -> StateDict:
    """The bias-corrected personalised weights ``buffer / (1 - gamma^t)`` after ``t >= 1`` updates."""
    if t < 1:
        raise ValueError(f"ema_personalised: t must be >= 1 (number of updates), got {t}")
    correction = 1.0 - gamma**t
    return {k: v / correction if v.is_floating_point() else v.clone() for k, v in buffer.items()}
