"""Run a federation on one machine with Flower's simulation engine (Ray backend).

``run_federated`` prepares the run directory, builds the apps with the options captured in their
closures (``run_simulation`` gives the apps an empty ``run_config``), starts one virtual SuperNode
per client (``num_cpus=1`` each, Ray limited to 2 CPUs, no dashboard) and returns the summary the
ServerApp wrote. Flower's ``run_simulation`` is deprecated in favour of ``flwr run``; it is pinned
(flwr 1.41) and used only here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from automri.errors import AutoMRIError
from automri.federated.options import FedConfig
from automri.federated.spec import FederationSpec, load_spec
from automri.federated.state import open_run

CLIENT_CPUS = 1
RAY_CPUS = 2


def build_config(algorithm: str, spec: FederationSpec | str, out: str | os.PathLike, **options: Any) -> FedConfig:
    """A :class:`FedConfig` from an algorithm, a spec (object, ``"default"`` or YAML path) and options.

    ``size`` in ``options`` overrides the spec's image size. Client state goes to ``<out>/clients``.
    """
    size = options.pop("size", None)
    if not isinstance(spec, FederationSpec):
        spec = load_spec(spec, size=size)
    elif size is not None:
        spec = FederationSpec(spec.clients, size, spec.source)
    out = Path(out).resolve()
    options.setdefault("client_root", str(out / "clients"))
    return FedConfig(algorithm=algorithm, spec=spec, out=str(out), **options)


def run_federated(
    algorithm: str,
    spec: FederationSpec | str,
    rounds: int,
    local_epochs: int,
    steps: int | None,
    out: str | os.PathLike,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Simulate ``rounds`` rounds of ``algorithm`` over the clients of ``spec``; returns ``summary.json``.

    ``options`` are further :class:`FedConfig` fields (``batch_size``, ``lr``, ``model``,
    ``model_options``, ``mu``, ``ema``, ``genotype``, ``size``, ...). ``resume`` continues the run in
    ``out`` after its last completed round (the other options must match the original run, except
    ``rounds``, timeouts and fault drills).
    """
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from flwr.simulation import run_simulation

    from automri.federated.client_app import make_client_app
    from automri.federated.server_app import make_server_app

    config = build_config(algorithm, spec, out, rounds=rounds, local_epochs=local_epochs, steps=steps,
                          seed=seed, **options)
    run, _ = open_run(config, resume=resume, overwrite=overwrite)
    summary_path = run.path / "summary.json"
    summary_path.unlink(missing_ok=True)  # a resumed run writes a new one
    run_simulation(
        server_app=make_server_app(config),
        client_app=make_client_app(config),
        num_supernodes=config.num_clients,
        backend_config={
            "client_resources": {"num_cpus": CLIENT_CPUS, "num_gpus": 0.0},
            "init_args": {"num_cpus": RAY_CPUS, "include_dashboard": False},
        },
    )
    if not summary_path.is_file():
        raise AutoMRIError(f"the federated run in {run.path} ended without a summary (see the log above)")
    return json.loads(summary_path.read_text(encoding="utf-8"))
