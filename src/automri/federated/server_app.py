"""The Flower ``ServerApp`` (Message API): runs the rounds and keeps the run directory.

``make_server_app(config)`` captures the run options (simulation); ``make_server_app()`` reads the
JSON in ``context.run_config["automri-config"]`` (deployment). The run directory must have been
prepared by :func:`automri.federated.state.open_run` (``run_federated`` / ``automri fed deploy``).

After every round the server appends the round record to ``metrics.jsonl`` (per-client train and
evaluation metrics, means, bytes up/down per client, missing clients and why, and the ``timing``
of :func:`automri.federated.report.round_timing`: round wall time, the clients' compute and
Flower's overhead) and the per-reply audit to ``audit.jsonl``, then writes ``checkpoint-last.pt``
atomically (global weights, strategy state such as alpha, round, history). When that checkpoint exists at start, the run continues
after its round (Flower has no built-in server resume); the clients continue from their own copies
of their private state. ``summary.json`` and the figures are written at the end.
"""

from __future__ import annotations

import json
from typing import Any

from flwr.app import ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp

from automri.atomic import json_default, write_text_atomic
from automri.errors import AutoMRIError
from automri.federated.app_config import prepares_own_run, resolve_config, run_config_flag
from automri.federated.logs import PROGRESS
from automri.federated.options import FedConfig
from automri.federated.report import add_round_timing, round_line, write_report
from automri.federated.robust import all_finite
from automri.federated.state import attach_run, load_server_checkpoint, open_run, save_server_checkpoint
from automri.federated.strategies import build_strategy
from automri.federated.task import build_client_model, from_record, to_record, weights_of
from automri.nas.diagnostics import probabilities_from_logits, separation
from automri.train.runs import RunDir
from automri.train.tensorboard import log_alphas, log_scalars, open_writer

AUDIT = "audit.jsonl"
ALPHA = "alpha.jsonl"
ROUND_LOGS = ("metrics.jsonl", AUDIT, ALPHA)


class ServerStopped(AutoMRIError):
    """Raised on purpose after ``faults["server_stop_after"]`` rounds (a crash drill)."""


def _truncate_round_logs(run: RunDir, rounds_done: int) -> None:
    """Drop records of rounds after ``rounds_done`` (written before a crash, redone on resume)."""
    for name in ROUND_LOGS:
        if not (run.path / name).is_file():
            continue
        kept = [r for r in run.read_jsonl(name) if r.get("round", 0) <= rounds_done]
        write_text_atomic(run.path / name, "".join(json.dumps(r, default=json_default) + "\n" for r in kept))


def run_server(grid: Grid, config: FedConfig) -> dict[str, Any]:
    """Run (or continue) the federated rounds of ``config`` on ``grid``; returns the summary."""
    run, token = attach_run(config)
    model = build_client_model(config)
    arrays, done, history = to_record(weights_of(model)), 0, []
    strategy = build_strategy(config, token)
    checkpoint = load_server_checkpoint(run)
    if checkpoint is not None:
        arrays, done, history = to_record(checkpoint["arrays"]), int(checkpoint["round"]), list(checkpoint["history"])
        strategy.load_state_dict(checkpoint["strategy"])
        strategy.round_offset = done
    _truncate_round_logs(run, done)
    writer = open_writer(config.tensorboard) if config.tensorboard else None

    def end_of_round(server_round: int, round_arrays: ArrayRecord) -> MetricRecord | None:
        if server_round == 0:
            return None
        record = strategy.log.record()
        add_round_timing(record)
        strategy.end_round(strategy.log.round, record)
        history.append(record)
        run.log_metrics(record)
        if writer is not None:
            _tensorboard_round(writer, record)
        PROGRESS.info(round_line(record, config.rounds))
        for line in strategy.log.audit:
            run.append_jsonl(AUDIT, line)
        if "alpha" in record:
            run.append_jsonl(ALPHA, {"round": record["round"], "alpha": record["alpha"], "genotype": record["genotype"],
                                     "separation": separation(probabilities_from_logits(record["alpha"]))})
        save_server_checkpoint(run, {
            "round": record["round"],
            "arrays": from_record(round_arrays),
            "strategy": strategy.state_dict(),
            "history": history,
            "config": config.to_dict(),
        })
        if config.faults.get("server_stop_after") == record["round"]:
            raise ServerStopped(f"fault drill: server stopped after round {record['round']} (continue with --resume)")
        return MetricRecord({k: v for k, v in record["mean"].items() if "/" not in k})

    try:
        if done < config.rounds:
            strategy.discover(grid)
            _check_finite(strategy.start(
                grid=grid, initial_arrays=arrays, num_rounds=config.rounds - done,
                timeout=config.round_timeout, evaluate_fn=end_of_round,
            ).arrays)
    finally:
        if writer is not None:
            writer.close()
    return write_report(run, config, history, strategy)


def _tensorboard_round(writer: object, record: dict) -> None:
    """One round in TensorBoard: the numeric entries of ``record`` (``mean/global-psnr``,
    ``clients/<name>/...``, timings, bytes) and, for ``fednas``, the alpha histograms."""
    log_scalars(writer, {k: v for k, v in record.items() if k != "alpha"}, record["round"])
    if "alpha" in record:
        log_alphas(writer, record["alpha"], record["round"])
    writer.flush()


def _check_finite(arrays: ArrayRecord) -> None:
    """The strategy adopts only finite aggregates; a non-finite final model is a bug, never a result."""
    if not all_finite(from_record(arrays)):
        raise AutoMRIError("the final global model is not finite (please report this bug)")


def make_server_app(config: FedConfig | None = None) -> ServerApp:
    """A ``ServerApp`` for ``config`` (``None``: read it from the run config)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        resolved = resolve_config(config, context)
        if prepares_own_run(config, context):
            options = dict(context.run_config)
            open_run(resolved, resume=run_config_flag(options, "resume"), overwrite=run_config_flag(options, "overwrite"))
        run_server(grid, resolved)

    return app
