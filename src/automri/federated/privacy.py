"""Differential privacy of the model updates, with Flower's mechanisms and Flower's accountant.

Two modes (``FedConfig.dp``), client-level: a site's whole update is the unit of privacy.

``central`` (server-side fixed clipping, as Flower's ``DifferentialPrivacyServerSideFixedClipping``):
the server clips each validated update ``w_k - w_global`` to ``dp_clip`` (L2, over the floating
tensors), averages the K accepted replies with equal weights and adds Gaussian noise of standard
deviation ``dp_noise * dp_clip / K`` (Flower's ``compute_stdv``) to every floating tensor of the
average (Flower's ``add_gaussian_noise_inplace``). The updates are validated before clipping, which
Flower's wrapper cannot do: it clips the raw replies first (a wrong-shape reply raises in its
``compute_clip_model_update``) and skips the whole round when any client errs.

``local`` (Flower's ``LocalDpMod`` on every train reply): each client clips its own update to
``dp_clip`` and adds Gaussian noise of standard deviation ``dp_clip * sqrt(2 ln(1.25 / delta)) /
epsilon`` (the mod's formula, sensitivity ``dp_clip``) before the reply leaves the site; the server
sees only noised updates.

Accounting: after every released aggregate :class:`PrivacyLedger` composes one Gaussian event in
Flower's RDP accountant (``RdpAccountant``; every site takes part in every round, so no sampling
amplification) and reports the cumulative epsilon at ``dp_delta``. In ``local`` mode the event's
noise multiplier is the mod's standard deviation over its sensitivity.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from flwr.app import Context, Message
from flwr.clientapp.mod import LocalDpMod
from flwr.clientapp.typing import ClientAppCallable
from flwr.supercore.differential_privacy import add_gaussian_noise_inplace, compute_stdv
from flwr.supercore.privacy_accounting import GaussianPrivacyEvent, NeighboringRelation, PrivacyConfig, SamplingMethod
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

StateDict = dict[str, torch.Tensor]
DP_MODES = ("none", "central", "local")
DP_ALGORITHMS = ("fedavg", "fedprox", "fedautomri")
"""Algorithms whose train reply is one ArrayRecord of the whole model (what ``LocalDpMod`` and the
server-side mechanism clip and noise). FedMRI shares only an encoder, FedNAS a second record
(alpha) whose sensitivity the single clipping norm does not bound, Non-Fed nothing."""


def local_noise_multiplier(epsilon: float, delta: float) -> float:
    """``LocalDpMod``'s noise standard deviation over its sensitivity: ``sqrt(2 ln(1.25/delta)) / epsilon``."""
    return math.sqrt(2.0 * math.log(1.25 / delta)) / epsilon


def add_central_noise(weights: StateDict, noise_multiplier: float, clip_norm: float, clients: int,
                      seed: int) -> StateDict:
    """``weights`` (the clipped, equally weighted mean of ``clients`` updates) plus Gaussian noise of
    std ``noise_multiplier * clip_norm / clients`` on every floating tensor (integer buffers unchanged).
    Flower's generator is NumPy's global one: it is seeded with ``seed`` here and restored after."""
    std = compute_stdv(noise_multiplier, clip_norm, clients)
    names = [k for k, v in weights.items() if v.is_floating_point()]
    arrays = [weights[k].detach().cpu().numpy().copy() for k in names]
    saved = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        add_gaussian_noise_inplace(arrays, std)
    finally:
        np.random.set_state(saved)
    noised = dict(weights)
    noised.update({k: torch.from_numpy(a).to(weights[k].dtype) for k, a in zip(names, arrays)})
    return noised


def local_dp(msg: Message, context: Context, call_next: ClientAppCallable, clip_norm: float, epsilon: float,
             delta: float, seed: int) -> Message:
    """Run ``call_next`` (the ClientApp) under Flower's ``LocalDpMod(clip_norm, sensitivity=clip_norm,
    epsilon, delta)``. The mod draws its noise from NumPy's global generator right after the app
    returns; the app itself reseeds that generator (``seed_everything``), so it is seeded with
    ``seed`` at that moment (else every round and site would add the same noise), and restored after."""

    def app_then_seed(message: Message, ctx: Context) -> Message:
        reply = call_next(message, ctx)
        np.random.seed(seed % 2**32)
        return reply

    saved = np.random.get_state()
    try:
        return LocalDpMod(clip_norm, clip_norm, epsilon, delta)(msg, context, app_then_seed)
    finally:
        np.random.set_state(saved)


class PrivacyLedger:
    """Flower's RDP accountant over the run's releases (one per aggregated round).

    Args:
        noise_multiplier: the Gaussian mechanism's noise over its sensitivity, per release.
        delta: the delta at which epsilon is reported.
        clients: the federation's sites (the population; all take part in every round).
    """

    def __init__(self, noise_multiplier: float, delta: float, clients: int) -> None:
        self.noise_multiplier, self.clients = noise_multiplier, clients
        self.accountant = RdpAccountant(PrivacyConfig(
            target_delta=delta, population_size=clients,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        ))

    def release(self, participants: int) -> None:
        """Compose one aggregate released from ``participants`` sites' updates."""
        self.accountant.compose(GaussianPrivacyEvent(noise_multiplier=self.noise_multiplier,
                                                     sample_size=participants, population_size=self.clients))

    def spent(self) -> dict[str, Any]:
        """``{"epsilon", "delta", "releases"}`` so far (epsilon 0 before the first release)."""
        if self.accountant.num_releases == 0:
            return {"epsilon": 0.0, "delta": self.accountant.config.target_delta, "releases": 0}
        spent = self.accountant.get_privacy_spent()
        return {"epsilon": spent.epsilon, "delta": spent.delta, "releases": spent.num_releases}

    def state_dict(self) -> dict[str, Any]:
        return self.accountant.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.accountant.load_state_dict(state)
