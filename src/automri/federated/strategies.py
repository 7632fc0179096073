"""Server-side strategies (Flower Message API ``Strategy``) of every algorithm.

:class:`FederatedStrategy` does the work common to all: it names clients by their partition id,
sends the records of a round (each message checked against ``max_message_bytes``), collects the
replies (error replies, replies that break the allow-list of :mod:`automri.federated.guard` and
clients that did not answer within the round timeout are reported as missing and the round goes on
with the others), counts bytes per client and direction, and builds the round record. Subclasses
decide what is sent and how replies are aggregated:

- :class:`FedAvgStrategy` (``fedavg``, ``fedprox``, ``fedautomri``): ``w = sum_k p_k w_k`` with
  ``p_k = n_k / N`` (``weighting="samples"``) or ``1 / K`` (``"equal"``);
- :class:`NonFedStrategy` (``nonfed``): nothing is sent or aggregated;
- :class:`FedMRIStrategy` (``fedmri``): only the U-Net encoder is averaged; clients also receive
  every client's pre-aggregation encoder of the previous round for the FedMRI regulariser;
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
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
from flwr.supercore import log

from automri.errors import AutoMRIError
from automri.federated.guard import OutgoingMessageError, check_reply, check_size
from automri.federated.local import LOCAL_ALGORITHMS, FedMRI, join_peers
from automri.federated.options import FedConfig
from automri.federated.task import StateDict, alpha_names, build_client_model, from_record, to_record
from automri.nas.cell.genotype import derive_genotype

MAX_REASON_CHARS = 300


def average_weights(weights: list[StateDict], coefficients: list[float]) -> StateDict:
    """``sum_k c_k w_k / sum_k c_k`` per tensor (accumulated in float64, cast back to the dtype);
    non-floating entries are taken from the first set."""
    if not weights or len(weights) != len(coefficients):
        raise ValueError("average_weights: need one coefficient per weight set (and at least one set)")
    total = float(sum(coefficients))
    if total <= 0:
        raise ValueError(f"average_weights: coefficients must sum to > 0, got {coefficients}")
    averaged = {}
    for key, first in weights[0].items():
        if not first.is_floating_point():
            averaged[key] = first.clone()
            continue
        acc = sum(c * w[key].double() for c, w in zip(coefficients, weights))
        averaged[key] = (acc / total).to(first.dtype)
    return averaged


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
    """What happened in one round (becomes a line of ``metrics.jsonl``)."""

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
        self.shared_keys = LOCAL_ALGORITHMS[config.algorithm].shared_keys(config)
        self.log: RoundLog | None = None
        self.current_arrays = ArrayRecord()  # the global arrays of the round in progress

    # -- server state (checkpointed) ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Strategy state beyond the global weights (tensors, numbers, strings only)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` after a resume."""

    # -- what is sent, how replies are combined (subclasses) ----------------------------------
    def train_records(self, server_round: int, arrays: ArrayRecord) -> dict[str, ArrayRecord]:
        return {"arrays": arrays}

    def evaluate_records(self, server_round: int, arrays: ArrayRecord) -> dict[str, ArrayRecord]:
        return {"arrays": arrays}

    def aggregate(self, server_round: int, arrays: ArrayRecord, replies: list[Reply]) -> ArrayRecord | None:
        raise NotImplementedError

    def end_round(self, server_round: int, record: dict[str, Any]) -> None:
        """Hook after a round's record is complete (e.g. FedNAS genotype bookkeeping)."""

    # -- clients -----------------------------------------------------------------------------
    def discover(self, grid: Grid) -> None:
        """Wait (at most ``node_wait`` s) for every client to connect, then ask each unknown node
        for its partition id so that reports can name clients."""
        deadline = time.time() + self.config.node_wait
        while len(list(grid.get_node_ids())) < self.config.num_clients and time.time() < deadline:
            time.sleep(0.2)
        unknown = [nid for nid in grid.get_node_ids() if nid not in self.node_partition]
        if not unknown:
            return
        messages = [
            grid.create_message(RecordDict({"config": ConfigRecord({"run-token": self.token})}),
                                MessageType.QUERY, nid, "discover")
            for nid in unknown
        ]
        for reply in grid.send_and_receive(messages, timeout=self.config.round_timeout):
            if reply.has_error() or "metrics" not in reply.content:
                continue
            pid = int(reply.content["metrics"].get("partition-id", -1))
            if 0 <= pid < self.config.num_clients:
                self.node_partition[reply.metadata.src_node_id] = pid
        if not self.node_partition:
            raise AutoMRIError(
                f"no client answered within {self.config.node_wait + self.config.round_timeout:.0f} s "
                "(are the SuperNodes running with a partition-id node config?)"
            )

    def client_name(self, node_id: int) -> str:
        pid = self.node_partition.get(node_id)
        return self.names[pid] if pid is not None else f"node-{node_id}"

    def _messages(self, grid: Grid, records: dict[str, ArrayRecord], message_type: str, server_round: int,
                  final: bool = False) -> Iterable[Message]:
        self.discover(grid)
        messages = []
        for node_id in sorted(self.node_partition, key=self.node_partition.get):
            client = self.client_name(node_id)
            content = RecordDict({
                **records,
                "config": ConfigRecord({"server-round": server_round, "run-token": self.token, "final": final}),
            })
            nbytes = check_size(content, self.config.max_message_bytes, f"server message to {client}")
            self.log.add_bytes(self.log.bytes_down, client, nbytes)
            messages.append(grid.create_message(content, message_type, node_id, f"{message_type}-{server_round}"))
        return messages

    def _collect(self, replies: Iterable[Message], phase: str) -> list[Reply]:
        usable: list[Reply] = []
        for message in replies:
            client = self.client_name(message.metadata.src_node_id)
            if message.has_error():
                reason = str(message.error.reason).strip().splitlines()
                self.log.errors[f"{phase}/{client}"] = (reason[-1] if reason else "error")[:MAX_REASON_CHARS]
                continue
            try:
                nbytes = check_reply(message.content, self.shared_keys, self.config.max_message_bytes,
                                     f"reply of {client}")
            except OutgoingMessageError as err:
                self.log.errors[f"{phase}/{client}"] = str(err)[:MAX_REASON_CHARS]
                continue
            self.log.add_bytes(self.log.bytes_up, client, nbytes)
            self.log.audit.append({
                "round": self.log.round, "phase": phase, "client": client, "bytes": nbytes,
                "records": {name: {"type": type(rec).__name__, "keys": sorted(rec)} for name, rec in message.content.items()},
            })
            metrics = {k: float(v) for k, v in message.content["metrics"].items()}
            usable.append(Reply(client, self.node_partition[message.metadata.src_node_id], message.content, metrics, nbytes))
        usable.sort(key=lambda r: r.partition)
        replied = {r.client for r in usable}
        self.log.missing[phase] = [name for name in self.names if name not in replied]
        for name in self.log.missing[phase]:
            self.log.errors.setdefault(f"{phase}/{name}", f"no reply within round_timeout={self.config.round_timeout:g} s")
        return usable

    def coefficients(self, replies: list[Reply]) -> list[float]:
        """Aggregation weights: sample counts (``weighting="samples"``) or ones (``"equal"``)."""
        if self.config.weighting == "equal":
            return [1.0] * len(replies)
        return [r.metrics["num-examples"] for r in replies]

    # -- Flower Strategy API -------------------------------------------------------------------
    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        # NOTE: Strategy.start passes the SAME ConfigRecord every round: it is not used here, every
        # round builds its own.
        self.log = RoundLog(server_round + self.round_offset)
        self.current_arrays = arrays
        return self._messages(grid, self.train_records(self.log.round, arrays), MessageType.TRAIN, self.log.round)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        usable = self._collect(replies, "train")
        self.log.train = {r.client: r.metrics for r in usable}
        if len(usable) < self.config.min_clients:
            log(WARNING, "round %s: %d replies < min_clients=%d, global model kept", self.log.round, len(usable),
                self.config.min_clients)
            return None, None
        new_arrays = self.aggregate(self.log.round, self.current_arrays, usable)
        self.log.aggregated = new_arrays is not None
        loss = float(np.mean([r.metrics["train-loss"] for r in usable]))
        return new_arrays, MetricRecord({"train-loss": loss})

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
        log(INFO, "\t%s: %s, %d clients, weighting=%s", type(self).__name__, self.config.algorithm,
            self.config.num_clients, self.config.weighting)


class FedAvgStrategy(FederatedStrategy):
    """Sample-weighted FedAvg of ``arrays`` (the full model)."""

    def aggregate(self, server_round: int, arrays: ArrayRecord, replies: list[Reply]) -> ArrayRecord | None:
        return to_record(average_weights([r.records("arrays") for r in replies], self.coefficients(replies)))


class NonFedStrategy(FederatedStrategy):
    """Non-Fed: the server only coordinates rounds; no weights travel, nothing is aggregated."""

    def train_records(self, server_round, arrays):
        return {}

    def evaluate_records(self, server_round, arrays):
        return {}

    def aggregate(self, server_round, arrays, replies):
        return None


class FedMRIStrategy(FederatedStrategy):
    """FedMRI: average only the encoder keys; send every client's previous encoder as ``peers``."""

    def __init__(self, config: FedConfig, token: str, round_offset: int = 0) -> None:
        super().__init__(config, token, round_offset)
        self.encoder = FedMRI.encoder_keys(config)
        self.peers: dict[int, StateDict] = {}

    def state_dict(self) -> dict[str, Any]:
        return {"peers": {str(pid): w for pid, w in self.peers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.peers = {int(pid): w for pid, w in state.get("peers", {}).items()}

    def _encoder(self, arrays: ArrayRecord) -> ArrayRecord:
        return ArrayRecord({k: arrays[k] for k in self.encoder})

    def train_records(self, server_round, arrays):
        if server_round == 1:
            return {"arrays": arrays}  # everyone starts from the same full model
        records = {"arrays": self._encoder(arrays)}
        if self.peers:
            records["peers"] = to_record(join_peers(self.peers))
        return records

    def evaluate_records(self, server_round, arrays):
        return {"arrays": self._encoder(arrays)}

    def aggregate(self, server_round, arrays, replies):
        encoders = [r.records("arrays") for r in replies]
        self.peers = {r.partition: enc for r, enc in zip(replies, encoders)}
        merged = from_record(arrays)
        merged.update(average_weights(encoders, self.coefficients(replies)))
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
        return {"alpha": self.alpha, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.alpha = state["alpha"]
        self.best = state.get("best", {})

    def train_records(self, server_round, arrays):
        return {"arrays": arrays, "alpha": to_record(self.alpha)}

    evaluate_records = train_records

    def aggregate(self, server_round, arrays, replies):
        coefficients = self.coefficients(replies)
        self.alpha = average_weights([r.records("alpha") for r in replies], coefficients)
        return to_record(average_weights([r.records("arrays") for r in replies], coefficients))

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

