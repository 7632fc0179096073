"""Run options of a federated run (:class:`FedConfig`), shared by the ServerApp and the ClientApp.

The same object reaches both sides without relying on Flower's ``run_config`` (which
``run_simulation`` leaves empty): the simulation captures it in the app factories
(``make_server_app(config)`` / ``make_client_app(config)``), the deployment engine ships it as the
JSON string ``automri-config`` declared in the generated app's ``[tool.flwr.app.config]``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from automri.errors import AutoMRIError
from automri.federated.spec import FederationSpec, spec_from_dict

ALGORITHMS = ("nonfed", "fedavg", "fedprox", "fedmri", "fednas", "fedautomri")
"""``nonfed``: every client trains alone; ``fedavg``; ``fedprox`` (proximal term); ``fedmri``
(U-Net encoder shared, decoder local, parameter-space contrastive regulariser); ``fednas``
(federated MiLeNAS search of w and alpha); ``fedautomri`` (FedAvg of a derived genotype with a
client-side EMA)."""

SEARCH_ALGORITHMS = ("fednas",)
EMA_TRAIN_FROM = ("global", "personal")
EMA_READINGS = ("personal", "global")
WEIGHTINGS = ("samples", "equal")
RUN_CONFIG_KEY = "automri-config"


@dataclass(frozen=True)
class FedConfig:
    """Everything both apps need to know about a run.

    Attributes:
        algorithm: one of :data:`ALGORITHMS`.
        spec: the federation (clients, their data and masks, image size).
        rounds: communication rounds.
        local_epochs: local epochs per round (E).
        steps: cap on local steps per epoch (``None``: the client's whole training split).
        batch_size: slices per step.
        lr: Adam learning rate of the weights; the optimiser is re-created every round (as in the
            FedNAS / GAutoMRI search), so a client keeps no optimiser state between rounds.
        loss: training loss name (``automri.train.losses.build_loss``); ``mse_mag`` as FedAutoMRI.
        search_loss: the one ``L_tr`` (and ``L_val``) of the ``fednas`` search; ``mse_mag_z``, the
            magnitude MSE at the official code's z-scored scale (``automri.train.losses``).
        model: registry name of the network for the non-NAS algorithms (FedMRI needs ``unet``).
        model_options: keyword arguments of that network (e.g. ``{"chans": 8}``).
        weighting: ``samples`` (aggregation weight n_k / N) or ``equal`` (1 / K).
        mu: FedProx proximal coefficient in ``(mu / 2) ||w - w_global||^2``.
        fedmri_lam, fedmri_beta: FedMRI loss ``lam * L + beta * posi / (nega + 1e-14)``.
        ema: FedAutoMRI client-side EMA on (``False`` = the no-EMA ablation: plain FedAvg of the genotype).
        ema_gamma: EMA decay gamma.
        ema_reading: ``personal`` (Eq. 7 mixes the client's own model with the aggregate: every
            client's personalised model differs) or ``global`` (a Polyak average of the received
            global weights only, the same on every client); :mod:`automri.federated.personalise`.
        ema_train_from: ``global`` (default: local training starts from the received global w_t, so the
            EMA never feeds back into the aggregate) or ``personal`` (from the bias-corrected EMA).
            Both the global and the personalised model are scored every round.
        genotype: path of the genotype JSON that ``fedautomri`` trains (e.g. a ``fednas`` run's
            ``genotype.json``); ``None`` uses GAutoMRI's published ``FedNAS_V1`` genotype.
        space_options: ``CellSearchNet`` keyword arguments for ``fednas`` (e.g. ``{"hidden": 8}``) and
            network overrides for ``fedautomri`` (e.g. ``{"iterations": 2}``).
        nas_options: extra ``MiLeNAS`` keyword arguments (e.g. ``{"arch_lr": 3e-4}``).
        milenas_beta: MiLeNAS weight of the validation gradient of alpha (0.01 in GAutoMRI).
        round_timeout: seconds the server waits for the replies of one round; missing clients
            are reported and the round aggregates the others.
        node_wait: seconds the server waits for all clients to connect before a round.
        min_clients: fewest replies a round needs to aggregate (fewer: the global model is kept).
        max_message_bytes: largest message either side may send; bigger ones are refused.
        seed: seed of every random choice (model init, data order, masks).
        out: run directory (server side).
        client_root: folder of the clients' private state (``<client_root>/<client name>/``) when
            the node does not pass ``state-dir`` in its node config (simulation).
        faults: fault drills for testing tolerance: ``{"client_raise": {"<client>": round},
            "server_stop_after": round}``.
    """

    algorithm: str
    spec: FederationSpec
    rounds: int = 10
    local_epochs: int = 1
    steps: int | None = None
    batch_size: int = 4
    lr: float = 1e-3
    loss: str = "mse_mag"
    search_loss: str = "mse_mag_z"
    model: str = "unet"
    model_options: dict[str, Any] = field(default_factory=dict)
    weighting: str = "samples"
    mu: float = 0.01
    fedmri_lam: float = 1.0
    fedmri_beta: float = 100.0
    ema: bool = True
    ema_gamma: float = 0.9
    ema_train_from: str = "global"
    ema_reading: str = "personal"
    genotype: str | None = None
    space_options: dict[str, Any] = field(default_factory=dict)
    nas_options: dict[str, Any] = field(default_factory=dict)
    milenas_beta: float = 0.01
    round_timeout: float = 600.0
    node_wait: float = 120.0
    min_clients: int = 1
    max_message_bytes: int = 512 * 2**20
    seed: int = 0
    out: str = "runs/fed"
    client_root: str | None = None
    faults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def check(ok: bool, flag: str, expected: str, value: Any) -> None:
            if not ok:
                raise AutoMRIError(f"{flag} {value!r}: expected {expected}")

        check(self.algorithm in ALGORITHMS, "--algorithm", f"one of {', '.join(ALGORITHMS)}", self.algorithm)
        check(self.rounds >= 1, "--rounds", "a positive integer", self.rounds)
        check(self.local_epochs >= 1, "--local-epochs", "a positive integer", self.local_epochs)
        check(self.steps is None or self.steps >= 1, "--steps", "a positive integer", self.steps)
        check(self.batch_size >= 1, "--batch-size", "a positive integer", self.batch_size)
        check(self.weighting in WEIGHTINGS, "weighting", f"one of {WEIGHTINGS}", self.weighting)
        check(self.ema_train_from in EMA_TRAIN_FROM, "ema_train_from", f"one of {EMA_TRAIN_FROM}", self.ema_train_from)
        check(0.0 < self.ema_gamma < 1.0, "ema_gamma", "a decay in (0, 1)", self.ema_gamma)
        check(self.ema_reading in EMA_READINGS, "--ema-reading", f"one of {EMA_READINGS}", self.ema_reading)
        check(self.mu >= 0, "mu", "a number >= 0", self.mu)
        check(self.round_timeout > 0, "--round-timeout", "seconds > 0", self.round_timeout)
        check(self.max_message_bytes > 0, "max_message_bytes", "a positive byte count", self.max_message_bytes)
        check(1 <= self.min_clients <= len(self.spec.clients), "min_clients",
              f"between 1 and the number of clients ({len(self.spec.clients)})", self.min_clients)
        unknown = set(self.faults) - {"client_raise", "server_stop_after"}
        check(not unknown, "faults", "only 'client_raise' and 'server_stop_after'", sorted(unknown))
        names = set(self.spec.client_names())
        for name in self.faults.get("client_raise", {}):
            check(name in names, "faults.client_raise", f"a client name of the spec {sorted(names)}", name)

    @property
    def num_clients(self) -> int:
        return len(self.spec.clients)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON), the inverse of :meth:`from_dict`."""
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> FedConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys raise :class:`AutoMRIError`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise AutoMRIError(f"{source}: unknown federated option {sorted(unknown)[0]!r}")
        spec = spec_from_dict(data["spec"], f"{source}: spec")
        return cls(**{**data, "spec": spec})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = RUN_CONFIG_KEY) -> FedConfig:
        return cls.from_dict(json.loads(text), source)

    def with_changes(self, **changes: Any) -> FedConfig:
        """A copy with some options replaced (validated again)."""
        return replace(self, **changes)


RESUME_MAY_CHANGE = ("rounds", "round_timeout", "node_wait", "faults", "out", "client_root")
"""Options a resumed run may change; every other option must equal the original run's."""


def check_resume_compatible(saved: FedConfig, new: FedConfig, source: str) -> None:
    """Raise :class:`AutoMRIError` when ``new`` differs from ``saved`` in an option that shapes
    the computation (anything but :data:`RESUME_MAY_CHANGE`)."""
    old_data, new_data = saved.to_dict(), new.to_dict()
    for key in old_data:
        if key not in RESUME_MAY_CHANGE and old_data[key] != new_data[key]:
            raise AutoMRIError(
                f"--resume: option {key!r} differs from the run in {source} "
                f"({old_data[key]!r} there, {new_data[key]!r} now)"
            )
