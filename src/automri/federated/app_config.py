"""The run config of the in-repo Flower app (``flwr run .``) and how either app reads its options.

The repository's ``pyproject.toml`` declares a Flower app (``[tool.flwr.app]``): its components
are :mod:`automri.federated.flower_app`, and ``[tool.flwr.app.config]`` declares one run-config key
per option, with the defaults of :data:`APP_CONFIG` (a test keeps the two equal). ``flwr run .
CONNECTION --run-config "algorithm='fedprox' rounds=5"`` overrides any of them; Flower refuses keys
that are not declared. ``automri fed deploy`` instead ships every option as one JSON string under
``automri-config`` (its generated app declares only that key); when that key is set it wins.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml
from flwr.app import Context

from automri.errors import AutoMRIError
from automri.federated.options import RUN_CONFIG_KEY, FedConfig, build_config

APP_CONFIG: dict[str, bool | int | float | str] = {
    "algorithm": "fedavg",
    "spec": "default",
    "rounds": 3,
    "local-epochs": 1,
    "steps": 4,
    "size": 32,
    "batch-size": 4,
    "lr": 0.001,
    "model": "unet",
    "model-options": "",
    "genotype": "",
    "seed": 0,
    "out": "runs/flwr-app",
    "resume": False,
    "overwrite": False,
    "aggregation": "fedavg",
    "min-clients": 0.5,
    "dp": "none",
    "dp-clip": 0.0,
    "dp-noise": 1.0,
    "dp-epsilon": 10.0,
    "dp-delta": 0.001,
    "dp-seeded-noise": False,
    RUN_CONFIG_KEY: "",
}
"""Run-config key -> default. ``steps`` 0: each client's whole training split; ``size`` 0: the
spec's size; ``resume`` / ``overwrite``: as the CLI flags, for the run directory ``out`` that
the ServerApp prepares itself; ``model-options``: a YAML mapping such as ``"{chans: 8}"``; ``genotype`` "": the
published one; ``dp-clip`` 0: none; ``automri-config``: every option as JSON (overrides the rest)."""


_KIND_NAMES = {bool: "true or false", int: "an integer", str: "a string"}


def _value(values: dict[str, Any], key: str) -> Any:
    """``values[key]`` checked against the type of its default (an int is also a float; ``min-clients``
    is a count or a fraction); :class:`AutoMRIError` naming the key otherwise."""
    value, default = values[key], APP_CONFIG[key]
    kinds: tuple[type, ...] = (int, float) if key == "min-clients" or isinstance(default, float) else (type(default),)
    if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, kinds):
        expected = "a number" if float in kinds else _KIND_NAMES[type(default)]
        raise AutoMRIError(f"run config {key}={value!r}: expected {expected} (pyproject.toml [tool.flwr.app.config])")
    return float(value) if isinstance(default, float) and key != "min-clients" else value


def config_from_run_config(run_config: dict[str, Any]) -> FedConfig:
    """The :class:`FedConfig` of a Flower run config (keys of :data:`APP_CONFIG`, values of their types)."""
    if run_config.get(RUN_CONFIG_KEY):
        return FedConfig.from_json(str(run_config[RUN_CONFIG_KEY]))
    merged = {**APP_CONFIG, **run_config}
    unknown = sorted(set(merged) - set(APP_CONFIG))
    if unknown:
        raise AutoMRIError(f"run config {unknown[0]!r}: unknown key (expected one of {', '.join(APP_CONFIG)})")
    v = {key: _value(merged, key) for key in APP_CONFIG}
    options = yaml.safe_load(v["model-options"]) or {}
    if not isinstance(options, dict):
        raise AutoMRIError(f"run config model-options {v['model-options']!r}: expected a mapping such as '{{chans: 8}}'")
    return build_config(
        v["algorithm"], v["spec"], v["out"], size=v["size"] or None, rounds=v["rounds"], local_epochs=v["local-epochs"],
        steps=v["steps"] or None, batch_size=v["batch-size"], lr=v["lr"], model=v["model"], model_options=options,
        genotype=v["genotype"] or None, seed=v["seed"], aggregation=v["aggregation"], min_clients=v["min-clients"],
        dp=v["dp"], dp_clip=v["dp-clip"] or None, dp_noise=v["dp-noise"], dp_epsilon=v["dp-epsilon"],
        dp_delta=v["dp-delta"], dp_seeded_noise=v["dp-seeded-noise"],
    )


def run_config_flag(run_config: dict[str, Any], key: str) -> bool:
    """A boolean key of the run config (``resume``, ``overwrite``), type-checked."""
    return _value({**APP_CONFIG, **run_config}, key)


def prepares_own_run(captured: FedConfig | None, context: Context) -> bool:
    """Whether the ServerApp must create its run directory itself (``flwr run .`` of the in-repo
    app); ``run_federated`` and ``automri fed deploy`` prepare it before the apps start."""
    return captured is None and not context.run_config.get(RUN_CONFIG_KEY)


def resolve_config(captured: FedConfig | None, context: Context) -> FedConfig:
    """The options an app runs with: those captured when it was built (``run_federated``), else the
    run config of ``context`` (``flwr run`` of the in-repo app, or ``automri fed deploy``)."""
    if captured is not None:
        return captured
    if not context.run_config:
        raise AutoMRIError("empty run config: start the app with `flwr run .` (the in-repo Flower app) "
                           "or `automri fed deploy`")
    return _config_of(tuple(sorted(context.run_config.items())))


@functools.lru_cache(maxsize=8)
def _config_of(items: tuple[tuple[str, Any], ...]) -> FedConfig:
    """:func:`config_from_run_config` once per distinct run config: every message of a run carries
    the same one, and parsing it reads the federation spec (a frozen :class:`FedConfig` is shared)."""
    return config_from_run_config(dict(items))
