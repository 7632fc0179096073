"""End-of-run outputs of a federated run: ``summary.json``, ``genotype.json`` and figures.

``summary.json``::

    {"algorithm", "rounds", "rounds_done", "parameters",
     "clients": {name: {"global-psnr", ..., "personal-nmse", "round", "bytes_up", "bytes_down",
                        "missing_rounds"}},
     "mean": {"global-psnr", ...},             # mean over clients of their latest scores
     "bytes_up_total", "bytes_down_total",
     "missing": {"<round>": {"train": [...], "evaluate": [...]}},   # rounds where someone was missing
     "errors": {"<round>": {"train/<client>": reason}},
     "best": {...}}                             # fednas: round, val_psnr, genotype of the kept genotype

Figures (``figures/``): ``psnr.png`` (mean global / personalised PSNR per round) and one
``psnr-<client>.png`` per client. Each client's reconstruction panel is written by the client
into its own folder (images never leave a client).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automri.federated.guard import ROLES, SCORES
from automri.federated.options import FedConfig
from automri.train.runs import RunDir

SCORE_KEYS = tuple(f"{role}-{score}" for role in ROLES for score in SCORES)


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
    from automri.federated.task import build_client_model
    from automri.models.registry import count_params

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
    best = getattr(strategy, "best", None)
    if best:
        from automri.nas.genotype import save_genotype

        summary["best"] = best
        summary["genotype"] = str(save_genotype(run.path / "genotype.json", best["genotype"]))
    _figures(run, config, history)
    run.write_json("summary.json", summary)
    return summary


def _figures(run: RunDir, config: FedConfig, history: list[dict[str, Any]]) -> None:
    from automri.eval.figures import curves

    if not history:
        return
    roles = [f"{role}-psnr" for role in ROLES if any(f"{role}-psnr" in rec["mean"] for rec in history)]
    rows = [{"round": rec["round"], **{k: rec["mean"][k] for k in roles if k in rec["mean"]}} for rec in history]
    curves(rows, roles, run.figures_dir / "psnr.png", title=f"{config.algorithm}: mean PSNR over clients")
    for name in config.spec.client_names():
        rows = [{"round": rec["round"], **{k: rec["eval"][name].get(k) for k in roles}} for rec in history if name in rec["eval"]]
        if rows:
            curves(rows, roles, run.figures_dir / f"psnr-{name}.png", title=f"{name} ({config.algorithm})")
