"""Every kind of run directory behind ``automri evaluate RUN`` and ``automri report RUN``.

Four kinds are told apart by the files they hold (:func:`run_kind`):

- ``train``: ``automri train`` (``config.yaml`` with a ``model`` section), or a checkpoint file;
- ``search``: ``automri search`` (``config.yaml`` with ``space`` and ``strategy``; its retraining
  sub-runs ``retrain/`` (cell) and ``fold-k/retrain/`` (rir) are search runs too, whose config adds
  the ``genotype``);
- ``federated``: ``automri fed train|search`` (``config.yaml`` with ``algorithm`` and ``spec``,
  the server's ``checkpoint-last.pt``);
- ``experiment``: ``automri demo`` / ``automri bench quality`` (``summary.json`` naming its
  ``experiment``).

Scoring always goes through the one evaluator (:func:`automri.train.evaluate.evaluate_model`),
networks through the one factory and datasets through the one builder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from automri.atomic import write_text_atomic
from automri.data.datasets import build_splits
from automri.errors import AutoMRIError
from automri.eval.report import markdown_table
from automri.experiments.experiment import REPORT, SUMMARY, read_json
from automri.experiments.rebuild_report import experiment_names, rebuild_report
from automri.federated.options import FedConfig
from automri.federated.state import load_server_checkpoint
from automri.federated.task import build_client_model, client_data, load_weights
from automri.nas.factory import build_network
from automri.nas.genotype import load_genotype
from automri.train.checkpoint import load_checkpoint
from automri.train.config import apply_overrides
from automri.train.device import resolve_device
from automri.train.engine import build_split, load_trained
from automri.train.evaluate import evaluate_model
from automri.train.runs import CONFIG, RunDir

KINDS = ("train", "search", "federated", "experiment")
_CHECKPOINTS = ("checkpoint-best.pt", "checkpoint-last.pt")
_NOT_A_RUN = ("not a run directory (expected the --out of automri train, search, fed train|search, "
              "bench quality or demo: a config.yaml or an experiment summary.json)")


def run_kind(path: str | os.PathLike) -> str:
    """The kind of run ``path`` is, one of :data:`KINDS`; :class:`AutoMRIError` when it is none."""
    path = Path(path)
    if path.is_file() and path.suffix == ".pt":
        return "train"
    if not path.is_dir():
        raise AutoMRIError(f"RUN {path}: no such directory or checkpoint file")
    summary = read_json(path / SUMMARY) if (path / SUMMARY).is_file() else None
    if isinstance(summary, dict) and summary.get("experiment") in experiment_names():
        return "experiment"
    if not (path / CONFIG).is_file():
        raise AutoMRIError(f"RUN {path}: {_NOT_A_RUN}")
    config = RunDir(path, resume=True).read_config()
    if {"algorithm", "spec"} <= set(config):
        return "federated"
    if {"space", "strategy"} <= set(config):
        return "search"
    if "model" in config:
        return "train"
    raise AutoMRIError(f"RUN {path}: {_NOT_A_RUN}")


# --- evaluate ---------------------------------------------------------------------------------
def evaluate_run(
    path: str | os.PathLike,
    split: str = "test",
    out: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    batch_size: int = 4,
    max_slices: int | None = None,
    panels: int = 3,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Score the model of any run directory on ``split``; writes ``metrics.json``, CSVs and panels
    to ``out`` (default ``RUN/eval-<split>``).

    ``overrides``: ``{"dataset", "size", "mask"}`` flags (``None`` keeps the run's; not allowed for
    federated runs, whose sites keep their own data). Returns ``{"kind", "model", "out", ...}``:
    one evaluation (:func:`evaluate_model` without ``predictions``) for train and search runs,
    ``{"clients": {name: evaluation}}`` for federated runs and ``{"runs": {sub-run: result}}`` for
    experiments.
    """
    path = Path(path)
    kind = run_kind(path)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    folder = Path(out) if out is not None else (path if path.is_dir() else path.parent) / f"eval-{split}"
    score = {"split": split, "batch_size": batch_size, "max_slices": max_slices, "panels": panels,
             "device": device, "progress": progress}
    if kind == "train":
        return _evaluate_train(path, folder, overrides, **score)
    if kind == "search":
        return _evaluate_search(path, folder, overrides, **score)
    if kind == "federated":
        if overrides:
            raise AutoMRIError(f"--{min(overrides)}: not used with a federated run (each site keeps its own data)")
        return _evaluate_federated(path, folder, **score)
    return _evaluate_experiment(path, folder, overrides, **score)


def _evaluation(model: nn.Module, data: Any, folder: Path, batch_size: int, device: str, panels: int,
                progress: bool) -> dict[str, Any]:
    """:func:`evaluate_model` into ``folder``, without its ``predictions`` (figure arrays)."""
    result = evaluate_model(model, data, batch_size, resolve_device(device), out=folder, panels=panels, progress=progress)
    result.pop("predictions")
    return {**result, "out": str(folder)}


def _evaluate_train(path: Path, folder: Path, overrides: dict[str, Any], split: str, max_slices: int | None,
                    **score: Any) -> dict[str, Any]:
    model, config = load_trained(path, device=score["device"])
    config = apply_overrides(config, {f"data.{k}": v for k, v in overrides.items()}, source="flags")
    data = build_split(config, split, max_slices)
    return {"kind": "train", "model": f"{_label(config)} ({path})", **_evaluation(model, data, folder, **score)}


def _label(config: Any) -> str:
    return config.model.name if config.model.name is not None else f"{config.model.genotype['space']}_net"


def _evaluate_search(path: Path, folder: Path, overrides: dict[str, Any], split: str, max_slices: int | None,
                     **score: Any) -> dict[str, Any]:
    model, description, config = derived_network(path, score["device"])
    settings = {**{k: config[k] for k in ("dataset", "size", "mask", "seed", "phase")},
                "challenge": config.get("challenge"), **overrides}
    settings["size"] = settings["size"] or None  # --size 0: the native size
    dataset = settings.pop("dataset")
    data = build_splits(dataset, (split,), max_slices={split: max_slices}, **settings)[split]
    return {"kind": "search", "model": description, "dataset": dataset, **_evaluation(model, data, folder, **score)}


def _retrain_runs(path: Path) -> list[Path]:
    """The retraining sub-runs of a search run that hold weights (``retrain/``, ``fold-k/retrain/``)."""
    candidates = [path / "retrain", *sorted(path.glob("fold-*/retrain"))]
    if "genotype" in RunDir(path, resume=True).read_config():
        candidates.insert(0, path)  # RUN is itself a retraining sub-run
    return [c for c in candidates if any((c / name).is_file() for name in _CHECKPOINTS)]


def derived_network(path: Path, device: str = "cpu") -> tuple[nn.Module, str, dict[str, Any]]:
    """``(network, what it is, search config)`` of search run ``path``: the retrained derived network
    (best, else last checkpoint of the first retraining sub-run) or, without one, the network of
    ``genotype.json`` as initialised from the search seed (untrained)."""
    config = RunDir(path, resume=True).read_config()
    device = resolve_device(device)
    for sub in _retrain_runs(path):
        checkpoint_path = next(sub / name for name in _CHECKPOINTS if (sub / name).is_file())
        checkpoint = load_checkpoint(checkpoint_path, map_location=device)
        genotype = checkpoint.get("meta", {}).get("genotype") or _fold_genotype(path, sub)
        model = build_network(genotype).to(device)
        _load_state(model, checkpoint["model"], checkpoint_path)
        return model.eval(), f"derived {genotype['space']} network retrained in {checkpoint_path}", config
    genotype_path = path / "genotype.json"
    if not genotype_path.is_file():
        raise AutoMRIError(f"RUN {path}: search run without genotype.json or retrained network (unfinished search?)")
    torch.manual_seed(int(config.get("seed", 0)))
    model = build_network(load_genotype(genotype_path)).to(device)
    description = (f"derived network of {genotype_path}, untrained (no retrain/ sub-run: "
                   "rerun the search with --retrain-epochs N to score a trained one)")
    return model.eval(), description, config


def _fold_genotype(path: Path, sub: Path) -> dict[str, Any]:
    """The genotype a retraining sub-run trained: its config's, else (rir ``fold-k/retrain``) fold
    ``k``'s ops of ``summary.json`` on the settings of ``RUN/genotype.json``."""
    if (sub / CONFIG).is_file() and "genotype" in RunDir(sub, resume=True).read_config():
        return RunDir(sub, resume=True).read_config()["genotype"]
    if not (path / "genotype.json").is_file():
        raise AutoMRIError(f"{sub}: records no genotype and {path} has no genotype.json (not written by automri search)")
    genotype = load_genotype(path / "genotype.json")
    folds = read_json(path / SUMMARY).get("folds", []) if (path / SUMMARY).is_file() else []
    k = int(sub.parent.name.removeprefix("fold-")) if sub.parent.name.startswith("fold-") else 0
    if k < len(folds) and "ops" in folds[k]:
        genotype = {**genotype, "ops": folds[k]["ops"]}
    return genotype


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise AutoMRIError(f"{source}: weights do not fit the recorded genotype ({err})") from err


def global_model(path: Path, device: str = "cpu") -> tuple[nn.Module, str, FedConfig]:
    """``(network, what it is, config)``: the final global model of federated run ``path``, the
    server's ``checkpoint-last.pt`` weights loaded into the algorithm's freshly built network."""
    run = RunDir(path, resume=True)
    config = FedConfig.from_dict(run.read_config(), str(path / CONFIG))
    checkpoint = load_server_checkpoint(run)
    if checkpoint is None:
        raise AutoMRIError(f"RUN {path}: federated run has no checkpoint-last.pt (no round finished yet)")
    model = build_client_model(config)
    load_weights(model, checkpoint["arrays"])
    shared = "FedNAS search network (w and alpha)" if config.algorithm == "fednas" else "network"
    partial = " (shared part from the server, the rest as initialised)" if len(checkpoint["arrays"]) < len(model.state_dict()) else ""
    description = (f"global {config.algorithm} {shared} after round {checkpoint['round']} "
                   f"(server {run.checkpoint_last}){partial}")
    return model.to(resolve_device(device)).eval(), description, config


def _evaluate_federated(path: Path, folder: Path, split: str, max_slices: int | None, **score: Any) -> dict[str, Any]:
    model, description, config = global_model(path, score["device"])
    clients = {}
    for index, client in enumerate(config.spec.clients):
        data = getattr(client_data(config, index), split, None)
        if data is None:
            raise AutoMRIError(f"--split {split!r}: a federated site has train, val and test splits")
        if max_slices is not None:
            data = torch.utils.data.Subset(data, range(min(max_slices, len(data))))
        clients[client.name] = _evaluation(model, data, folder / client.name, **score)
    return {"kind": "federated", "model": description, "split": split, "clients": clients, "out": str(folder)}


def _sub_runs(path: Path) -> list[Path]:
    """The train and search runs inside experiment ``path`` (not nested in one another)."""
    found: list[Path] = []
    for config in sorted(path.rglob(CONFIG)):
        run = config.parent
        if run == path or any(parent in found for parent in run.parents):
            continue
        try:
            if run_kind(run) in ("train", "search"):
                found.append(run)
        except AutoMRIError:
            continue
    return found


def _evaluate_experiment(path: Path, folder: Path, overrides: dict[str, Any], **score: Any) -> dict[str, Any]:
    runs = _sub_runs(path)
    if not runs:
        raise AutoMRIError(f"RUN {path}: experiment directory holds no train or search run to evaluate")
    results = {}
    for run in runs:
        name = run.relative_to(path).as_posix()
        results[name] = evaluate_run(run, out=folder / name, overrides=overrides, **score)
    return {"kind": "experiment", "model": f"{len(runs)} sub-runs of {path}", "runs": results, "out": str(folder)}


# --- report -------------------------------------------------------------------------------------
def report_run(path: str | os.PathLike) -> Path:
    """Rebuild ``RUN/report.md``: an experiment's own report, or for train, search and federated
    runs a short summary page (what was run, the final scores, the metrics log and the figures)."""
    path = Path(path)
    kind = run_kind(path)
    if kind == "experiment":
        return rebuild_report(path)
    if path.is_file():
        raise AutoMRIError(f"RUN {path}: give the run directory, not a checkpoint, to automri report")
    run = RunDir(path, resume=True)
    summary = read_json(path / SUMMARY) if (path / SUMMARY).is_file() else {}
    return write_text_atomic(path / REPORT, summary_page(path, kind, run.read_config(), summary, run.read_jsonl()))


_HEADLINE = ("model", "algorithm", "space", "strategy", "params", "macs", "epochs", "rounds_done", "global_step",
             "best_epoch", "best_psnr")


def summary_page(path: Path, kind: str, config: dict[str, Any], summary: dict[str, Any],
                 history: list[dict[str, Any]]) -> str:
    """Markdown of one run: its kind, headline numbers of ``summary``, the last records of
    ``history`` (``metrics.jsonl``) and every figure under ``figures/``."""
    lines = [f"# {kind} run `{path.name}`", ""]
    dataset = config.get("dataset") or config.get("data", {}).get("dataset")
    if dataset is not None:
        lines += [f"Dataset: `{dataset}`.", ""]
    rows = [[key, _cell(summary[key])] for key in _HEADLINE if key in summary]
    if isinstance(summary.get("genotype"), dict | str):
        rows.append(["genotype", _cell(summary["genotype"])])
    for key in ("val", "mean"):
        if isinstance(summary.get(key), dict):
            rows += [[f"{key} {name}", _cell(value)] for name, value in summary[key].items()]
    test = summary.get("retrain", {}).get("test") if isinstance(summary.get("retrain"), dict) else None
    if isinstance(test, dict):
        rows += [[f"test (retrained) {name}", _cell(value)] for name, value in test.items()]
    if rows:
        lines += ["## Summary", "", markdown_table([{"item": k, "value": v} for k, v in rows]), ""]
    if history:
        keys = [k for k in history[-1] if isinstance(history[-1][k], int | float)][:8]
        lines += ["## Metrics (last records of metrics.jsonl)", "",
                  markdown_table(history[-5:], keys, floatfmt=".4g"), ""]
    figures = sorted((path / "figures").glob("*.png"))
    if figures:
        lines += ["## Figures", ""] + [f"![{f.stem}](figures/{f.name})" for f in figures] + [""]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict) and {"mean", "std"} <= set(value):
        return f"{value['mean']:.4g} +- {value['std']:.2g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return "" if value is None else str(value).replace("|", "/")


def report_runs(paths: list[str | os.PathLike]) -> list[Path]:
    """:func:`report_run` for every path (all are checked before any is written)."""
    if not paths:
        raise AutoMRIError("RUN: give at least one run directory")
    for path in paths:
        run_kind(path)
    return [report_run(path) for path in paths]


__all__ = ["KINDS", "derived_network", "evaluate_run", "global_model", "report_run", "report_runs", "run_kind",
           "summary_page"]
