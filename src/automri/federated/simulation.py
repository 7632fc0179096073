"""Run a federation on one machine with Flower's simulation engine (Ray backend).

``run_federated`` prepares the run directory, builds the apps with the options captured in their
closures (``run_simulation`` gives the apps an empty ``run_config``), starts one virtual SuperNode
per client (``num_cpus=1`` each, Ray given one CPU per client and at least 2, no dashboard) and
returns the summary the ServerApp wrote. Flower's ``run_simulation`` is deprecated in favour of
``flwr run``; it is pinned (flwr 1.41) and used only here.

``measure_round_overhead`` times Flower itself: a tiny FedAvg federation whose rounds are mostly
Flower's work (see :func:`automri.federated.report.round_timing` for the definition).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

from flwr.simulation import run_simulation

from automri.errors import AutoMRIError
from automri.federated.client_app import make_client_app
from automri.federated.logs import LOG_FILE, flower_logs, ray_init_args
from automri.federated.options import build_config
from automri.federated.report import timing_means, timing_rows
from automri.federated.server_app import make_server_app
from automri.federated.spec import FederationSpec, spec_from_dict
from automri.federated.state import open_run
from automri.federated.task import check_dp_model
from automri.train.runs import RunDir

CLIENT_CPUS = 1
MIN_RAY_CPUS = 2


def ray_cpus(num_clients: int) -> int:
    """The CPUs Ray is told it has: one per client (at least :data:`MIN_RAY_CPUS`), so every client of
    a phase starts at once. With fewer (this module used a fixed 2) the third of three clients
    waited for a CPU while one core idled; measured at the study scale, that queueing was most of the
    33-50 % "overhead" of a round. Oversubscribed clients share the cores, and their longer
    ``compute-s`` is then real compute on the round's critical path, not overhead."""
    return max(MIN_RAY_CPUS, num_clients * CLIENT_CPUS)


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
    verbose: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Simulate ``rounds`` rounds of ``algorithm`` over the clients of ``spec``; returns ``summary.json``.

    Flower's and Ray's logs go to ``<out>/flower.log`` and the console shows one line per round
    (:mod:`automri.federated.logs`); ``verbose`` shows Flower's and Ray's logs on the console too.

    ``options`` are further :class:`FedConfig` fields (``batch_size``, ``lr``, ``model``,
    ``model_options``, ``mu``, ``ema``, ``genotype``, ``size``, ...). ``resume`` continues the run in
    ``out`` after its last completed round (the other options must match the original run, except
    ``rounds``, timeouts and fault drills).
    """
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")


    config = build_config(algorithm, spec, out, rounds=rounds, local_epochs=local_epochs, steps=steps,
                          seed=seed, **options)
    check_dp_model(config)
    site_owned = config.spec.sites_naming_data()
    if site_owned:
        raise AutoMRIError(f"client {site_owned[0]!r}: dataset 'site' is for deployment (each SuperNode names its "
                           "data); a simulation needs the dataset in the spec")
    run, _ = open_run(config, resume=resume, overwrite=overwrite)
    summary_path = run.path / "summary.json"
    summary_path.unlink(missing_ok=True)  # a resumed run writes a new one
    with flower_logs(run.path / LOG_FILE, verbose):
        run_simulation(
            server_app=make_server_app(config),
            client_app=make_client_app(config),
            num_supernodes=config.num_clients,
            backend_config={
                "client_resources": {"num_cpus": CLIENT_CPUS, "num_gpus": 0.0},
                "init_args": {"num_cpus": ray_cpus(config.num_clients), "include_dashboard": False,
                              **ray_init_args(verbose)},
            },
        )
    if not summary_path.is_file():
        raise AutoMRIError(f"the federated run in {run.path} ended without a summary (see {run.path / LOG_FILE})")
    return json.loads(summary_path.read_text(encoding="utf-8"))


OVERHEAD_MODEL = {"chans": 4, "num_pool_layers": 2}
"""The U-Net of :func:`measure_round_overhead`: small, so a round is mostly Flower's work."""


def overhead_spec(clients: int, size: int) -> FederationSpec:
    """``clients`` phantom clients of 4 slices each (equispaced mask, 4x) at ``size`` px."""
    if clients < 1:
        raise AutoMRIError(f"measure_round_overhead: clients must be >= 1, got {clients}")
    return spec_from_dict({
        "size": size,
        "clients": [
            {"name": f"site-{k}", "dataset": "phantom", "mask": "equispaced:cf=0.08,acc=4", "max_slices": 4, "seed": k + 1}
            for k in range(clients)
        ],
    }, "measure_round_overhead")


def measure_round_overhead(
    rounds: int = 2, clients: int = 2, size: int = 16, seed: int = 0, out: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Flower's overhead per round: a tiny FedAvg federation (``clients`` phantom clients, ``size``
    px, U-Net ``OVERHEAD_MODEL``, one local step of batch 2 per round; clients keep their state in
    memory and write no folder or figure) run with :func:`run_federated` in ``out`` (``None``: a
    temporary folder, removed afterwards).

    Returns ``{"round_overhead_s", "round_wall_s", "client_compute_s", "rounds", "clients",
    "measured_rounds"}``: the means of :func:`automri.federated.report.round_timing` over
    ``measured_rounds``, which leaves round 1 out when ``rounds > 1`` (warm-up: the first messages
    through freshly started Ray actors).
    """
    if rounds < 1:
        raise AutoMRIError(f"measure_round_overhead: rounds must be >= 1, got {rounds}")
    spec = overhead_spec(clients, size)
    folder = tempfile.TemporaryDirectory(prefix="automri-overhead-") if out is None else contextlib.nullcontext(out)
    with folder as run_dir:
        run_federated("fedavg", spec, rounds=rounds, local_epochs=1, steps=1, out=run_dir, seed=seed,
                      batch_size=2, model="unet", model_options=dict(OVERHEAD_MODEL), client_root=None)
        rows = timing_rows(RunDir(run_dir, resume=True).read_jsonl("metrics.jsonl"))
    measured = [row for row in rows if rounds == 1 or row["round"] > 1]
    if not measured:
        raise AutoMRIError(f"measure_round_overhead: the run in {run_dir} recorded no timed round")
    return {**timing_means(measured), "rounds": rounds, "clients": clients,
            "measured_rounds": [row["round"] for row in measured]}
