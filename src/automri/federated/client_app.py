"""The Flower ``ClientApp`` (Message API) of every algorithm.

``make_client_app(config)`` captures the run options (simulation; the closure is pickled to the Ray
actors); ``make_client_app()`` reads them from the run config of each message
(:func:`automri.federated.app_config.resolve_config`: ``flwr run .`` of the in-repo app, or
``automri fed deploy``). The node's ``partition-id`` (set by the
simulation engine, or ``--node-config`` of a SuperNode) picks the client of the federation spec.

Handlers: ``query`` (tell the server its partition id), ``train`` (one round of local work) and
``evaluate`` (score the global and personalised models on the client's test split). A train or
evaluate reply carries the client's local compute time as the metric ``compute-s``: wall seconds
from the received tensors to the outcome (data, model building, training or scoring, the private
state and, in the last round, the client's figure); Flower's transport and the conversion of
records to and from tensors are outside it. Every reply passes
:func:`automri.federated.guard.check_reply` before it leaves; an exception in a handler
becomes an error reply (no content) and the server reports the client as missing for that round.
The client's private state (own weights, decoder, EMA) stays in ``context.state`` and its own
folder (:class:`automri.federated.state.ClientStore`).
"""

from __future__ import annotations

import time
import traceback
from logging import ERROR
from pathlib import Path

import torch
from flwr.app import Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable
from flwr.supercore import log

from automri.errors import AutoMRIError
from automri.eval.figures import reconstruction_panel
from automri.federated.app_config import resolve_config
from automri.federated.drills import claimed_partition, tamper_reply
from automri.federated.guard import COMPUTE_METRIC, check_reply
from automri.federated.local import local_algorithm
from automri.federated.options import FedConfig
from automri.federated.personalise import check_private
from automri.federated.privacy import local_dp
from automri.federated.state import ClientStore, client_folder
from automri.federated.task import client_data, client_spec, first_slice_images, from_record, round_seed, to_record


class FaultDrill(RuntimeError):
    """Raised on purpose by a client named in ``config.faults["client_raise"]``."""


class SiteError(RuntimeError):
    """What leaves a site when its ClientApp fails: the exception's type only (its text, which may
    name the site's files, stays in the site's own log)."""


def private_errors(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """The outermost mod: an exception in the app is logged at the site, in full, and replaced by a
    :class:`SiteError` naming only its type, so that no site path reaches the SuperLink or the server
    in Flower's error reply."""
    try:
        return call_next(msg, context)
    except Exception as err:  # noqa: BLE001 - every failure of the app is re-raised, without its text
        log(ERROR, "ClientApp failed on %s: %s", msg.metadata.message_type, traceback.format_exc())
        raise SiteError(f"{type(err).__name__} at the site (details in the site's own log)") from None


def partition_of(context: Context, config: FedConfig) -> int:
    """This node's partition id (error naming the node config key when absent or out of range, or
    when the node does not name the dataset the spec leaves to its site)."""
    if "partition-id" not in context.node_config:
        raise AutoMRIError("node config has no 'partition-id' (start the SuperNode with --node-config \"partition-id=N\")")
    pid = int(context.node_config["partition-id"])
    client_spec(config, pid, context.node_config)
    return pid


def _identify(config: FedConfig, msg: Message, context: Context) -> Message:
    pid = partition_of(context, config)
    name = config.spec.clients[pid].name
    content = RecordDict({"metrics": MetricRecord({"partition-id": claimed_partition(config, name, pid)})})
    check_reply(content, {}, config.max_message_bytes, f"client {name}")
    return Message(content=content, reply_to=msg)


def _step(config: FedConfig, msg: Message, context: Context, phase: str) -> Message:
    torch.set_num_threads(1)  # several clients share the CPU cores
    pid = partition_of(context, config)
    client = client_spec(config, pid, context.node_config)
    settings = msg.content["config"]
    server_round, token = int(settings["server-round"]), str(settings["run-token"])
    if phase == "train" and config.faults.get("client_raise", {}).get(client.name) == server_round:
        raise FaultDrill(f"fault drill: client {client.name} raises in round {server_round}")
    folder = client_folder(config, context.node_config, client.name)
    store = ClientStore(context, folder, token)
    received = {name: from_record(record) for name, record in msg.content.array_records.items()}
    started = time.perf_counter()  # local compute: data, model, training/scoring, private state
    algorithm = local_algorithm(config, pid, client_data(config, pid, context.node_config))
    previous = store.load(server_round - 1 if phase == "train" else server_round)
    step = algorithm.train if phase == "train" else algorithm.evaluate
    outcome = step(server_round, received, previous)
    if outcome.state is not None:
        store.save(outcome.state)
    state = outcome.state or previous
    check_private(outcome.send, state.weights.get("personal") if state else None, f"client {client.name}")
    if phase == "evaluate" and bool(settings["final"]) and folder is not None:
        _write_panel(folder, client.name, outcome.models, algorithm.data.test)
    compute_s = time.perf_counter() - started
    send, metrics = outcome.send, {**outcome.metrics, "partition-id": pid, COMPUTE_METRIC: compute_s}
    if phase == "train":
        send, metrics = tamper_reply(config, client.name, send, metrics, round_seed(config, pid, server_round))
    content = RecordDict({
        **{name: to_record(weights) for name, weights in send.items()},
        "metrics": MetricRecord(metrics),
    })
    check_reply(content, algorithm.shared_keys(config), config.max_message_bytes, f"client {client.name}")
    return Message(content=content, reply_to=msg)


def _write_panel(folder: Path, name: str, models: dict, dataset) -> None:
    """The client's own reconstruction figure (stays at the site, in its folder)."""

    images = {role: first_slice_images(model, dataset) for role, model in models.items()}
    first = next(iter(images.values()))
    recons = {"zero-filled": first["zero_filled"], **{role: im["prediction"] for role, im in images.items()}}
    sample = dataset[0]
    reconstruction_panel(first["target"], recons, sample.mask, path=folder / "figures" / f"reconstruction-{name}.png",
                         title=f"{name}: first test slice")


def local_dp_mod(captured: FedConfig | None):
    """A mod that passes every train message of a ``dp="local"`` run through Flower's ``LocalDpMod``
    (:func:`automri.federated.privacy.local_dp`; noise from OS entropy, or from the client's round
    seed with ``dp_seeded_noise``)."""

    def mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
        config = resolve_config(captured, context)
        if config.dp != "local" or msg.metadata.message_type.split(".")[0] != MessageType.TRAIN:
            return call_next(msg, context)
        seed = None  # OS entropy: the server must not be able to regenerate a site's noise
        if config.dp_seeded_noise:
            seed = round_seed(config, partition_of(context, config), int(msg.content["config"]["server-round"]), 7)
        return local_dp(msg, context, call_next, config.dp_clip, config.dp_epsilon, config.dp_delta, seed)

    return mod


def make_client_app(config: FedConfig | None = None) -> ClientApp:
    """A ``ClientApp`` for ``config`` (``None``: read it from the run config at each message).
    Under ``dp="local"`` every train reply passes Flower's ``LocalDpMod`` before it leaves."""
    app = ClientApp(mods=[private_errors, local_dp_mod(config)])

    @app.query()
    def identify(msg: Message, context: Context) -> Message:
        return _identify(resolve_config(config, context), msg, context)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        return _step(resolve_config(config, context), msg, context, "train")

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return _step(resolve_config(config, context), msg, context, "evaluate")

    return app
