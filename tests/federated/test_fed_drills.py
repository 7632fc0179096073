"""Every fault drill against the real strategies, driven by the fake Grid (no Ray): the round
completes, the global model stays finite, the bad reply is never averaged in, and the failure is
recorded with its reason code (never the client's own text)."""

from __future__ import annotations

import math

import pytest
import torch
from fedtiny import UNET, FakeGrid
from flwr.app import ConfigRecord, MessageType

from automri.errors import AutoMRIError
from automri.federated import strategies
from automri.federated.guard import REJECT_CODES, RejectedReply, check_count, check_metrics
from automri.federated.options import TAMPER_KINDS, FedConfig, parse_quorum
from automri.federated.robust import all_finite
from automri.federated.strategies import build_strategy
from automri.federated.task import build_client_model, from_record, to_record, weights_of

pytestmark = pytest.mark.usefixtures("task_identity")

EXPECTED_CODE = {
    "nan": "non-finite", "huge": "magnitude", "shape": "shape", "dtype": "dtype", "count": "count",
    "missing-metric": "missing-metric", "stall": "timeout",
}


def _setup(spec, algorithm="fedavg", **options):
    network = {"space_options": {"hidden": 4, "cells": 1, "iterations": 1}} if algorithm == "fednas" else {"model_options": UNET}
    config = FedConfig(algorithm, spec, node_wait=0.0, **network, **options)
    strategy = build_strategy(config, "token")
    return strategy, to_record(weights_of(build_client_model(config)))


def _round(strategy, grid, arrays):
    """One train round and one evaluate round (as Strategy.start runs them)."""
    messages = strategy.configure_train(1, arrays, ConfigRecord(), grid)
    new_arrays, _ = strategy.aggregate_train(1, grid.send_and_receive(messages, timeout=1.0))
    global_arrays = new_arrays if new_arrays is not None else arrays
    messages = strategy.configure_evaluate(1, global_arrays, ConfigRecord(), grid)
    strategy.aggregate_evaluate(1, grid.send_and_receive(messages, timeout=1.0))
    return new_arrays, strategy.log.record()


@pytest.mark.parametrize("kind", sorted(EXPECTED_CODE))
def test_a_drilled_site_is_rejected_with_its_code_and_never_averaged_in(tiny_spec, kind):
    strategy, arrays = _setup(tiny_spec)
    grid = FakeGrid({0: "ok", 1: kind, 2: "ok"}, shared=strategy.shared_keys)
    new_arrays, record = _round(strategy, grid, arrays)
    assert record["errors"]["train/b"] == EXPECTED_CODE[kind]
    assert set(record["errors"].values()) <= set(REJECT_CODES)
    assert record["missing"]["train"] == ["b"] and set(record["train"]) == {"a", "c"}
    assert record["aggregated"]
    weights, start = from_record(new_arrays), from_record(arrays)
    assert all_finite(weights)
    for key, value in weights.items():  # exactly the sample-weighted mean of a (2 examples) and c (6)
        if value.is_floating_point():
            torch.testing.assert_close(value, (2 * (start[key] + 1) + 6 * (start[key] + 3)) / 8)


def test_no_client_text_reaches_the_round_record(tiny_spec):
    strategy, arrays = _setup(tiny_spec)
    _, record = _round(strategy, FakeGrid({0: "ok", 1: "error", 2: "leak"}), arrays)
    assert record["errors"] == {"train/b": "client-error", "train/c": "not-allowed",
                                "evaluate/b": "client-error", "evaluate/c": "not-allowed", "aggregate": "quorum"}
    assert "patient" not in repr(record) and "Traceback" not in repr(record)


def test_a_node_claiming_another_sites_partition_is_rejected(tiny_spec):
    strategy, arrays = _setup(tiny_spec)
    grid = FakeGrid({0: "ok", 1: "partition", 2: "ok"}, shared=strategy.shared_keys)
    new_arrays, record = _round(strategy, grid, arrays)
    # node 101 (site b) claims partition 2 first; the real site c (node 102) is the second claimant
    assert strategy.node_partition == {100: 0, 101: 2}
    assert record["errors"]["discover/node-102"] == "partition"
    assert set(record["train"]) == {"a", "c"}  # never two replies for one partition
    assert all_finite(from_record(new_arrays))


def test_with_keys_bound_to_partitions_a_claim_never_takes_another_sites_partition(tiny_spec):
    """Deployment with SuperNode authentication: node ids are bound to partitions, so the spoofing
    node is rejected although it answers first, and the real site keeps its partition."""
    strategy, arrays = _setup(tiny_spec, node_partitions={"100": 0, "101": 1, "102": 2})
    grid = FakeGrid({0: "ok", 1: "partition", 2: "ok"}, shared=strategy.shared_keys)
    new_arrays, record = _round(strategy, grid, arrays)
    assert strategy.node_partition == {100: 0, 102: 2}
    assert record["errors"]["discover/node-101"] == "partition"
    assert set(record["train"]) == {"a", "c"} and all_finite(from_record(new_arrays))
    unknown, arrays = _setup(tiny_spec, node_partitions={"100": 0, "102": 2})  # node 101's key is not registered
    _, record = _round(unknown, FakeGrid({0: "ok", 1: "ok", 2: "ok"}, shared=unknown.shared_keys), arrays)
    assert record["errors"]["discover/node-101"] == "partition" and set(record["train"]) == {"a", "c"}
    with pytest.raises(AutoMRIError, match="node_partitions"):
        FedConfig("fedavg", tiny_spec, node_partitions={"100": 0, "101": 0})
    with pytest.raises(AutoMRIError, match="node_partitions"):
        FedConfig("fedavg", tiny_spec, node_partitions={"100": True})
    assert FedConfig("fedavg", tiny_spec, node_partitions={100: 0}).node_partitions == {"100": 0}  # ids as in JSON


def test_a_reply_claiming_a_partition_the_node_does_not_own_is_rejected(tiny_spec):
    strategy, arrays = _setup(tiny_spec)
    grid = FakeGrid({0: "ok", 1: "ok", 2: "ok"}, shared=strategy.shared_keys)
    strategy.configure_train(1, arrays, ConfigRecord(), grid)  # registers the three nodes honestly
    grid.behaviour[1] = "partition"  # b now claims c's partition in its reply
    messages = strategy.configure_train(1, arrays, ConfigRecord(), grid)
    strategy.aggregate_train(1, grid.send_and_receive(messages, timeout=1.0))
    assert strategy.log.errors["train/b"] == "partition"


def test_the_count_of_a_site_is_the_one_it_registered(tiny_spec):
    assert check_count(4.0, None, 100) == 4.0
    for count, registered in ((0.0, None), (-3.0, None), (2.5, None), (101.0, None), (1e9, None), (8.0, 4.0)):
        with pytest.raises(RejectedReply) as err:
            check_count(count, registered, 100)
        assert err.value.code == "count"


def test_list_valued_and_missing_metrics_are_rejected():
    from flwr.app import MetricRecord, RecordDict

    with pytest.raises(RejectedReply, match="missing-metric"):
        check_metrics(RecordDict({"metrics": MetricRecord({"partition-id": 0})}), {"num-examples"})
    with pytest.raises(RejectedReply, match="metric"):
        check_metrics(RecordDict({"metrics": MetricRecord({"num-examples": [1, 2]})}), {"num-examples"})
    with pytest.raises(RejectedReply, match="missing-metric"):
        check_metrics(RecordDict({}), {"num-examples"})


def test_a_non_finite_aggregate_is_never_adopted(tiny_spec, monkeypatch):
    strategy, arrays = _setup(tiny_spec)
    def nan_aggregate(weights, *args, **kwargs):
        return {k: torch.full_like(v, math.nan) for k, v in weights[0].items()}

    monkeypatch.setattr(strategies, "aggregate", nan_aggregate)
    grid = FakeGrid({0: "ok", 1: "ok", 2: "ok"}, shared=strategy.shared_keys)
    new_arrays, record = _round(strategy, grid, arrays)
    assert new_arrays is None and not record["aggregated"] and record["errors"] == {"aggregate": "non-finite"}


@pytest.mark.parametrize("kind", ["nan", "shape", "dtype", "count"])
def test_fednas_drills_on_w_and_alpha(tiny_spec, kind):
    strategy, arrays = _setup(tiny_spec, "fednas")
    alpha_before = {k: v.clone() for k, v in strategy.alpha.items()}
    grid = FakeGrid({0: "ok", 1: kind, 2: "ok"}, shared=strategy.shared_keys)
    _, record = _round(strategy, grid, arrays)
    assert record["errors"]["train/b"] == EXPECTED_CODE[kind]
    (key,) = alpha_before
    torch.testing.assert_close(strategy.alpha[key], (2 * (alpha_before[key] + 1) + 6 * (alpha_before[key] + 3)) / 8)


def test_fedmri_drilled_encoder_is_rejected(tiny_spec):
    strategy, arrays = _setup(tiny_spec, "fedmri")
    grid = FakeGrid({0: "ok", 1: "nan", 2: "ok"}, shared=strategy.shared_keys)
    new_arrays, record = _round(strategy, grid, arrays)
    assert record["errors"]["train/b"] == "non-finite" and all_finite(from_record(new_arrays))
    train = [m for m in grid.sent if m.metadata.message_type == MessageType.TRAIN]
    assert all(set(m.content.array_records) == {"arrays"} for m in train)  # never another client's weights


def test_quorum_counts_and_fractions(tiny_spec):
    assert FedConfig("fedavg", tiny_spec).quorum == 2  # default: a majority (0.5 of 3, rounded up)
    assert FedConfig("fedavg", tiny_spec, min_clients=1.0).quorum == 3
    assert FedConfig("fedavg", tiny_spec, min_clients=1).quorum == 1
    assert parse_quorum("2") == 2 and parse_quorum("0.5") == 0.5
    for bad in (0, 4, 0.0, 1.5, True):
        with pytest.raises(AutoMRIError, match="--min-clients"):
            FedConfig("fedavg", tiny_spec, min_clients=bad)
    with pytest.raises(AutoMRIError, match="--min-clients 'half'"):
        parse_quorum("half")
    strategy, arrays = _setup(tiny_spec, min_clients=1.0)
    new_arrays, record = _round(strategy, FakeGrid({0: "ok", 1: "nan", 2: "ok"}, shared=strategy.shared_keys), arrays)
    assert new_arrays is None and not record["aggregated"]


def test_fault_config_names_known_kinds_and_clients(tiny_spec):
    assert set(EXPECTED_CODE) | {"partition", "poison"} == set(TAMPER_KINDS)
    with pytest.raises(AutoMRIError, match="faults.tamper.b 'evil'"):
        FedConfig("fedavg", tiny_spec, faults={"tamper": {"b": "evil"}})
    with pytest.raises(AutoMRIError, match="faults.tamper 'z'"):
        FedConfig("fedavg", tiny_spec, faults={"tamper": {"z": "nan"}})
    with pytest.raises(AutoMRIError, match="faults 'bogus'"):
        FedConfig("fedavg", tiny_spec, faults={"bogus": 1})


def test_round_line_shows_psnr_and_every_rejection():
    from automri.federated.report import round_line

    record = {"round": 2, "mean": {"global-psnr": 21.234, "personal-psnr": 22.0}, "train": {}, "aggregated": False,
              "errors": {"train/b": "non-finite", "aggregate": "quorum"}}
    assert round_line(record, 5) == ("round 2/5: global PSNR 21.23 dB, personal PSNR 22.00 dB; "
                                     "global model kept (quorum); rejected: train/b (non-finite)")


def test_cli_drill_flag_parses_client_kind_pairs(tiny_spec):
    from automri.cli.fed import robustness_options

    options = robustness_options("median", 0.34, 2.0, "2", 30.0, ["b=nan", "c=stall"])
    assert options["faults"] == {"tamper": {"b": "nan", "c": "stall"}} and options["min_clients"] == 2
    assert FedConfig("fedavg", tiny_spec, **options).quorum == 2
    with pytest.raises(AutoMRIError, match="--drill 'b': expected CLIENT=KIND"):
        robustness_options("fedavg", 0.34, None, "0.5", 30.0, ["b"])
