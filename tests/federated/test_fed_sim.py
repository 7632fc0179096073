"""Every algorithm for 2 rounds with 3 tiny clients in Flower's simulation engine, plus a failing
client, a server crash + resume, outgoing-message inspection and byte accounting.

Simulations run one after another (each starts its own Ray cluster of 2 CPUs)."""

from __future__ import annotations

import json

import pytest
import torch
from fedtiny import TINY_RUN, UNET, network_options
from typer.testing import CliRunner

from automri.cli import app
from automri.federated.guard import ALLOWED_METRICS
from automri.federated.local import FedMRI
from automri.federated.options import FedConfig
from automri.federated.report import WALL_CLOCK_KEYS
from automri.federated.simulation import run_federated
from automri.federated.task import alpha_names, build_client_model
from automri.train.runs import RunDir

SCORES = {"global-psnr", "global-ssim", "global-nmse", "personal-psnr", "personal-ssim", "personal-nmse"}


def _run(algorithm, spec, out, **options):
    merged = {**TINY_RUN, **network_options(algorithm), **options}
    return run_federated(algorithm, spec, out=out, **merged)


def _history(out):
    return RunDir(out, resume=True).read_jsonl("metrics.jsonl")


def _audit(out):
    return RunDir(out, resume=True).read_jsonl("audit.jsonl")


def _nbytes(state):
    return sum(t.numel() * t.element_size() for t in state.values())


def _check_common(summary, out, names=("a", "b", "c")):
    assert summary["rounds_done"] == 2
    assert set(summary["clients"]) == set(names)
    history = _history(out)
    assert [rec["round"] for rec in history] == [1, 2]
    assert (out / "figures" / "psnr.png").is_file()
    for name in names:
        assert (out / "figures" / f"psnr-{name}.png").is_file()
        assert (out / "clients" / name / "figures" / f"reconstruction-{name}.png").is_file()
    # every reply that reached the server was inspected: only allowed records, keys and metrics
    audit = _audit(out)
    assert len(audit) == sum(len(rec["train"]) + len(rec["eval"]) for rec in history)
    for line in audit:
        assert set(line["records"]) <= {"arrays", "alpha", "metrics"}
        assert set(line["records"]["metrics"]["keys"]) <= ALLOWED_METRICS
    return history, audit


def test_fedavg_via_cli_bytes_and_messages(tiny_spec_file, tmp_path):
    out = tmp_path / "fedavg"
    args = ["fed", "train", "--algorithm", "fedavg", "--spec", str(tiny_spec_file), "--rounds", "2",
            "--local-epochs", "1", "--steps", "1", "--batch-size", "2", "--size", "16", "--model", "unet",
            "--model-option", "chans=4", "--model-option", "num_pool_layers=2", "--out", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    history, audit = _check_common(summary, out)
    state = build_client_model(FedConfig("fedavg", FedConfig.from_dict(RunDir(out, resume=True).read_config()).spec,
                                         model_options=UNET)).state_dict()
    model_bytes = _nbytes(state)
    for line in audit:
        if line["phase"] == "train":
            assert set(line["records"]["arrays"]["keys"]) == set(state)
            # arrays' nbytes + 8 bytes per metric value
            assert line["bytes"] == model_bytes + 8 * len(line["records"]["metrics"]["keys"])
    for rec in history:
        for name in "abc":
            train_metrics = 8 * len(rec["train"][name])
            eval_metrics = 8 * len(rec["eval"][name])
            assert rec["bytes_up"][name] == model_bytes + train_metrics + eval_metrics
            assert rec["bytes_down"][name] >= 2 * model_bytes  # global model in train and evaluate messages
            assert set(rec["eval"][name]) >= SCORES
    assert summary["bytes_up_total"] == sum(rec["bytes_up_total"] for rec in history)
    assert summary["parameters"] == sum(t.numel() for t in state.values())


def test_nonfed_sends_no_weights(tiny_spec, tmp_path):
    out = tmp_path / "nonfed"
    summary = _run("nonfed", tiny_spec, out)
    history, audit = _check_common(summary, out)
    assert all("arrays" not in line["records"] for line in audit)
    for rec in history:
        assert not rec["aggregated"]
        for name in "abc":
            assert "global-psnr" not in rec["eval"][name] and "personal-psnr" in rec["eval"][name]
    # the client's own weights persist across rounds in its private state (round 2 continues round 1)
    first, second = (torch.load(out / "clients" / "a" / f"state-r0000{r}.pt") for r in (1, 2))
    key = next(iter(first["weights"]["model"]))
    assert not torch.equal(first["weights"]["model"][key], second["weights"]["model"][key])


def test_fedprox_with_a_client_that_raises(tiny_spec, tmp_path):
    out = tmp_path / "fedprox"
    summary = _run("fedprox", tiny_spec, out, mu=0.1, faults={"client_raise": {"b": 2}})
    history, _ = _check_common(summary, out)
    assert summary["missing"] == {"2": {"train": ["b"], "evaluate": []}}
    assert summary["errors"]["2"] == {"train/b": "client-error"}  # a code, not the client's exception text
    assert "fault drill" not in (out / "metrics.jsonl").read_text()
    assert summary["clients"]["b"]["missing_rounds"] == [2]
    assert set(history[1]["train"]) == {"a", "c"} and history[1]["aggregated"]


def test_fedmri_shares_only_the_encoder(tiny_spec, tmp_path):
    out = tmp_path / "fedmri"
    summary = _run("fedmri", tiny_spec, out)
    history, audit = _check_common(summary, out)
    config = FedConfig("fedmri", tiny_spec, model_options=UNET)
    encoder = set(FedMRI.encoder_keys(config))
    state = build_client_model(config).state_dict()
    for line in audit:
        if line["phase"] == "train":
            assert set(line["records"]["arrays"]["keys"]) == encoder
    encoder_bytes = _nbytes({k: state[k] for k in encoder})
    # round 2: each client receives the global encoder twice (train, evaluate) and no other client's weights
    assert encoder_bytes * 2 <= history[1]["bytes_down"]["a"] < encoder_bytes * 2 + 1000


def test_fednas_search_records_alpha_and_keeps_best_genotype(tiny_spec, tmp_path):
    out = tmp_path / "fednas"
    summary = _run("fednas", tiny_spec, out)
    history, audit = _check_common(summary, out)
    alpha_log = RunDir(out, resume=True).read_jsonl("alpha.jsonl")
    assert [rec["round"] for rec in alpha_log] == [1, 2]
    assert alpha_log[0]["alpha"] != alpha_log[1]["alpha"]
    model = build_client_model(FedConfig("fednas", tiny_spec, space_options=network_options("fednas")["space_options"]))
    (alpha_key,) = alpha_names(model)
    assert all(line["records"]["alpha"]["keys"] == [alpha_key] for line in audit if line["phase"] == "train")
    best_round = max(history, key=lambda rec: rec["mean"]["val-psnr"])["round"]
    assert summary["best"]["round"] == best_round
    assert json.loads((out / "genotype.json").read_text())["nodes"] == summary["best"]["genotype"]["nodes"]
    checkpoint = torch.load(out / "checkpoint-last.pt", weights_only=True)
    assert checkpoint["strategy"]["alpha"][alpha_key].tolist() == alpha_log[-1]["alpha"]


def _assert_same(a, b, where="history"):
    """Equal structure and numbers (floats to 1e-6 relative), ignoring wall-clock ``seconds``."""
    if isinstance(a, dict):
        keys_a, keys_b = set(a) - WALL_CLOCK_KEYS, set(b) - WALL_CLOCK_KEYS
        assert keys_a == keys_b, where
        for key in keys_a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-6), where
    else:
        assert a == b, where


def test_fedautomri_server_crash_and_resume_gives_the_same_history(tiny_spec, tmp_path):
    reference = tmp_path / "reference"
    summary = _run("fedautomri", tiny_spec, reference, ema_gamma=0.5)
    history, _ = _check_common(summary, reference)
    assert all(SCORES <= set(row) for rec in history for row in rec["eval"].values())

    crashed = tmp_path / "crashed"
    with pytest.raises(Exception, match="server stopped after round 1"):
        _run("fedautomri", tiny_spec, crashed, ema_gamma=0.5, faults={"server_stop_after": 1})
    assert [rec["round"] for rec in _history(crashed)] == [1]
    resumed = _run("fedautomri", tiny_spec, crashed, ema_gamma=0.5, resume=True)
    assert resumed["rounds_done"] == 2
    _assert_same(_history(crashed), history)
    _assert_same(resumed["clients"], summary["clients"], "clients")


def test_a_site_sending_nan_is_rejected_every_round_and_the_run_completes(tiny_spec, tmp_path, capfd):
    out = tmp_path / "nan-drill"
    summary = _run("fedavg", tiny_spec, out, faults={"tamper": {"b": "nan"}})
    history, _ = _check_common(summary, out)
    assert summary["errors"] == {"1": {"train/b": "non-finite"}, "2": {"train/b": "non-finite"}}
    assert all(rec["aggregated"] and set(rec["train"]) == {"a", "c"} for rec in history)
    checkpoint = torch.load(out / "checkpoint-last.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in checkpoint["arrays"].values() if v.is_floating_point())
    assert all(torch.isfinite(torch.tensor(row["global-psnr"])) for row in summary["clients"].values())
    # quiet by default: one line per round on the console, Flower's logs in the run directory
    err = capfd.readouterr().err
    assert "round 1/2: global PSNR" in err and "rejected: train/b (non-finite)" in err
    assert "INFO" not in err and (out / "flower.log").stat().st_size > 0
