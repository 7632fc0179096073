"""The in-repo Flower app (issue 15): ``pyproject.toml`` declares it, its run config maps onto
:class:`FedConfig`, and ``flwr run .`` runs it on a simulation SuperLink."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from flwr.app import Context, RecordDict

from automri.errors import AutoMRIError
from automri.federated.app_config import APP_CONFIG, config_from_run_config, resolve_config
from automri.federated.deploy import run_app_in_simulation
from automri.federated.options import build_config

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_declares_the_app_with_the_code_defaults():
    app = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["flwr"]["app"]
    assert app["config"] == APP_CONFIG
    assert app["components"] == {"serverapp": "automri.federated.flower_app:server",
                                 "clientapp": "automri.federated.flower_app:client"}
    for path in app["fab-include"]:
        assert (ROOT / path).is_file()


def test_run_config_keys_map_onto_the_options(tmp_path):
    defaults = config_from_run_config({})
    assert (defaults.algorithm, defaults.rounds, defaults.spec.size, defaults.dp, defaults.min_clients) == \
        ("fedavg", 3, 32, "none", 0.5)
    config = config_from_run_config({"algorithm": "fedprox", "rounds": 5, "steps": 0, "size": 16, "min-clients": 2,
                                     "model-options": "{chans: 4}", "dp": "central", "dp-clip": 0.5,
                                     "out": str(tmp_path / "run")})
    assert (config.algorithm, config.rounds, config.steps, config.spec.size, config.min_clients) == ("fedprox", 5, None, 16, 2)
    assert config.model_options == {"chans": 4} and config.dp_clip == 0.5 and config.weighting == "equal"
    assert config.client_root == str(tmp_path / "run" / "clients")
    shipped = build_config("nonfed", "default", tmp_path / "other", rounds=7)
    assert config_from_run_config({"automri-config": shipped.to_json(), "rounds": 2}) == shipped  # the JSON wins
    with pytest.raises(AutoMRIError, match="run config model-options '\\[1, 2\\]': expected a mapping"):
        config_from_run_config({"model-options": "[1, 2]"})
    with pytest.raises(AutoMRIError, match="--algorithm 'fedx'"):
        config_from_run_config({"algorithm": "fedx"})
    for key, value, expected in (("rounds", 3.7, "an integer"), ("resume", "false", "true or false"),
                                 ("lr", "fast", "a number"), ("rounds", True, "an integer"), ("spec", 3, "a string")):
        with pytest.raises(AutoMRIError, match=f"run config {key}={value!r}: expected {expected}"):
            config_from_run_config({key: value})
    with pytest.raises(AutoMRIError, match="run config 'nope': unknown key"):
        config_from_run_config({"nope": 1})


def test_flwr_run_of_the_repository_runs_the_app_in_simulation(tmp_path):
    out = tmp_path / "run"
    run_app_in_simulation(ROOT, tmp_path / "flwr", f"rounds=1 size=16 steps=1 batch-size=2 "
                          f"model-options='{{chans: 4, num_pool_layers: 2}}' out='{out}'", supernodes=3, timeout=600)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds_done"] == 1 and summary["errors"] == {}
    assert set(summary["clients"]) == set(config_from_run_config({}).spec.client_names())  # the built-in federation


def test_every_message_of_a_run_reuses_the_parsed_options():
    """The mod and the handler resolve the options of every message; the run config is parsed once."""

    def context():
        return Context(run_id=1, node_id=2, node_config={}, state=RecordDict(), run_config={"rounds": 2, "size": 16})

    first = resolve_config(None, context())
    assert resolve_config(None, context()) is first and first.rounds == 2
