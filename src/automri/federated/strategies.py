"""Server-side strategies (Flower Message API ``Strategy``) of every algorithm.

:class:`FederatedStrategy` does the work common to all: it names clients by their partition id
(a partition is owned by the first connected node that claims it; a second claimant is rejected
with reason ``partition``), sends the records of a round (each message checked against
``max_message_bytes``), and validates every reply before using it
(:mod:`automri.federated.guard`: the allow-list, then the metrics, the sample count against the
one the site registered first, and the arrays against the global model's keys, shapes, dtypes,
finiteness and magnitude). A rejected reply, an error reply and a client that did not answer
within the round timeout are that site's failure for the round, recorded in ``errors`` with a
reason code only (:data:`automri.federated.guard.REJECT_CODES`), and the round goes on with the
others if at least ``quorum`` replies were accepted. An aggregate that is not finite is never
adopted. It also counts bytes per client and direction and builds the round record. Subclasses
decide what is sent and which records are aggregated; the rule (``fedavg``, ``median``,
``trimmed-mean``, with optional update clipping) is :func:`automri.federated.robust.aggregate`:

- :class:`FedAvgStrategy` (``fedavg``, ``fedprox``, ``fedautomri``): ``w = sum_k p_k w_k`` with
  ``p_k = n_k / N`` (``weighting="samples"``) or ``1 / K`` (``"equal"``);
- :class:`NonFedStrategy` (``nonfed``): nothing is sent or aggregated;
- :class:`FedMRIStrategy` (``fedmri``): only the U-Net encoder is aggregated; no client's weights
  are ever sent to another client (the regulariser's negative is the client's own previous
  encoder, kept at the client);
- :class:`FedNASStrategy` (``fednas``): w AND alpha are averaged with the same ``p_k`` (the clean
  FedNAS rule; the official FedML/GAutoMRI alpha aggregation is a no-op bug), alpha is recorded
  every round, the genotype is derived from it, and the genotype with the best mean validation
  PSNR of the global supernet is kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from logging import INFO, WARNING
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
from flwr.supercore import log

from automri.errors import AutoMRIError
from automri.federated.guard import (
    OutgoingMessageError,
    RejectedReply,
    check_arrays,
    check_count,
    check_metrics,
    check_reply,
    check_size,
)
from automri.federated.local import LOCAL_ALGORITHMS, FedMRI
from automri.federated.options import FedConfig
from automri.federated.privacy import PRIVACY_LEDGER, PrivacyLedger, add_central_noise, local_noise_multiplier
from automri.federated.robust import aggregate, all_finite, average_weights
from automri.federated.task import StateDict, alpha_names, build_client_model, check_dp_model, from_record, to_record
from automri.nas.cell.genotype import derive_genotype
from automri.train.seed import derive_seed

__all__ = ["average_weights", "build_strategy", "FederatedStrategy", "Reply", "RoundLog", "STRATEGIES"]

MAX_REASON_CHARS = 300
CENTRAL_NOISE_STREAM = 11
"""The seed stream of the server's central-DP noise under ``dp_seeded_noise`` (``derive_seed(seed, round, 11)``)."""
REQUIRED_METRICS = {
    "train": frozenset({"num-examples", "train-loss", "partition-id"}),
    "evaluate": frozenset({"num-examples", "partition-id"}),
}
"""Metrics a reply must carry for the server to use it, by phase."""


class NonFiniteAggregate(AutoMRIError):
    """The combined weights of a round are not finite (the global model is kept)."""


@dataclass
class Reply:
    """One usable client reply."""

    client: str
    partition: int
    content: RecordDict
    metrics: dict[str, float]
    nbytes: int

    def records(self, name: str) -> StateDict:
        return from_record(self.content[name]) if name in self.content else {}


@dataclass
class RoundLog:
    """What happened in one round (becomes a line of ``metrics.jsonl``); ``errors`` maps
    ``"<phase>/<client>"`` (``"discover/node-<id>"`` for a rejected node, ``"aggregate"`` when the
    global model was kept) to a reason code of :data:`automri.federated.guard.REJECT_CODES`."""

    round: int
    started: float = field(default_factory=time.time)
    train: dict[str, dict[str, float]] = field(default_factory=dict)
    eval: dict[str, dict[str, float]] = field(default_factory=dict)
    bytes_down: dict[str, int] = field(default_factory=dict)
    bytes_up: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=lambda: {"train": [], "evaluate": []})
    errors: dict[str, str] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    aggregated: bool = False
    privacy: dict[str, Any] | None = None

    def add_bytes(self, table: dict[str, int], client: str, nbytes: int) -> None:
        table[client] = table.get(client, 0) + nbytes

    def record(self) -> dict[str, Any]:
        """The JSON record of the round: per-client tables, means over clients, bytes, missing."""
        means = {}
        for phase, table in (("train", self.train), ("eval", self.eval)):
            keys = sorted({k for row in table.values() for k in row if k not in ("num-examples", "partition-id")})
            for key in keys:
                values = [row[key] for row in table.values() if key in row]
                means[f"{phase}/{key}" if phase == "train" else key] = float(np.mean(values))
        return {
            "round": self.round,
            "mean": means,
            "train": self.train,
            "eval": self.eval,
            "bytes_down": self.bytes_down,
            "bytes_up": self.bytes_up,
            "bytes_down_total": int(sum(self.bytes_down.values())),
            "bytes_up_total": int(sum(self.bytes_up.values())),
            "missing": self.missing,
            "errors": self.errors,
            "aggregated": self.aggregated,
            **({"privacy": self.privacy} if self.privacy is not None else {}),
            "seconds": time.time() - self.started,
        }


class FederatedStrategy(Strategy):
    """Shared machinery of the AutoMRI strategies (see the module docstring).

    Args:
        config: the run options.
        token: the run token sent to clients (ties their private state to this run series).
        round_offset: rounds already done before this process started (resume).
    """

    def __init__(self, config: FedConfig, token: str, round_offset: int = 0) -> None:
        self.config, self.token, self.round_offset = config, token, round_offset
        self.names = config.spec.client_names()
        self.node_partition: dict[int, int] = {}
        self.rejected_nodes: dict[int, str] = {}  # node id -> reason code (never asked again)
        self.counts: dict[str, float] = {}  # "<phase>/<partition>" -> the site's registered sample count
        self.shared_keys = LOCAL_ALGORITHMS[config.algorithm].shared_keys(config)
        self.log: RoundLog | None = None
        self.current_arrays = ArrayRecord()  # the global arrays of the round in progress
        self.expected: dict[str, ArrayRecord] = {}  # what a train reply must hold, from the global model
        check_dp_model(config)
        self.privacy = privacy_ledger(config)

    # -- server state (checkpointed) ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Strategy state beyond the global weights (tensors, numbers, strings only)."""
        return {"counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` after a resume."""
        self.counts = dict(state.get("counts", {}))

    # -- what is sent, how replies are combined (subclasses) ----------------------------------
    def train_records(self, server_round: int, arrays: ArrayRecord) -> dict[str, ArrayRecord]:
        return {"arrays": arrays}

    def evaluate_records(self, server_round: int, arrays: ArrayRecord) -> dict[str, ArrayRecord]:
        return {"arrays": arrays}

    def global_records(self, arrays: ArrayRecord) -> dict[str, ArrayRecord]:
        """The server's current global value of every record a client may send back."""
        return {"arrays": arrays}

    def aggregate(self, server_round: int, arrays: ArrayRecord, replies: list[Reply]) -> ArrayRecord | None:
        raise NotImplementedError

    def end_round(self, server_round: int, record: dict[str, Any]) -> None:
        """Hook after a round's record is complete (e.g. FedNAS genotype bookkeeping)."""

    # -- clients -----------------------------------------------------------------------------
    def discover(self, grid: Grid) -> None:
        """Wait (at most ``node_wait`` s) for every client to connect, then ask each unknown node
        (at most ``discovery_timeout`` s) for its partition id, which comes from the node's own
        config (Flower's node config in simulation, ``--node-config`` of a SuperNode)."""
        deadline = time.time() + self.config.node_wait
        while len(list(grid.get_node_ids())) < self.config.num_clients and time.time() < deadline:
            time.sleep(0.2)
        connected = set(grid.get_node_ids())
        unknown = sorted(nid for nid in connected if nid not in self.node_partition and nid not in self.rejected_nodes)
        if unknown:
            messages = [
                Message(content=RecordDict({"config": ConfigRecord({"run-token": self.token})}), dst_node_id=nid,
                        message_type=MessageType.QUERY, group_id="discover")
                for nid in unknown
            ]
            for reply in grid.send_and_receive(messages, timeout=self.config.discovery_timeout):
                self._register(reply, connected)
        if not self.node_partition:
            raise AutoMRIError(
                f"no client answered within {self.config.node_wait + self.config.discovery_timeout:.0f} s "
                "(are the SuperNodes running with a partition-id node config?)"
            )

    def _register(self, reply: Message, connected: set[int]) -> None:
        """Give the replying node the partition it claims, unless that partition is invalid, already
        owned by another connected node, or (with ``node_partitions``) not the one its authenticated
        key is bound to: then the node is rejected (``partition``)."""
        node = reply.metadata.src_node_id
        if reply.has_error():
            return  # not ready yet: asked again before the next round
        try:
            pid = check_metrics(reply.content, {"partition-id"})["partition-id"]
        except RejectedReply as err:
            self.rejected_nodes[node] = err.code
            return
        bound = self.config.node_partitions
        if bound and bound.get(str(node)) != pid:
            self.rejected_nodes[node] = "partition"
            log(WARNING, "node %s rejected: it claims partition %s, its authenticated key is bound to %s", node, pid,
                bound.get(str(node), "no partition"))
            return
        owner = next((n for n, p in self.node_partition.items() if p == pid), None)
        if pid != int(pid) or not 0 <= pid < self.config.num_clients or (owner is not None and owner in connected):
            self.rejected_nodes[node] = "partition"
            log(WARNING, "node %s rejected: partition %s is invalid or claimed by another node", node, pid)
            return
        if owner is not None:
            del self.node_partition[owner]  # the owner left (e.g. a restarted SuperNode)
        self.node_partition[node] = int(pid)

    def client_name(self, node_id: int) -> str:
        pid = self.node_partition.get(node_id)
        return self.names[pid] if pid is not None else f"node-{node_id}"

    def quorum_met(self, accepted: int) -> bool:
        """Whether ``accepted`` replies reach the quorum (``min_clients``); logs when not."""
        if accepted >= self.config.quorum:
            return True
        self.log.errors["aggregate"] = "quorum"
        log(WARNING, "round %s: %d accepted replies < min_clients=%s (%d), global model kept", self.log.round,
            accepted, self.config.min_clients, self.config.quorum)
        return False

    def _messages(self, grid: Grid, records: dict[str, ArrayRecord], message_type: str, server_round: int,
                  final: bool = False) -> Iterable[Message]:
        self.discover(grid)
        for node in self.rejected_nodes:
            self.log.errors[f"discover/node-{node}"] = self.rejected_nodes[node]
        messages = []
        for node_id in sorted(self.node_partition, key=self.node_partition.get):
            client = self.client_name(node_id)
            content = RecordDict({
                **records,
                "config": ConfigRecord({"server-round": server_round, "run-token": self.token, "final": final}),
            })
            nbytes = check_size(content, self.config.max_message_bytes, f"server message to {client}")
            self.log.add_bytes(self.log.bytes_down, client, nbytes)
            messages.append(Message(content=content, dst_node_id=node_id, message_type=message_type,
                                    group_id=f"{message_type}-{server_round}"))
        return messages

    def _validate(self, message: Message, phase: str, client: str) -> Reply:
        """The usable :class:`Reply` of ``message``, else :class:`RejectedReply`."""
        node = message.metadata.src_node_id
        if node not in self.node_partition:
            raise RejectedReply("partition", "reply from a node without a partition")
        if message.has_error():
            raise RejectedReply("client-error", "the client's app raised")
        try:
            nbytes = check_reply(message.content, self.shared_keys, self.config.max_message_bytes, f"reply of {client}")
        except OutgoingMessageError as err:
            raise RejectedReply(err.code, str(err)) from None
        metrics = check_metrics(message.content, REQUIRED_METRICS[phase])
        pid = self.node_partition[node]
        if metrics["partition-id"] != pid:
            raise RejectedReply("partition", f"reply claims partition {metrics['partition-id']:g}, the node has {pid}")
        key = f"{phase}/{pid}"
        metrics["num-examples"] = check_count(metrics["num-examples"], self.counts.get(key), self.config.max_examples)
        if phase == "train":
            check_arrays(message.content, self.expected, self.config.max_weight_abs)
        self.counts.setdefault(key, metrics["num-examples"])
        return Reply(client, pid, message.content, metrics, nbytes)

    def _reject(self, phase: str, client: str, code: str, detail: str) -> None:
        """Record ``client``'s failure of ``phase`` by its code (the detail goes to the log only)."""
        self.log.errors[f"{phase}/{client}"] = code
        log(WARNING, "round %s: %s reply of %s rejected: %s", self.log.round, phase, client, detail[:MAX_REASON_CHARS])

    def _collect(self, replies: Iterable[Message], phase: str) -> list[Reply]:
        usable: list[Reply] = []
        for message in replies:
            client = self.client_name(message.metadata.src_node_id)
            try:
                reply = self._validate(message, phase, client)
            except RejectedReply as err:
                self._reject(phase, client, err.code, str(err))
                continue
            self.log.add_bytes(self.log.bytes_up, client, reply.nbytes)
            self.log.audit.append({
                "round": self.log.round, "phase": phase, "client": client, "bytes": reply.nbytes,
                "records": {name: {"type": type(rec).__name__, "keys": sorted(rec)} for name, rec in message.content.items()},
            })
            usable.append(reply)
        usable.sort(key=lambda r: r.partition)
        replied = {r.client for r in usable}
        self.log.missing[phase] = [name for name in self.names if name not in replied]
        for name in self.log.missing[phase]:
            self.log.errors.setdefault(f"{phase}/{name}", "timeout")
        return usable

    def coefficients(self, replies: list[Reply]) -> list[float]:
        """Aggregation weights: sample counts (``weighting="samples"``) or ones (``"equal"``)."""
        if self.config.weighting == "equal":
            return [1.0] * len(replies)
        return [r.metrics["num-examples"] for r in replies]

    def combine(self, name: str, arrays: ArrayRecord, replies: list[Reply]) -> StateDict:
        """Record ``name`` of ``replies`` combined by the configured rule (each update clipped
        against the global value of the round, whose arrays are ``arrays``, when ``clip_norm`` is
        set); :class:`NonFiniteAggregate` if the result is not finite."""
        reference, clip = None, self.config.update_clip
        if clip is not None:
            reference = from_record(self.global_records(arrays)[name])
        combined = aggregate([r.records(name) for r in replies], self.coefficients(replies), self.config.aggregation,
                             reference=reference, clip_norm=clip, trim_fraction=self.config.trim_fraction)
        if not all_finite(combined):
            raise NonFiniteAggregate(f"aggregate of {name!r} is not finite")
        return combined

    # -- Flower Strategy API -------------------------------------------------------------------
    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        # NOTE: Strategy.start passes the SAME ConfigRecord every round: it is not used here, every
        # round builds its own.
        self.log = RoundLog(server_round + self.round_offset)
        self.current_arrays = arrays
        self.expected = {
            name: ArrayRecord({k: record[k] for k in sorted(self.shared_keys[name])})
            for name, record in self.global_records(arrays).items() if name in self.shared_keys
        }
        return self._messages(grid, self.train_records(self.log.round, arrays), MessageType.TRAIN, self.log.round)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        usable = self._collect(replies, "train")
        self.log.train = {r.client: r.metrics for r in usable}
        if self.config.dp == "local":  # every site released a noised update this round, whatever the server does
            self._account(self.config.num_clients)
        if not self.quorum_met(len(usable)):
            return None, None
        try:
            new_arrays = self.aggregate(self.log.round, self.current_arrays, usable)
        except NonFiniteAggregate as err:
            self.log.errors["aggregate"] = "non-finite"
            log(WARNING, "round %s: %s, global model kept", self.log.round, err)
            return None, None
        self.log.aggregated = new_arrays is not None
        if new_arrays is not None and self.config.dp == "central":
            new_arrays = self._release(new_arrays, len(usable))
        loss = float(np.mean([r.metrics["train-loss"] for r in usable]))
        return new_arrays, MetricRecord({"train-loss": loss})

    def _release(self, arrays: ArrayRecord, accepted: int) -> ArrayRecord:
        """Central DP: the sum of the ``accepted`` clipped updates over the fixed K sites, plus the
        Gaussian noise (:func:`automri.federated.privacy.add_central_noise`), composed in the ledger."""
        config = self.config
        seed = derive_seed(config.seed, self.log.round, CENTRAL_NOISE_STREAM) if config.dp_seeded_noise else None
        noised = add_central_noise(from_record(arrays), from_record(self.current_arrays), accepted, config.num_clients,
                                   config.dp_noise, config.dp_clip, seed)
        self._account(config.num_clients)
        return to_record(noised)

    def _account(self, participants: int) -> None:
        """One more release in the privacy ledger; the round record gets the epsilon spent so far."""
        self.privacy.release(participants)
        self.log.privacy = self.privacy.spent()

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        final = self.log.round == self.config.rounds
        return self._messages(grid, self.evaluate_records(self.log.round, arrays), MessageType.EVALUATE,
                              self.log.round, final=final)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        usable = self._collect(replies, "evaluate")
        self.log.eval = {r.client: r.metrics for r in usable}
        means = self.log.record()["mean"]
        return MetricRecord({k: v for k, v in means.items() if "/" not in k}) if usable else None

    def summary(self) -> None:
        log(INFO, "\t%s: %s, %d clients, weighting=%s, aggregation=%s, clip_norm=%s, quorum=%d, dp=%s",
            type(self).__name__, self.config.algorithm, self.config.num_clients, self.config.weighting,
            self.config.aggregation, self.config.update_clip, self.config.quorum, self.config.dp)


class FedAvgStrategy(FederatedStrategy):
    """Sample-weighted FedAvg of ``arrays`` (the full model)."""

    def aggregate(self, server_round: int, arrays: ArrayRecord, replies: list[Reply]) -> ArrayRecord | None:
        return to_record(self.combine("arrays", arrays, replies))


class NonFedStrategy(FederatedStrategy):
    """Non-Fed: the server only coordinates rounds; no weights travel, nothing is aggregated."""

    def train_records(self, server_round, arrays):
        return {}

    def evaluate_records(self, server_round, arrays):
        return {}

    def aggregate(self, server_round, arrays, replies):
        return None


class FedMRIStrategy(FederatedStrategy):
    """FedMRI: aggregate only the encoder keys; the decoder never leaves a client, and no client
    receives another client's weights (only the global encoder)."""

    def __init__(self, config: FedConfig, token: str, round_offset: int = 0) -> None:
        super().__init__(config, token, round_offset)
        self.encoder = FedMRI.encoder_keys(config)

    def _encoder(self, arrays: ArrayRecord) -> ArrayRecord:
        return ArrayRecord({k: arrays[k] for k in self.encoder})

    def train_records(self, server_round, arrays):
        if server_round == 1:
            return {"arrays": arrays}  # everyone starts from the same full model
        return {"arrays": self._encoder(arrays)}

    def evaluate_records(self, server_round, arrays):
        return {"arrays": self._encoder(arrays)}

    def aggregate(self, server_round, arrays, replies):
        merged = from_record(arrays)
        merged.update(self.combine("arrays", arrays, replies))
        return to_record(merged)


class FedNASStrategy(FederatedStrategy):
    """FedNAS: average w and alpha by the same weights; track alpha, genotype and the best genotype."""

    def __init__(self, config: FedConfig, token: str, round_offset: int = 0) -> None:
        super().__init__(config, token, round_offset)
        model = build_client_model(config)
        names = alpha_names(model)
        self.alpha: StateDict = {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}
        self.space = model.space_config()
        self.best: dict[str, Any] = {}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "alpha": self.alpha, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.alpha = state["alpha"]
        self.best = state.get("best", {})

    def train_records(self, server_round, arrays):
        return {"arrays": arrays, "alpha": to_record(self.alpha)}

    evaluate_records = train_records

    def global_records(self, arrays):
        return {"arrays": arrays, "alpha": to_record(self.alpha)}

    def aggregate(self, server_round, arrays, replies):
        weights = self.combine("arrays", arrays, replies)
        self.alpha = self.combine("alpha", arrays, replies)  # both finite, or neither is adopted
        return to_record(weights)

    def genotype(self) -> dict[str, Any]:
        """The genotype derived from the current global alpha."""

        (alphas,) = self.alpha.values()
        return derive_genotype(alphas, **self.space)

    def end_round(self, server_round: int, record: dict[str, Any]) -> None:
        (alphas,) = self.alpha.values()
        record["alpha"] = alphas.tolist()
        record["genotype"] = self.genotype()
        val = record["mean"].get("val-psnr")
        if val is not None and (not self.best or val > self.best["val_psnr"]):
            self.best = {"round": server_round, "val_psnr": val, "genotype": record["genotype"]}
        record["best"] = dict(self.best)


def privacy_ledger(config: FedConfig) -> PrivacyLedger | None:
    """The run's accountant under DP (central: noise multiplier ``dp_noise``; local: ``LocalDpMod``'s
    noise over its sensitivity), ``None`` without DP."""
    if config.dp == "none":
        return None
    multiplier = config.dp_noise if config.dp == "central" else local_noise_multiplier(config.dp_epsilon, config.dp_delta)
    return PrivacyLedger(multiplier, config.dp_delta, config.num_clients, Path(config.out) / PRIVACY_LEDGER)


STRATEGIES: dict[str, type[FederatedStrategy]] = {
    "nonfed": NonFedStrategy,
    "fedavg": FedAvgStrategy,
    "fedprox": FedAvgStrategy,
    "fedmri": FedMRIStrategy,
    "fednas": FedNASStrategy,
    "fedautomri": FedAvgStrategy,
}


def build_strategy(config: FedConfig, token: str, round_offset: int = 0) -> FederatedStrategy:
    """The server strategy of ``config.algorithm``."""
    return STRATEGIES[config.algorithm](config, token, round_offset)

