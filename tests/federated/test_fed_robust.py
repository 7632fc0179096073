"""Robust aggregation rules (median, trimmed mean, update clipping) by hand and inside a strategy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fedtiny import UNET, FakeGrid
from flwr.app import ConfigRecord, MessageType
from flwr.serverapp.strategy.fedtrimmedavg import trim_mean

from automri.errors import AutoMRIError
from automri.federated.options import FedConfig
from automri.federated.robust import aggregate, clip_update, median_weights, trimmed_mean_weights
from automri.federated.strategies import build_strategy
from automri.federated.task import build_client_model, from_record, to_record, weights_of

SETS = [{"w": torch.tensor([1.0, 10.0]), "n": torch.tensor(7)},
        {"w": torch.tensor([2.0, -4.0]), "n": torch.tensor(8)},
        {"w": torch.tensor([100.0, 0.0]), "n": torch.tensor(9)},
        {"w": torch.tensor([3.0, 1.0]), "n": torch.tensor(1)}]


def test_median_and_trimmed_mean_by_hand():
    median = median_weights(SETS)
    torch.testing.assert_close(median["w"], torch.tensor([2.5, 0.5]))
    assert int(median["n"]) == 7 and median["w"].dtype == torch.float32  # integers from the first set
    trimmed = trimmed_mean_weights(SETS, 0.25)  # drop the smallest and largest per coordinate
    torch.testing.assert_close(trimmed["w"], torch.tensor([2.5, 0.5]))
    stacked = np.stack([s["w"].numpy() for s in SETS]).astype(np.float64)
    torch.testing.assert_close(trimmed["w"], torch.from_numpy(trim_mean(stacked, 0.25)).float())
    torch.testing.assert_close(trimmed_mean_weights(SETS, 0.0)["w"], torch.tensor([26.5, 1.75]))


def test_clipping_bounds_each_update_norm():
    reference = {"w": torch.zeros(2), "n": torch.tensor(0)}
    clipped = clip_update({"w": torch.tensor([3.0, 4.0]), "n": torch.tensor(5)}, reference, 1.0)
    torch.testing.assert_close(clipped["w"], torch.tensor([0.6, 0.8]))
    assert int(clipped["n"]) == 5
    small = {"w": torch.tensor([0.3, 0.4])}
    assert clip_update(small, reference, 1.0) is small
    out = aggregate([{"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([0.0, 0.0])}], [1.0, 1.0], "fedavg",
                    reference={"w": torch.zeros(2)}, clip_norm=1.0)
    torch.testing.assert_close(out["w"], torch.tensor([0.3, 0.4]))


def test_trimmed_mean_needs_enough_clients_to_cut(tiny_spec):
    with pytest.raises(AutoMRIError, match="--trim-fraction 0.2: expected a fraction in \\[1/3, 0.5\\)"):
        FedConfig("fedavg", tiny_spec, aggregation="trimmed-mean", trim_fraction=0.2)
    with pytest.raises(AutoMRIError, match="--aggregation 'mean'"):
        FedConfig("fedavg", tiny_spec, aggregation="mean")
    with pytest.raises(AutoMRIError, match="--clip-norm"):
        FedConfig("fedavg", tiny_spec, clip_norm=0.0)


@pytest.mark.usefixtures("task_identity")
@pytest.mark.parametrize("rule", ["median", "trimmed-mean"])
def test_a_poisoned_site_passes_validation_but_not_a_robust_rule(tiny_spec, rule):
    config = FedConfig("fedavg", tiny_spec, model_options=UNET, node_wait=0.0, aggregation=rule)
    strategy = build_strategy(config, "token")
    start = weights_of(build_client_model(config))
    grid = FakeGrid({0: "ok", 1: "poison", 2: "ok"}, shared=strategy.shared_keys)
    messages = strategy.configure_train(1, to_record(start), ConfigRecord(), grid)
    new_arrays, _ = strategy.aggregate_train(1, grid.send_and_receive(messages, timeout=1.0))
    assert strategy.log.errors == {} and set(strategy.log.train) == {"a", "b", "c"}  # validation lets it through
    train = [m for m in grid.sent if m.metadata.message_type == MessageType.TRAIN]
    replies = [from_record(grid._answer(m, m.metadata.dst_node_id - 100)["arrays"]) for m in train]  # same seeds
    for key, value in from_record(new_arrays).items():
        if value.is_floating_point():
            # 3 clients: the median, and the trimmed mean cutting one value per end, are the middle value
            torch.testing.assert_close(value, torch.stack([r[key] for r in replies]).sort(dim=0).values[1])
