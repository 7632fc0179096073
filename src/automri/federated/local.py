"""Client-side rules of each algorithm: what a client loads, trains, keeps and sends.

Framework-free: weights are plain ``{name: tensor}`` dicts; :mod:`automri.federated.client_app`
converts Flower records to and from them. ``received`` maps a record name of the server's
message (``arrays``: global weights, ``alpha``: FedNAS architecture weights) to its tensors; ``state`` is the client's private
:class:`~automri.federated.state.ClientState` (``None`` before its first round).

Every algorithm scores two models on the client's own test split each round:

============  ==========================================  ==========================================
algorithm     ``global``                                  ``personal``
============  ==========================================  ==========================================
nonfed        (none: nothing is aggregated)               the client's own model
fedavg        the aggregated model                        the model after this round's local training
fedprox       the aggregated model                        the model after this round's local training
fedmri        global encoder + the client's own decoder   the model after this round's local training
fednas        the aggregated supernet (w and alpha)       the supernet after this round's local search
fedautomri    the aggregated model                        the Eq. 7 personalised model (``ema=False``:
                                                          the model after local training)
============  ==========================================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from automri.errors import AutoMRIError
from automri.federated.objectives import fedmri_regulariser, proximal_term
from automri.federated.options import FedConfig
from automri.federated.personalise import ema_personalised, ema_update, personal_ema
from automri.federated.state import ClientState
from automri.federated.task import (
    ClientData,
    StateDict,
    alpha_names,
    build_client_model,
    load_weights,
    round_seed,
    search_local,
    train_local,
    weights_of,
)
from automri.train.evaluate import validation_scores

Received = dict[str, StateDict]


@dataclass
class Outcome:
    """Result of one client step: records to send, metrics, the new private state (``None``:
    unchanged) and, after an evaluation, the scored models by role."""

    send: dict[str, StateDict] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    state: ClientState | None = None
    models: dict[str, nn.Module] = field(default_factory=dict)


class LocalAlgorithm:
    """FedAvg behaviour; subclasses override the hooks that differ."""

    def __init__(self, config: FedConfig, partition_id: int, data: ClientData) -> None:
        self.config, self.partition_id, self.data = config, partition_id, data

    # -- what may be shared --------------------------------------------------------------------
    @classmethod
    def shared_keys(cls, config: FedConfig) -> dict[str, set[str]]:
        """Record name -> parameter names this algorithm lets leave a client."""
        return {"arrays": set(build_client_model(config).state_dict())}

    # -- hooks ---------------------------------------------------------------------------------
    def start_model(self, received: Received, state: ClientState | None) -> nn.Module:
        """The model local training starts from (default: the received global weights)."""
        model = build_client_model(self.config)
        load_weights(model, received.get("arrays", {}))
        return model

    def local_update(self, model: nn.Module, received: Received, server_round: int) -> dict[str, float]:
        return train_local(model, self.data, self.config, self._seed(server_round))

    def to_send(self, model: nn.Module) -> dict[str, StateDict]:
        return {"arrays": weights_of(model)}

    def scored(self, received: Received, state: ClientState, server_round: int) -> tuple[dict[str, nn.Module], ClientState]:
        """The models to score this round by role, and the (possibly updated) state."""
        return {"global": self._model_from(received["arrays"]), "personal": self._model_from(state.weights["model"])}, state

    # -- the two steps -------------------------------------------------------------------------
    def train(self, server_round: int, received: Received, state: ClientState | None) -> Outcome:
        """Local training of one round."""
        model = self.start_model(received, state)
        metrics = self.local_update(model, received, server_round)
        metrics["num-examples"] = float(len(self.data.train))
        new_state = ClientState(server_round, dict(state.weights) if state else {}, dict(state.counters) if state else {})
        new_state.weights["model"] = weights_of(model)
        return Outcome(self.to_send(model), metrics, new_state)

    def evaluate(self, server_round: int, received: Received, state: ClientState | None) -> Outcome:
        """Score the global and personalised models on the client's test split."""
        if state is None:
            state = ClientState(0, {"model": weights_of(self.start_model(received, None))})
        models, new_state = self.scored(received, state, server_round)
        metrics: dict[str, float] = {"num-examples": float(len(self.data.test))}
        for role, model in models.items():
            for name, value in validation_scores(model, self.data.test, self.config.batch_size).items():
                metrics[f"{role}-{name}"] = value
        return Outcome({}, metrics, new_state if new_state is not state else None, models)

    # -- helpers -------------------------------------------------------------------------------
    def _seed(self, server_round: int) -> int:
        return round_seed(self.config, self.partition_id, server_round)

    def _model_from(self, *weights: StateDict) -> nn.Module:
        model = build_client_model(self.config)
        for part in weights:
            load_weights(model, part)
        return model


class NonFed(LocalAlgorithm):
    """Each client trains alone with the same budget; its weights never leave it."""

    @classmethod
    def shared_keys(cls, config: FedConfig) -> dict[str, set[str]]:
        return {}

    def start_model(self, received: Received, state: ClientState | None) -> nn.Module:
        model = build_client_model(self.config)
        if state is not None and "model" in state.weights:
            load_weights(model, state.weights["model"])
        return model

    def to_send(self, model: nn.Module) -> dict[str, StateDict]:
        return {}

    def scored(self, received, state, server_round):
        return {"personal": self._model_from(state.weights["model"])}, state


class FedProx(LocalAlgorithm):
    """FedAvg plus ``(mu / 2) ||w - w_global||^2`` against the round's received global weights."""

    def local_update(self, model: nn.Module, received: Received, server_round: int) -> dict[str, float]:
        global_weights = {k: v.detach().clone() for k, v in received["arrays"].items()}
        mu = self.config.mu
        return train_local(
            model, self.data, self.config, self._seed(server_round),
            extra_loss=lambda m: proximal_term(m, global_weights, mu),
        )


class FedMRI(LocalAlgorithm):
    """Only the U-Net encoder is shared; the decoder stays on the client. From round 2 the loss is
    ``lam * L + beta * posi / (nega + 1e-14)`` (:func:`fedmri_regulariser`) with the received global
    encoder as the positive and the client's OWN previous-round encoder (from its private state)
    as the negative: no client ever receives another client's weights (the official code uses
    every client's previous encoder as negatives; see docs/faithfulness.md). In round 1 there is
    no previous encoder and the regulariser is off."""

    previous: StateDict | None = None

    @staticmethod
    def encoder_keys(config: FedConfig) -> list[str]:
        """``state_dict`` keys of the shared U-Net encoder."""
        model = build_client_model(config)
        if not hasattr(model, "encoder_keys"):
            raise AutoMRIError(f"--algorithm fedmri needs a U-Net (model 'unet'), got model {config.model!r}")
        return model.encoder_keys()

    @classmethod
    def shared_keys(cls, config: FedConfig) -> dict[str, set[str]]:
        return {"arrays": set(cls.encoder_keys(config))}

    def start_model(self, received: Received, state: ClientState | None) -> nn.Module:
        model = build_client_model(self.config)
        self.previous = None
        if state is not None:
            load_weights(model, state.weights["model"])  # own decoder (and last encoder)
            keys = set(self.encoder_keys(self.config))
            self.previous = {k: v.detach().clone() for k, v in state.weights["model"].items() if k in keys}
        load_weights(model, received.get("arrays", {}))  # round 1: full model; then the global encoder
        return model

    def local_update(self, model: nn.Module, received: Received, server_round: int) -> dict[str, float]:
        if not self.previous:
            return train_local(model, self.data, self.config, self._seed(server_round), data_weight=self.config.fedmri_lam)
        server = {k: v.detach().clone() for k, v in received["arrays"].items() if k in self.previous}
        negatives, beta = [self.previous], self.config.fedmri_beta
        return train_local(
            model, self.data, self.config, self._seed(server_round), data_weight=self.config.fedmri_lam,
            extra_loss=lambda m: fedmri_regulariser(m, server, negatives, beta),
        )

    def to_send(self, model: nn.Module) -> dict[str, StateDict]:
        return {"arrays": weights_of(model, self.encoder_keys(self.config))}

    def scored(self, received, state, server_round):
        own = state.weights["model"]
        return {"global": self._model_from(own, received.get("arrays", {})), "personal": self._model_from(own)}, state


class FedNAS(LocalAlgorithm):
    """Federated MiLeNAS search: w and alpha are both sent and both averaged by the server."""

    @classmethod
    def shared_keys(cls, config: FedConfig) -> dict[str, set[str]]:
        model = build_client_model(config)
        alphas = set(alpha_names(model))
        return {"arrays": set(model.state_dict()) - alphas, "alpha": alphas}

    def start_model(self, received: Received, state: ClientState | None) -> nn.Module:
        return self._model_from(received.get("arrays", {}), received.get("alpha", {}))

    def local_update(self, model: nn.Module, received: Received, server_round: int) -> dict[str, float]:
        return search_local(model, self.data, self.config, self._seed(server_round))

    def to_send(self, model: nn.Module) -> dict[str, StateDict]:
        alphas = alpha_names(model)
        weights = weights_of(model)
        return {
            "arrays": {k: v for k, v in weights.items() if k not in alphas},
            "alpha": {k: weights[k] for k in alphas},
        }

    def scored(self, received, state, server_round):
        return {
            "global": self._model_from(received["arrays"], received["alpha"]),
            "personal": self._model_from(state.weights["model"]),
        }, state

    def evaluate(self, server_round: int, received: Received, state: ClientState | None) -> Outcome:
        """Also reports ``val-psnr`` of the global supernet (the server keeps the genotype with the
        best mean validation PSNR)."""
        outcome = super().evaluate(server_round, received, state)
        outcome.metrics["val-psnr"] = validation_scores(outcome.models["global"], self.data.val, self.config.batch_size)["psnr"]
        return outcome


class FedAutoMRI(LocalAlgorithm):
    """FedAvg of the derived network with FedAutoMRI's client-side EMA (Eq. 7).

    The personalised model is formed once per round, when the aggregated global ``w_t`` of round
    ``t`` arrives (the evaluation message), so every aggregate enters exactly once and the random
    initial weights never do. ``ema_reading="personal"`` (default) mixes the client's own model
    (after its local training of the round) with ``w_t``; ``"global"`` averages the received global
    weights only (:mod:`automri.federated.personalise`). Local training starts from the received
    global weights (``ema_train_from="global"``, default) or from the personalised weights
    (``"personal"``). What is sent is always the locally trained model, never the personalised one.
    """

    def start_model(self, received: Received, state: ClientState | None) -> nn.Module:
        if self.config.ema and self.config.ema_train_from == "personal" and state is not None and "personal" in state.weights:
            return self._model_from(state.weights["personal"])
        return super().start_model(received, state)

    def scored(self, received, state, server_round):
        if not self.config.ema:
            return super().scored(received, state, server_round)
        state = update_personal_state(state, received["arrays"], self.config.ema_gamma, server_round,
                                      self.config.ema_reading)
        return {"global": self._model_from(received["arrays"]), "personal": self._model_from(state.weights["personal"])}, state


def update_personal_state(
    state: ClientState, global_weights: StateDict, gamma: float, server_round: int, reading: str = "personal"
) -> ClientState:
    """Form the client's personalised weights of ``server_round`` from the received global weights
    (once per round: a repeated call returns ``state`` unchanged).

    ``personal``: :func:`personal_ema` of the client's own model ``state.weights["model"]`` and the
    global weights; ``global``: the bias-corrected EMA buffer ``state.weights["ema"]`` of the global
    weights. The result is ``state.weights["personal"]``; ``counters["ema-t"]`` counts the updates.
    """
    if state.counters.get("ema-round", 0) >= server_round:
        return state
    t = int(state.counters.get("ema-t", 0)) + 1
    weights = dict(state.weights)
    if reading == "personal":
        weights["personal"] = personal_ema(state.weights["model"], global_weights, gamma, t)
    else:
        weights["ema"] = ema_update(state.weights.get("ema"), global_weights, gamma)
        weights["personal"] = ema_personalised(weights["ema"], gamma, t)
    counters = {**state.counters, "ema-t": t, "ema-round": server_round}
    return ClientState(server_round, weights, counters)


LOCAL_ALGORITHMS: dict[str, type[LocalAlgorithm]] = {
    "nonfed": NonFed,
    "fedavg": LocalAlgorithm,
    "fedprox": FedProx,
    "fedmri": FedMRI,
    "fednas": FedNAS,
    "fedautomri": FedAutoMRI,
}


def local_algorithm(config: FedConfig, partition_id: int, data: ClientData) -> LocalAlgorithm:
    """The client-side rules of ``config.algorithm``."""
    return LOCAL_ALGORITHMS[config.algorithm](config, partition_id, data)

