"""The run config of the in-repo Flower app (``flwr run .``) and how either app reads its options.

The repository's ``pyproject.toml`` declares a Flower app (``[tool.flwr.app]``): its components
are :mod:`automri.federated.flower_app`, and ``[tool.flwr.app.config]`` declares one run-config key
per option, with the defaults of :data:`APP_CONFIG` (a test keeps the two equal). ``flwr run .
CONNECTION --run-config "algorithm='fedprox' rounds=5"`` overrides any of them; Flower refuses keys
that are not declared. ``automri fed deploy`` instead ships every option as one JSON string under
``automri-config`` (its generated app declares only that key); when that key is set it wins.
"""

from __future__ import annotations

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
    RUN_CONFIG_KEY: "",
}
"""Run-config key -> default. ``steps`` 0: each client's whole training split; ``size`` 0: the
spec's size; ``resume`` / ``overwrite``: as the CLI flags, for the run directory ``out`` that
the ServerApp prepares itself; ``model-options``: a YAML mapping such as ``"{chans: 8}"``; ``genotype`` "": the
published one; ``dp-clip`` 0: none; ``automri-config``: every option as JSON (overrides the rest)."""


def config_from_run_config(run_config: dict[str, Any]) -> FedConfig:
    """The :class:`FedConfig` of a Flower run config (keys of :data:`APP_CONFIG`)."""
    if run_config.get(RUN_CONFIG_KEY):
        return FedConfig.from_json(str(run_config[RUN_CONFIG_KEY]))
    values = {**APP_CONFIG, **run_config}
    options = yaml.safe_load(str(values["model-options"])) or {}
    if not isinstance(options, dict):
        raise AutoMRIError(f"run config model-options {values['model-options']!r}: expected a mapping such as '{{chans: 8}}'")
    min_clients = values["min-clients"]
    return build_config(
        str(values["algorithm"]), str(values["spec"]), str(values["out"]),
        size=int(values["size"]) or None, rounds=int(values["rounds"]), local_epochs=int(values["local-epochs"]),
        steps=int(values["steps"]) or None, batch_size=int(values["batch-size"]), lr=float(values["lr"]),
        model=str(values["model"]), model_options=options, genotype=str(values["genotype"]) or None,
        seed=int(values["seed"]), aggregation=str(values["aggregation"]),
        min_clients=min_clients if isinstance(min_clients, int) and not isinstance(min_clients, bool) else float(min_clients),
        dp=str(values["dp"]), dp_clip=float(values["dp-clip"]) or None, dp_noise=float(values["dp-noise"]),
        dp_epsilon=float(values["dp-epsilon"]), dp_delta=float(values["dp-delta"]),
    )


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
    return config_from_run_config(dict(context.run_config))
