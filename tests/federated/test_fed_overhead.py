"""Flower's overhead per round against the clients' local compute: the clients' ``compute-s``
metric, the ``timing`` of every round record, the summary means, ``measure_round_overhead`` and
its report in ``automri bench speed``. One tiny simulation (2 clients, 16 px, 2 rounds) is shared."""

from __future__ import annotations

import json

import pytest

from automri.experiments import speed
from automri.federated import simulation
from automri.federated.guard import ALLOWED_METRICS, COMPUTE_METRIC
from automri.federated.report import round_timing, timing_means
from automri.train.runs import RunDir

TIMING = {"round_wall_s", "compute_max_s", "compute_sum_s", "overhead_s"}
MEANS = {"round_overhead_s", "client_compute_s", "round_wall_s"}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    out = tmp_path_factory.mktemp("overhead") / "run"
    result = simulation.measure_round_overhead(rounds=2, clients=2, size=16, seed=0, out=out)
    return out, result


def test_round_timing_is_the_critical_path_of_the_two_phases():
    record = {
        "seconds": 5.0,
        "train": {"a": {COMPUTE_METRIC: 1.0}, "b": {COMPUTE_METRIC: 2.0}},
        "eval": {"a": {COMPUTE_METRIC: 0.5}, "b": {COMPUTE_METRIC: 0.25}, "c": {"global-psnr": 20.0}},
    }
    timing = round_timing(record)
    assert timing == pytest.approx({"round_wall_s": 5.0, "compute_max_s": 2.5, "compute_sum_s": 3.75, "overhead_s": 2.5})
    # a round where every client failed: no compute, all of the wall time is overhead
    assert round_timing({"seconds": 1.0, "train": {}, "eval": {}})["overhead_s"] == 1.0


def test_round_records_and_summary_hold_the_timing(measured):
    out, _ = measured
    assert COMPUTE_METRIC in ALLOWED_METRICS
    history = RunDir(out, resume=True).read_jsonl("metrics.jsonl")
    assert [rec["round"] for rec in history] == [1, 2]
    for rec in history:
        timing = rec["timing"]
        assert set(timing) == TIMING
        train = [row[COMPUTE_METRIC] for row in rec["train"].values()]
        evaluate = [row[COMPUTE_METRIC] for row in rec["eval"].values()]
        assert len(train) == len(evaluate) == 2 and min(train + evaluate) > 0
        assert timing["compute_max_s"] == pytest.approx(max(train) + max(evaluate))
        assert timing["compute_sum_s"] == pytest.approx(sum(train) + sum(evaluate))
        assert timing["round_wall_s"] >= timing["compute_max_s"] >= 0
        assert timing["overhead_s"] == pytest.approx(timing["round_wall_s"] - timing["compute_max_s"])
        assert timing["round_wall_s"] == rec["seconds"]
        assert not any(COMPUTE_METRIC in key for key in rec["mean"])  # scores only
    summary = json.loads((out / "summary.json").read_text())
    assert [row["round"] for row in summary["timing"]] == [1, 2]
    assert {k: summary[k] for k in MEANS} == pytest.approx(timing_means([rec["timing"] for rec in history]))
    assert (out / "figures" / "overhead.png").is_file()


def test_measure_round_overhead_leaves_round_one_out(measured):
    out, result = measured
    assert set(result) == MEANS | {"rounds", "clients", "measured_rounds"}
    assert (result["rounds"], result["clients"], result["measured_rounds"]) == (2, 2, [2])
    second = RunDir(out, resume=True).read_jsonl("metrics.jsonl")[1]["timing"]
    assert result["round_overhead_s"] == pytest.approx(second["overhead_s"])
    assert result["client_compute_s"] == pytest.approx(second["compute_max_s"])
    assert result["round_wall_s"] == pytest.approx(second["round_wall_s"])


def test_bench_speed_reports_the_flower_overhead(measured, monkeypatch):
    _, result = measured
    monkeypatch.setattr(speed, "measure_round_overhead", lambda: result)
    flower = speed.flower_round_overhead()
    assert flower["measured"] and flower["round_overhead_s"] == result["round_overhead_s"]
    assert speed._flower_text(flower).startswith(f"{result['round_overhead_s']:.3f} s per round")


def test_ray_gets_one_cpu_per_client_so_no_client_waits_for_a_core():
    assert simulation.ray_cpus(3) == 3
    assert simulation.ray_cpus(8) == 8
    assert simulation.ray_cpus(1) == simulation.MIN_RAY_CPUS
