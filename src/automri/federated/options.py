"""Run options of a federated run (:class:`FedConfig`), shared by the ServerApp and the ClientApp.

The same object reaches both sides without relying on Flower's ``run_config`` (which
``run_simulation`` leaves empty): the simulation captures it in the app factories
(``make_server_app(config)`` / ``make_client_app(config)``), the deployment engine ships it as the
JSON string ``automri-config`` declared in the generated app's ``[tool.flwr.app.config]``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from automri.errors import AutoMRIError
from automri.federated.privacy import DP_ALGORITHMS, DP_MODES
from automri.federated.robust import AGGREGATIONS, check_trim
from automri.federated.spec import FederationSpec, load_spec, spec_from_dict

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
TAMPER_KINDS = ("nan", "huge", "shape", "dtype", "count", "missing-metric", "partition", "stall", "poison")
"""What a drilled client sends instead of its honest reply (see :mod:`automri.federated.drills`)."""
FAULT_KEYS = ("client_raise", "server_stop_after", "tamper")


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
        aggregation: how the server combines the replies, one of :data:`automri.federated.robust.AGGREGATIONS`
            (``fedavg``: weighted mean; ``median`` / ``trimmed-mean``: coordinate-wise, unweighted).
        trim_fraction: fraction cut at each end by ``trimmed-mean`` (at least one client per end).
        clip_norm: bound on the L2 norm of each client's update ``w_k - w_global`` per record
            (``None``: no clipping).
        dp: differential privacy of the updates, one of :data:`automri.federated.privacy.DP_MODES`
            (``central``: the server clips, divides the sum by the federation's size and adds noise; ``local``:
            Flower's ``LocalDpMod`` at every client); only for :data:`~automri.federated.privacy.DP_ALGORITHMS`
            with ``aggregation="fedavg"``. ``central`` sets ``weighting`` to ``equal`` (the noise's
            sensitivity assumes that every update counts once in the clipped sum).
        dp_clip: the L2 clipping norm of each update under DP (replaces ``clip_norm``).
        dp_noise: ``central``: the noise multiplier z (noise std ``z * dp_clip / K``).
        dp_epsilon: ``local``: the epsilon of ``LocalDpMod``'s noise formula per round (a per-round
            guarantee only below 1; the reported budget is the RDP account of the noise).
        dp_delta: the delta of ``local`` releases and of the reported cumulative epsilon.
        dp_seeded_noise: draw the DP noise from ``seed`` (reproducible benchmarks) instead of OS
            entropy; anyone who knows the run config can then subtract it (measurements only).
        round_timeout: seconds the server waits for the replies of one round; missing clients
            are reported and the round aggregates the others.
        node_wait: seconds the server waits for all clients to connect before a round.
        discovery_timeout: seconds the server waits for the nodes to tell their partition id.
        tensorboard: folder for the server's TensorBoard logs (``--tensorboard DIR``: per round the
            mean and per-client scores, timings and bytes; alpha histograms for ``fednas``), ``None``: none.
        min_clients: quorum, the fewest accepted replies a round needs to aggregate (fewer: the
            global model is kept): a count (``int`` >= 1) or a fraction of the clients (``float``
            in (0, 1], rounded up).
        max_examples: largest sample count a client may report (larger: the reply is rejected).
        max_weight_abs: largest magnitude of a value in a client's arrays (larger: rejected).
        max_message_bytes: largest message either side may send; bigger ones are refused.
        seed: seed of every random choice (model init, data order, masks).
        out: run directory (server side).
        client_root: folder of the clients' private state (``<client_root>/<client name>/``) when
            the node does not pass ``state-dir`` in its node config (simulation).
        node_partitions: the partition of each authenticated SuperNode, ``{"<node id>": partition}``
            (deployment with SuperNode authentication: the id the SuperLink gave the site's registered
            public key). When set, a node's partition is this binding, not its claim: a node outside it,
            or one that claims another partition, is rejected (``partition``). Empty: the node's own
            ``partition-id`` (simulation).
        faults: fault drills for testing tolerance: ``{"client_raise": {"<client>": round},
            "server_stop_after": round, "tamper": {"<client>": kind}}`` with ``kind`` one of
            :data:`TAMPER_KINDS` (applied to every train reply of that client).
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
    aggregation: str = "fedavg"
    trim_fraction: float = 0.34
    clip_norm: float | None = None
    dp: str = "none"
    dp_clip: float | None = None
    dp_noise: float = 1.0
    dp_epsilon: float = 10.0
    dp_delta: float = 1e-3
    dp_seeded_noise: bool = False
    round_timeout: float = 600.0
    node_wait: float = 120.0
    discovery_timeout: float = 60.0
    min_clients: int | float = 0.5
    max_examples: int = 1_000_000
    max_weight_abs: float = 1e6
    max_message_bytes: int = 512 * 2**20
    seed: int = 0
    out: str = "runs/fed"
    client_root: str | None = None
    faults: dict[str, Any] = field(default_factory=dict)
    node_partitions: dict[str, int] = field(default_factory=dict)

    tensorboard: str | None = None

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
        check(self.discovery_timeout > 0, "--discovery-timeout", "seconds > 0", self.discovery_timeout)
        check(self.aggregation in AGGREGATIONS, "--aggregation", f"one of {', '.join(AGGREGATIONS)}", self.aggregation)
        if self.aggregation == "trimmed-mean":
            check_trim(self.trim_fraction, len(self.spec.clients))
        check(self.clip_norm is None or self.clip_norm > 0, "--clip-norm", "a norm > 0", self.clip_norm)
        check(self.max_examples >= 1, "max_examples", "a positive integer", self.max_examples)
        check(self.max_weight_abs > 0, "max_weight_abs", "a magnitude > 0", self.max_weight_abs)
        check(_valid_quorum(self.min_clients, len(self.spec.clients)), "--min-clients",
              f"a count between 1 and the number of clients ({len(self.spec.clients)}) or a fraction in (0, 1]",
              self.min_clients)
        self._check_privacy()
        self._check_faults()
        object.__setattr__(self, "node_partitions", {str(k): v for k, v in self.node_partitions.items()})
        bound = sorted(self.node_partitions.values())
        check(all(k.isdigit() for k in self.node_partitions) and bound == sorted(set(bound))
              and all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p < len(self.spec.clients) for p in bound),
              "node_partitions", f"distinct partitions 0..{len(self.spec.clients) - 1} keyed by node id",
              self.node_partitions)

    def _check_privacy(self) -> None:
        """DP options are consistent; ``central`` fixes ``weighting`` to ``equal``."""
        if self.dp not in DP_MODES:
            raise AutoMRIError(f"--dp {self.dp!r}: expected one of {', '.join(DP_MODES)}")
        if self.dp == "none":
            return
        if self.algorithm not in DP_ALGORITHMS:
            raise AutoMRIError(f"--dp {self.dp}: expected --algorithm {' or '.join(DP_ALGORITHMS)} "
                               f"(one record of the whole model per reply), got {self.algorithm!r}")
        if self.aggregation != "fedavg" or self.clip_norm is not None:
            raise AutoMRIError(f"--dp {self.dp}: expected --aggregation fedavg without --clip-norm "
                               "(the Gaussian mechanism is calibrated for the clipped mean; --dp-clip clips)")
        if self.dp_clip is None or not self.dp_clip > 0:
            raise AutoMRIError(f"--dp-clip {self.dp_clip!r}: expected a clipping norm > 0 (needed by --dp {self.dp})")
        if not 0.0 < self.dp_delta < 1.0:
            raise AutoMRIError(f"--dp-delta {self.dp_delta!r}: expected a probability in (0, 1)")
        if self.dp == "central":
            if not self.dp_noise > 0:
                raise AutoMRIError(f"--dp-noise {self.dp_noise!r}: expected a noise multiplier > 0")
            object.__setattr__(self, "weighting", "equal")
        elif not self.dp_epsilon > 0:
            raise AutoMRIError(f"--dp-epsilon {self.dp_epsilon!r}: expected an epsilon > 0")

    @property
    def update_clip(self) -> float | None:
        """The L2 bound the server puts on each update: ``dp_clip`` under central DP, else ``clip_norm``."""
        return self.dp_clip if self.dp == "central" else self.clip_norm

    def _check_faults(self) -> None:
        """Fault drills name known keys, clients of the spec and known tamper kinds."""
        unknown = sorted(set(self.faults) - set(FAULT_KEYS))
        if unknown:
            raise AutoMRIError(f"faults {unknown[0]!r}: expected one of {', '.join(FAULT_KEYS)}")
        names = set(self.spec.client_names())
        for key in ("client_raise", "tamper"):
            for name in self.faults.get(key, {}):
                if name not in names:
                    raise AutoMRIError(f"faults.{key} {name!r}: expected a client name of the spec {sorted(names)}")
        for name, kind in self.faults.get("tamper", {}).items():
            if kind not in TAMPER_KINDS:
                raise AutoMRIError(f"faults.tamper.{name} {kind!r}: expected one of {', '.join(TAMPER_KINDS)}")

    @property
    def quorum(self) -> int:
        """:attr:`min_clients` as a number of replies (a fraction rounded up, at least 1)."""
        if isinstance(self.min_clients, float):
            return max(1, math.ceil(self.min_clients * self.num_clients - 1e-9))
        return self.min_clients

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


def build_config(algorithm: str, spec: FederationSpec | str, out: str | os.PathLike, **options: Any) -> FedConfig:
    """A :class:`FedConfig` from an algorithm, a spec (object, ``"default"`` or YAML path) and options.

    ``size`` in ``options`` overrides the spec's image size. Client state goes to ``<out>/clients``.
    """
    size = options.pop("size", None)
    if not isinstance(spec, FederationSpec):
        spec = load_spec(spec, size=size)
    elif size is not None:
        spec = FederationSpec(spec.clients, size, spec.source)
    out = Path(out).resolve()
    options.setdefault("client_root", str(out / "clients"))
    return FedConfig(algorithm=algorithm, spec=spec, out=str(out), **options)


def _valid_quorum(value: Any, clients: int) -> bool:
    """An int count in ``[1, clients]`` or a float fraction in ``(0, 1]``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 1 <= value <= clients
    return isinstance(value, float) and 0.0 < value <= 1.0


def parse_quorum(text: str) -> int | float:
    """``--min-clients`` text: ``"2"`` -> 2 (a count), ``"0.5"`` -> 0.5 (a fraction)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise AutoMRIError(f"--min-clients {text!r}: expected a count such as 2 or a fraction such as 0.5") from None


RESUME_MAY_CHANGE = ("rounds", "round_timeout", "node_wait", "discovery_timeout", "min_clients", "faults", "out",
                     "client_root", "node_partitions")
"""Options a resumed run may change; every other option must equal the original run's."""


def check_resume_compatible(saved: FedConfig, new: FedConfig, source: str) -> None:
    """Raise :class:`AutoMRIError` when ``new`` differs from ``saved`` in an option that shapes
    the computation (anything but :data:`RESUME_MAY_CHANGE`)."""
    old_data, new_data = saved.to_dict(), new.to_dict()
    for key in old_data:
        if key not in RESUME_MAY_CHANGE and old_data[key] != new_data[key]:
            hint = (" (a run deployed before sites named their own data resumes with --server-data)"
                    if key == "spec" and new.spec.sites_naming_data() and not saved.spec.sites_naming_data() else "")
            raise AutoMRIError(
                f"--resume: option {key!r} differs from the run in {source} "
                f"({old_data[key]!r} there, {new_data[key]!r} now){hint}"
            )
