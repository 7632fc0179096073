"""Differential privacy of the model updates, with Flower's mechanisms and Flower's accountant.

Two modes (``FedConfig.dp``), client-level: a site's whole update is the unit of privacy.

``central`` (server-side fixed clipping, as Flower's ``DifferentialPrivacyServerSideFixedClipping``):
the server clips each validated update ``w_k - w_global`` to ``dp_clip`` (L2, over the floating
tensors), sums the accepted ones and divides by the federation's size K (a fixed denominator, so
that one site's update moves the release by at most ``dp_clip / K`` whatever the others do; a
missing site shrinks the step instead of changing the sensitivity), and adds Gaussian noise of
standard deviation ``dp_noise * dp_clip / K`` (Flower's ``compute_stdv``) to every floating tensor
(Flower's ``add_gaussian_noise_inplace``). The updates are validated before clipping, which
Flower's wrapper cannot do: it clips the raw replies first (a wrong-shape reply raises in its
``compute_clip_model_update``) and skips the whole round when any client errs.

``local`` (Flower's ``LocalDpMod`` on every train reply): each client clips its own update to
``dp_clip`` and adds Gaussian noise of standard deviation ``dp_clip * sqrt(2 ln(1.25 / delta)) /
epsilon`` (the mod's formula, sensitivity ``dp_clip``) before the reply leaves the site; the server
sees only noised updates. That formula is the classical Gaussian mechanism, an (epsilon, delta)
guarantee per round only for epsilon < 1; the reported budget is always the RDP account of the
noise actually added.

The noise comes from the operating system's entropy (128 bits): nobody who knows the run's
options, its seed included, can regenerate and subtract it. ``dp_seeded_noise`` draws it from the
run's seed instead, so that benchmarks repeat; it voids the guarantee against anyone who knows the
run config, and is for measurements only.

Accounting: :class:`PrivacyLedger` composes one Gaussian event per release in Flower's RDP
accountant (``RdpAccountant``; every site takes part in every round, so no sampling amplification)
and reports the cumulative epsilon at ``dp_delta``. It writes itself atomically at every release
(``<run>/privacy.json``), so a server that crashes after releasing and before its end-of-round
checkpoint does not forget the release when the round is redone. Only the weights are protected:
the metrics a site reports (sample count, loss, PSNR) travel un-noised.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import Context, Message
from flwr.clientapp.mod import LocalDpMod
from flwr.clientapp.typing import ClientAppCallable
from flwr.supercore.differential_privacy import add_gaussian_noise_inplace, compute_stdv
from flwr.supercore.privacy_accounting import GaussianPrivacyEvent, NeighboringRelation, PrivacyConfig, SamplingMethod
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

from automri.atomic import write_text_atomic

StateDict = dict[str, torch.Tensor]
DP_MODES = ("none", "central", "local")
PRIVACY_LEDGER = "privacy.json"
"""The run directory's privacy ledger (:class:`PrivacyLedger`)."""
DP_ALGORITHMS = ("fedavg", "fedprox", "fedautomri")
"""Algorithms whose train reply is one ArrayRecord of the whole model (what ``LocalDpMod`` and the
server-side mechanism clip and noise). FedMRI shares only an encoder, FedNAS a second record
(alpha) whose sensitivity the single clipping norm does not bound, Non-Fed nothing."""


def local_noise_multiplier(epsilon: float, delta: float) -> float:
    """``LocalDpMod``'s noise standard deviation over its sensitivity: ``sqrt(2 ln(1.25/delta)) / epsilon``."""
    return math.sqrt(2.0 * math.log(1.25 / delta)) / epsilon


def seed_noise(seed: int | None) -> None:
    """Seed NumPy's global generator (Flower's DP functions draw from it): from ``seed``
    (``dp_seeded_noise``, reproducible) or, with ``None``, from 128 bits of OS entropy."""
    if seed is None:
        np.random.seed(np.random.SeedSequence().generate_state(624))
    else:
        np.random.seed(seed % 2**32)


def add_central_noise(weights: StateDict, reference: StateDict, accepted: int, clients: int,
                      noise_multiplier: float, clip_norm: float, seed: int | None) -> StateDict:
    """The central-DP release: ``weights`` is the equal mean of ``accepted`` clipped updates around
    ``reference`` (the round's global model); the release is ``reference + sum_k update_k / clients``
    plus Gaussian noise of std ``noise_multiplier * clip_norm / clients`` on every floating tensor
    (integer entries unchanged). ``seed``: see :func:`seed_noise`; the global generator is restored after."""
    std = compute_stdv(noise_multiplier, clip_norm, clients)
    names = [k for k, v in weights.items() if v.is_floating_point()]
    scale = accepted / clients  # the mean of the accepted updates -> their sum over the fixed K
    arrays = [(reference[k].double() + (weights[k].double() - reference[k].double()) * scale).numpy() for k in names]
    saved = np.random.get_state()
    seed_noise(seed)
    try:
        add_gaussian_noise_inplace(arrays, std)
    finally:
        np.random.set_state(saved)
    noised = dict(weights)
    noised.update({k: torch.from_numpy(a).to(weights[k].dtype) for k, a in zip(names, arrays)})
    return noised


def local_dp(msg: Message, context: Context, call_next: ClientAppCallable, clip_norm: float, epsilon: float,
             delta: float, seed: int | None) -> Message:
    """Run ``call_next`` (the ClientApp) under Flower's ``LocalDpMod(clip_norm, sensitivity=clip_norm,
    epsilon, delta)``. The mod draws its noise from NumPy's global generator right after the app
    returns, and the app reseeds that generator itself (``seed_everything``): it is therefore
    seeded (:func:`seed_noise`) at that moment, else every round and site would add the same
    noise, and restored after."""

    def app_then_seed(message: Message, ctx: Context) -> Message:
        reply = call_next(message, ctx)
        seed_noise(seed)
        return reply

    saved = np.random.get_state()
    try:
        return LocalDpMod(clip_norm, clip_norm, epsilon, delta)(msg, context, app_then_seed)
    finally:
        np.random.set_state(saved)


class PrivacyLedger:
    """Flower's RDP accountant over the run's releases, kept on disk.

    Args:
        noise_multiplier: the Gaussian mechanism's noise over its sensitivity, per release.
        delta: the delta at which epsilon is reported.
        clients: the federation's sites (the population; all take part in every round).
        path: the JSON file the ledger is written to at every release and read from when it
            exists (a resumed run continues its budget); ``None``: memory only.
    """

    def __init__(self, noise_multiplier: float, delta: float, clients: int, path: Path | None = None) -> None:
        self.noise_multiplier, self.clients, self.path = noise_multiplier, clients, path
        self.accountant = RdpAccountant(PrivacyConfig(
            target_delta=delta, population_size=clients,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        ))
        if path is not None and path.is_file():
            self.accountant.load_state_dict(json.loads(path.read_text(encoding="utf-8")))

    def release(self, participants: int) -> None:
        """Compose one release made from ``participants`` sites' updates, and write the ledger."""
        self.accountant.compose(GaussianPrivacyEvent(noise_multiplier=self.noise_multiplier,
                                                     sample_size=participants, population_size=self.clients))
        if self.path is not None:
            write_text_atomic(self.path, json.dumps(self.accountant.state_dict()))

    def spent(self) -> dict[str, Any]:
        """``{"epsilon", "delta", "releases"}`` so far (epsilon 0 before the first release)."""
        if self.accountant.num_releases == 0:
            return {"epsilon": 0.0, "delta": self.accountant.config.target_delta, "releases": 0}
        spent = self.accountant.get_privacy_spent()
        return {"epsilon": spent.epsilon, "delta": spent.delta, "releases": spent.num_releases}
