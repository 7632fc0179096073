"""Tiny federations shared by the federated tests: 3 phantom clients, 16 px, small networks, and
a fake Grid that answers (or not, or with a tampered reply) for three clients without Ray."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from flwr.app import ConfigRecord, MessageType, MetricRecord, RecordDict

from automri.federated.drills import tamper_metrics, tamper_weights
from automri.federated.options import TAMPER_KINDS
from automri.federated.task import from_record, to_record

TINY_SPEC = {
    "size": 16,
    "clients": [
        {"name": "a", "dataset": "phantom", "mask": "fastmri-random:cf=0.08,acc=4", "max_slices": 4, "seed": 1},
        {"name": "b", "dataset": "phantom", "mask": "equispaced:cf=0.08,acc=4", "max_slices": 6, "seed": 2},
        {"name": "c", "dataset": "phantom", "mask": "random2d:rate=0.25,radius=4", "max_slices": 4, "seed": 3},
    ],
}
UNET = {"chans": 4, "num_pool_layers": 2}
CELL = {"hidden": 4, "cells": 1, "iterations": 1}
TINY_RUN = {"rounds": 2, "local_epochs": 1, "steps": 1, "batch_size": 2, "seed": 0}


def network_options(algorithm: str) -> dict:
    """The tiny network options of ``algorithm`` (U-Net for the baselines, a 1-cell net for NAS)."""
    if algorithm in ("fednas", "fedautomri"):
        return {"space_options": dict(CELL)}
    return {"model_options": dict(UNET)}


@dataclass
class FakeMessage:
    content: RecordDict | None
    metadata: SimpleNamespace
    error: SimpleNamespace | None = None

    def has_error(self) -> bool:
        return self.error is not None


@dataclass
class FakeGrid:
    """Node ``100 + i`` is partition ``i``; ``behaviour[i]`` says how it answers a train message:
    ``ok`` (its weights + (i + 1), ``2 (i + 1)`` examples), ``error``, ``silent``, ``leak`` (an
    extra ConfigRecord) or a drill of :data:`automri.federated.options.TAMPER_KINDS` applied by
    the same functions the ClientApp uses (``stall``: no reply). ``shared``: the parameter names
    each record of a reply holds (default: every array the server sent)."""

    behaviour: dict[int, str]
    shared: dict[str, set[str]] | None = None
    sent: list = field(default_factory=list)

    def get_node_ids(self):
        return [100 + i for i in self.behaviour]

    def send_and_receive(self, messages, timeout=None):
        replies = []
        for message in messages:
            self.sent.append(message)
            pid = message.metadata.dst_node_id - 100
            reply = self._answer(message, pid)
            if reply is not None:
                replies.append(FakeMessage(reply, SimpleNamespace(src_node_id=message.metadata.dst_node_id)))
            elif self.behaviour[pid] == "error":
                replies.append(FakeMessage(None, SimpleNamespace(src_node_id=message.metadata.dst_node_id),
                                           SimpleNamespace(reason="Traceback ...\nRuntimeError: /data/site-b/patient.h5")))
        return replies

    def _answer(self, message, pid: int) -> RecordDict | None:
        mode = self.behaviour[pid]
        n = len(self.behaviour)
        if message.metadata.message_type == MessageType.QUERY:
            claimed = (pid + 1) % n if mode == "partition" else pid
            return RecordDict({"metrics": MetricRecord({"partition-id": claimed})})
        if mode in ("silent", "error", "stall"):
            return None
        records = {}
        for name, record in message.content.array_records.items():
            weights = {k: v + (pid + 1) for k, v in from_record(record).items()
                       if self.shared is None or k in self.shared.get(name, set())}
            records[name] = tamper_weights(mode, weights, seed=pid) if mode in TAMPER_KINDS else weights
        metrics = {"num-examples": 2.0 * (pid + 1), "train-loss": 0.5, "partition-id": float(pid)}
        if mode in TAMPER_KINDS:
            metrics = tamper_metrics(mode, metrics, n)
        content = RecordDict({**{k: to_record(v) for k, v in records.items()}, "metrics": MetricRecord(metrics)})
        if mode == "leak":
            content["config"] = ConfigRecord({"patient": "John Doe"})
        return content
