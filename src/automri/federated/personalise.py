"""FedAutoMRI's client-side exponential moving average (EMA), Eq. 7:
``w_c^t = (gamma * w_c^(t-1) + (1 - gamma) * w^t) / (1 - gamma^t)``.

No public code implements it (methods.md 1.7). Two readings, both bias-corrected as Adam does
(the correction weights a history that starts empty; it is never fed back into the recursion, which
the paper's literal nesting would do, inflating the weights by ``1 / (1 - gamma^t)`` every round):

- ``personal`` (default, :func:`personal_ema`): ``w_c^(t-1)`` is the CLIENT'S OWN model, the one it
  holds when ``w^t`` arrives (after its local training of round ``t``):
  ``w_c^t = (gamma (1 - gamma^(t-1)) w_own + (1 - gamma) w^t) / (1 - gamma^t)``. The coefficients
  sum to 1; in round 1 (no history yet) the personalised model is the global one, later it leans
  ``gamma`` towards the client's own weights. Every client's personalised model differs.
- ``global`` (:func:`ema_update` + :func:`ema_personalised`): a raw buffer ``m`` (initially 0) of
  the received global weights only, ``m <- gamma m + (1 - gamma) w^t``, read as ``m / (1 - gamma^t)``:
  a Polyak average of the server model, the same on every client.

The personalised weights live only in the client's private state and are never sent.
"""

from __future__ import annotations

import torch

from automri.errors import AutoMRIError

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


def personal_ema(own: StateDict, global_weights: StateDict, gamma: float, t: int) -> StateDict:
    """Eq. 7, personal reading: ``(gamma (1 - gamma^(t-1)) own + (1 - gamma) global) / (1 - gamma^t)``
    per floating-point entry at the ``t``-th update (``t >= 1``); integer entries take the global value."""
    if t < 1:
        raise ValueError(f"personal_ema: t must be >= 1 (number of updates), got {t}")
    own_weight = gamma * (1.0 - gamma ** (t - 1))
    correction = 1.0 - gamma**t
    mixed = {}
    for key, value in global_weights.items():
        value = value.detach()
        if not value.is_floating_point():
            mixed[key] = value.clone()
            continue
        mixed[key] = (own_weight * own[key].to(value.dtype) + (1.0 - gamma) * value) / correction
    return mixed


class PrivateWeightsError(AutoMRIError):
    """A client was about to send its personalised weights."""


def check_private(send: dict[str, StateDict], personal: StateDict | None, what: str) -> None:
    """Refuse a message whose arrays are the client's personalised weights (every floating-point
    entry identical): those stay on the client. Called on every outgoing client message."""
    if not personal:
        return
    for record, weights in send.items():
        shared = [k for k, v in weights.items() if k in personal and v.is_floating_point()]
        if shared and all(torch.equal(weights[k].cpu(), personal[k].cpu()) for k in shared):
            raise PrivateWeightsError(f"{what}: record {record!r} holds the personalised weights, which never leave a client")
