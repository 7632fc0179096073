"""End-of-run outputs of a federated run: ``summary.json``, ``genotype.json`` and figures.

``summary.json``::

    {"algorithm", "rounds", "rounds_done", "parameters",
     "clients": {name: {"global-psnr", ..., "personal-nmse", "round", "bytes_up", "bytes_down",
                        "missing_rounds"}},
     "mean": {"global-psnr", ...},             # mean over clients of their latest scores
     "bytes_up_total", "bytes_down_total",
     "missing": {"<round>": {"train": [...], "evaluate": [...]}},   # rounds where someone was missing
     "errors": {"<round>": {"train/<client>": code}},   # reason codes of guard.REJECT_CODES
     "best": {...},                             # fednas: round, val_psnr, genotype of the kept genotype
     "round_overhead_s", "client_compute_s", "round_wall_s",   # means over rounds (see round_timing)
     "timing": [{"round", "round_wall_s", "compute_max_s", "compute_sum_s", "overhead_s"}, ...]}

Figures (``figures/``): ``psnr.png`` (mean global / personalised PSNR per round), one
``psnr-<client>.png`` per client and ``overhead.png`` (Flower's overhead against the clients'
local compute per round). Each client's reconstruction panel is written by the client
into its own folder (images never leave a client).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automri.eval.figures import curves
from automri.federated.guard import COMPUTE_METRIC, ROLES, SCORES
from automri.federated.options import FedConfig
from automri.federated.task import build_client_model
from automri.models.registry import count_params
from automri.nas.genotype import save_genotype
from automri.train.runs import RunDir

SCORE_KEYS = tuple(f"{role}-{score}" for role in ROLES for score in SCORES)
WALL_CLOCK_KEYS = frozenset({"seconds", "timing", COMPUTE_METRIC})
"""Round-record keys that hold wall-clock times (they differ between otherwise identical runs)."""


def round_timing(record: dict[str, Any]) -> dict[str, float]:
    """Flower's overhead in one round against the clients' local compute (seconds).

    - ``round_wall_s``: the round record's ``seconds``, server wall time from building the round's
      train messages to aggregating its last evaluate reply;
    - ``compute_max_s``: for each phase (train, then evaluate) the longest ``compute-s`` a client
      reported, summed over the two phases: the clients of a phase run in parallel (one Ray actor
      per client in the simulation engine) and the phases one after the other, so this is the
      local compute on the round's critical path;
    - ``compute_sum_s``: every client's ``compute-s`` of the round added up;
    - ``overhead_s = round_wall_s - compute_max_s``: all the rest, i.e. Flower's message transport
      and (de)serialisation, Ray scheduling (including clients queueing for a CPU when there are
      more clients than Ray CPUs), conversion of records to tensors, allow-list checks and the
      server's aggregation and bookkeeping.
    """
    phases = [[row[COMPUTE_METRIC] for row in record[phase].values() if COMPUTE_METRIC in row] for phase in ("train", "eval")]
    compute_max = float(sum(max(values, default=0.0) for values in phases))
    wall = float(record["seconds"])
    return {
        "round_wall_s": wall,
        "compute_max_s": compute_max,
        "compute_sum_s": float(sum(sum(values) for values in phases)),
        "overhead_s": wall - compute_max,
    }


def add_round_timing(record: dict[str, Any]) -> None:
    """Put :func:`round_timing` under ``record["timing"]``; the clients' ``compute-s`` stays in their
    train / eval rows but leaves the score means of ``record["mean"]``."""
    record["timing"] = round_timing(record)
    for key in (COMPUTE_METRIC, f"train/{COMPUTE_METRIC}"):
        record["mean"].pop(key, None)


def timing_means(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means over ``rows`` (:func:`round_timing` dicts): ``round_overhead_s``, ``client_compute_s``
    (of ``compute_max_s``) and ``round_wall_s``; empty when there are no rows."""
    if not rows:
        return {}
    return {
        "round_overhead_s": float(np.mean([row["overhead_s"] for row in rows])),
        "client_compute_s": float(np.mean([row["compute_max_s"] for row in rows])),
        "round_wall_s": float(np.mean([row["round_wall_s"] for row in rows])),
    }


def timing_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``{"round", **timing}`` of every round record that has a timing (all rounds of runs made
    since rounds were timed)."""
    return [{"round": rec["round"], **rec["timing"]} for rec in history if "timing" in rec]


def round_line(record: dict[str, Any], rounds: int) -> str:
    """One console line for a round: mean PSNR of the global (and personalised) model over the
    clients that were scored, and every site whose reply was rejected or missing, with its code."""
    mean = record["mean"]
    scores = [f"{role} PSNR {mean[f'{role}-psnr']:.2f} dB" for role in ROLES if f"{role}-psnr" in mean]
    line = f"round {record['round']}/{rounds}: " + (", ".join(scores) if scores else "no scores")
    errors = dict(record["errors"])
    if "aggregate" in errors:
        line += f"; global model kept ({errors.pop('aggregate')})"
    if errors:
        line += "; rejected: " + ", ".join(f"{where} ({code})" for where, code in sorted(errors.items()))
    return line


def client_table(config: FedConfig, history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-client latest scores, total bytes and the rounds each client was missing."""
    table = {}
    for name in config.spec.client_names():
        scored = [rec for rec in history if name in rec["eval"]]
        latest = scored[-1] if scored else None
        row: dict[str, Any] = {k: latest["eval"][name][k] for k in SCORE_KEYS if latest and k in latest["eval"][name]}
        row["round"] = latest["round"] if latest else None
        row["bytes_up"] = int(sum(rec["bytes_up"].get(name, 0) for rec in history))
        row["bytes_down"] = int(sum(rec["bytes_down"].get(name, 0) for rec in history))
        row["missing_rounds"] = [
            rec["round"] for rec in history if name in rec["missing"]["train"] or name in rec["missing"]["evaluate"]
        ]
        table[name] = row
    return table


def write_report(run: RunDir, config: FedConfig, history: list[dict[str, Any]], strategy: Any) -> dict[str, Any]:
    """Write ``summary.json`` (and ``genotype.json`` for ``fednas``) and the figures; returns the summary."""

    clients = client_table(config, history)
    mean = {
        key: float(np.mean([row[key] for row in clients.values() if key in row]))
        for key in SCORE_KEYS if any(key in row for row in clients.values())
    }
    summary: dict[str, Any] = {
        "algorithm": config.algorithm,
        "rounds": config.rounds,
        "rounds_done": len(history),
        "parameters": count_params(build_client_model(config)),
        "clients": clients,
        "mean": mean,
        "bytes_up_total": int(sum(rec["bytes_up_total"] for rec in history)),
        "bytes_down_total": int(sum(rec["bytes_down_total"] for rec in history)),
        "missing": {str(rec["round"]): rec["missing"] for rec in history if any(rec["missing"].values())},
        "errors": {str(rec["round"]): rec["errors"] for rec in history if rec["errors"]},
    }
    timing = timing_rows(history)
    if timing:
        summary.update(timing_means(timing), timing=timing)
    ledger = getattr(strategy, "privacy", None)
    if ledger is not None:
        summary["privacy"] = {"mode": config.dp, "clip": config.dp_clip, "noise_multiplier": ledger.noise_multiplier,
                              "seeded_noise": config.dp_seeded_noise, **ledger.spent()}
    best = getattr(strategy, "best", None)
    if best:
        summary["best"] = best
        summary["genotype"] = str(save_genotype(run.path / "genotype.json", best["genotype"]))
    _figures(run, config, history)
    run.write_json("summary.json", summary)
    return summary


def _figures(run: RunDir, config: FedConfig, history: list[dict[str, Any]]) -> None:
    if not history:
        return
    roles = [f"{role}-psnr" for role in ROLES if any(f"{role}-psnr" in rec["mean"] for rec in history)]
    rows = [{"round": rec["round"], **{k: rec["mean"][k] for k in roles if k in rec["mean"]}} for rec in history]
    curves(rows, roles, run.figures_dir / "psnr.png", title=f"{config.algorithm}: mean PSNR over clients")
    timing = timing_rows(history)
    if timing:
        curves(timing, ["overhead_s", "compute_max_s"], run.figures_dir / "overhead.png",
               title=f"{config.algorithm}: Flower overhead vs client compute per round (s)")
    for name in config.spec.client_names():
        rows = [{"round": rec["round"], **{k: rec["eval"][name].get(k) for k in roles}} for rec in history if name in rec["eval"]]
        if rows:
            curves(rows, roles, run.figures_dir / f"psnr-{name}.png", title=f"{name} ({config.algorithm})")
