"""Server-side round logic without Ray: a fake Grid answers (or not) for three clients."""

from __future__ import annotations

import pytest
import torch
from fedtiny import UNET, FakeGrid
from flwr.app import ConfigRecord, MessageType

from automri.federated.guard import OutgoingMessageError
from automri.federated.options import FedConfig
from automri.federated.strategies import FedAvgStrategy
from automri.federated.task import build_client_model, from_record, to_record, weights_of

pytestmark = pytest.mark.usefixtures("task_identity")


def _strategy(tiny_spec, **options):
    config = FedConfig("fedavg", tiny_spec, model_options=UNET, **options)
    model_weights = weights_of(build_client_model(config))
    return FedAvgStrategy(config, "token"), to_record(model_weights), model_weights


def _train_round(strategy, grid, arrays):
    messages = strategy.configure_train(1, arrays, ConfigRecord(), grid)
    return strategy.aggregate_train(1, grid.send_and_receive(messages, timeout=1.0))


def test_round_survives_errors_silence_and_leaks_and_names_who_was_missing(tiny_spec):
    strategy, arrays, weights = _strategy(tiny_spec, round_timeout=7.0, node_wait=0.0, min_clients=1)
    grid = FakeGrid({0: "ok", 1: "error", 2: "silent"})
    new_arrays, metrics = _train_round(strategy, grid, arrays)
    assert strategy.log.missing["train"] == ["b", "c"]
    assert strategy.log.errors == {"train/b": "client-error", "train/c": "timeout"}  # codes, not the client's text
    key = next(iter(weights))
    torch.testing.assert_close(from_record(new_arrays)[key], weights[key] + 1)  # only client a aggregated
    assert set(strategy.log.bytes_down) == {"a", "b", "c"} and set(strategy.log.bytes_up) == {"a"}

    strategy, arrays, _ = _strategy(tiny_spec, node_wait=0.0)
    grid = FakeGrid({0: "ok", 1: "leak", 2: "ok"})
    new_arrays, _ = _train_round(strategy, grid, arrays)
    assert strategy.log.missing["train"] == ["b"]
    assert strategy.log.errors == {"train/b": "not-allowed"}
    expected = (2 * (weights[key] + 1) + 6 * (weights[key] + 3)) / 8  # sample-weighted a and c
    torch.testing.assert_close(from_record(new_arrays)[key], expected)


def test_too_few_replies_keep_the_global_model(tiny_spec):
    strategy, arrays, _ = _strategy(tiny_spec, node_wait=0.0, min_clients=2)
    new_arrays, metrics = _train_round(strategy, FakeGrid({0: "ok", 1: "silent", 2: "error"}), arrays)
    assert new_arrays is None and metrics is None


def test_server_refuses_to_send_oversized_messages(tiny_spec):
    strategy, arrays, _ = _strategy(tiny_spec, node_wait=0.0, max_message_bytes=1000)
    with pytest.raises(OutgoingMessageError, match="server message to a: message of .* exceeds max_message_bytes=1000"):
        strategy.configure_train(1, arrays, ConfigRecord(), FakeGrid({0: "ok", 1: "ok", 2: "ok"}))


def test_every_train_message_carries_round_and_run_token(tiny_spec):
    strategy, arrays, _ = _strategy(tiny_spec, node_wait=0.0)
    strategy.round_offset = 4  # a resumed run continues the round numbers
    grid = FakeGrid({0: "ok", 1: "ok", 2: "ok"})
    _train_round(strategy, grid, arrays)
    train = [m for m in grid.sent if m.metadata.message_type == MessageType.TRAIN]
    assert len(train) == 3
    assert all(m.content["config"]["server-round"] == 5 and m.content["config"]["run-token"] == "token" for m in train)
