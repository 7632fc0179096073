"""Turn a finished ``automri train`` run directory into a shipped model (:mod:`automri.train.shipped`).

``python benchmarks/ship_model.py RUN NAME --train-command "automri train ..."`` runs :func:`main`:

1. loads the run's best weights and resolved configuration (:func:`automri.train.engine.load_trained`);
2. scores them on the run's recorded split (default ``test``: the same dataset, size, mask, phase
   and seed as training, never augmented) with the one evaluator
   (:func:`automri.train.evaluate.evaluate_model`, fastMRI per-volume scores in source units);
3. writes ``<root>/<NAME>/model.pt`` (weights + configuration only, no optimiser state), the run's
   ``config.yaml`` (``automri train --config <root>/<NAME>/config.yaml`` retrains it) and
   ``<root>/<NAME>/entry.json`` (recipe, commands, data and split, test scores, SHA-256 of the weights).

:func:`evaluate_entry` repeats step 2 from the shipped files alone: the test suite checks that it
reproduces the documented test PSNR.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

from automri.atomic import write_json_atomic
from automri.errors import AutoMRIError
from automri.eval.report import machine_info
from automri.experiments.experiment import Say, command_line, now
from automri.experiments.predict import build_predict_split, model_label
from automri.models.registry import count_params
from automri.train.checkpoint import save_checkpoint
from automri.train.config import RunConfig
from automri.train.engine import load_trained
from automri.train.evaluate import evaluate_model
from automri.train.shipped import ENTRY_FILE, SHIPPED_ROOT, WEIGHTS_FILE, load_shipped, sha256_file

CONFIG_FILE = "config.yaml"
"""The run's resolved configuration, copied into the entry: ``automri train --config`` retrains it."""
MAX_WEIGHTS_BYTES = 4 << 20
"""A shipped entry's weights stay below 4 MiB (the package ships a few MB at most in total)."""


def test_scores(model: Any, config: RunConfig, split: str, batch_size: int = 4) -> dict[str, Any]:
    """``{"psnr", "ssim", "nmse"}`` fastMRI per-volume means, ``"slice"`` per-slice means, ``"slices"``
    and ``"volumes"`` counts of ``model`` on ``split`` of its configured data (CPU, no augmentation)."""
    data = build_predict_split(config, split)
    result = evaluate_model(model, data, batch_size, "cpu", panels=0, progress=False)
    volume, per_slice = result["volume_summary"], result["slice_summary"]
    return {**{m: volume[m]["mean"] for m in ("psnr", "ssim", "nmse")},
            "slice": {m: per_slice[m]["mean"] for m in ("psnr", "ssim", "nmse")},
            "slices": len(data), "volumes": len(result["volumes"])}


def evaluate_entry(name: str, root: str | os.PathLike = SHIPPED_ROOT, batch_size: int = 4) -> dict[str, Any]:
    """The test scores of shipped model ``name`` recomputed from its shipped files (checksum verified)."""
    model, config, entry = load_shipped(name, "cpu", root)
    return test_scores(model, config, entry["data"]["split"], batch_size)


def ship_run(
    run: str | os.PathLike,
    name: str,
    train_command: str,
    description: str = "",
    root: str | os.PathLike = SHIPPED_ROOT,
    history: str = "",
    split: str = "test",
    overwrite: bool = False,
    command: str | None = None,
    say: Say = lambda message: None,
) -> dict[str, Any]:
    """Make ``<root>/<name>`` from run directory ``run`` (see the module docstring); returns the entry."""
    if not name or any(not (c.isalnum() or c in "-_.") for c in name) or name.startswith("."):
        raise AutoMRIError(f"NAME {name!r}: expected letters, digits, '-', '_' or '.'")
    run = Path(run)
    if not (run / "summary.json").is_file():
        raise AutoMRIError(f"{run}: not a finished train run (no summary.json)")
    folder = Path(root) / name
    if folder.exists() and not overwrite:
        raise AutoMRIError(f"{folder}: a shipped model of that name exists (use --overwrite to replace it)")
    model, config = load_trained(run, "cpu")
    say(f"ship: scoring {run} on its {split} split ({config.data.dataset}, {config.data.size} px)")
    scores = test_scores(model, config, split)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    weights = folder / WEIGHTS_FILE
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_checkpoint(weights, {"model": state, "meta": {"config": config.to_dict()}}, keep_previous=False)
    shutil.copyfile(run / CONFIG_FILE, folder / CONFIG_FILE)
    if weights.stat().st_size > MAX_WEIGHTS_BYTES:
        shutil.rmtree(folder)
        raise AutoMRIError(f"{run}: weights are {weights.stat().st_size:,} bytes (a shipped model stays below {MAX_WEIGHTS_BYTES:,})")
    data = config.data
    entry = {
        "name": name,
        "description": description,
        "model": model_label(config),
        "params": count_params(model),
        "recipe": config.to_dict(),
        "train_command": train_command,
        "ship_command": command or command_line(),
        "history": history,
        "data": {"dataset": data.dataset, "size": data.size, "mask": data.mask, "phase": data.phase,
                 "seed": config.seed, "augment": data.augment, "split": split, "slices": scores["slices"],
                 "volumes": scores["volumes"]},
        "test": {m: scores[m] for m in ("psnr", "ssim", "nmse")},
        "test_slice": scores["slice"],
        "scoring": "fastMRI per-volume means in source units (automri.train.evaluate.evaluate_model), CPU",
        "sha256": {WEIGHTS_FILE: sha256_file(weights)},
        "weights_bytes": weights.stat().st_size,
        "created": now(),
        "machine": machine_info(),
    }
    write_json_atomic(folder / ENTRY_FILE, entry)
    say(f"ship: {folder} ({entry['params']:,} parameters, test PSNR {scores['psnr']:.2f} dB)")
    return entry


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python benchmarks/ship_model.py RUN NAME --train-command CMD [--description TEXT] [--root DIR]``."""
    parser = argparse.ArgumentParser(prog="benchmarks/ship_model.py", description=__doc__.splitlines()[0])
    parser.add_argument("run", help="finished automri train run directory")
    parser.add_argument("name", help="name of the shipped model (automri predict --checkpoint NAME)")
    parser.add_argument("--train-command", required=True, help="the command that trained the run")
    parser.add_argument("--description", default="", help="one line shown by automri predict --list")
    parser.add_argument("--history", default="", help="how the run was actually produced, when not by train-command alone")
    parser.add_argument("--root", default=str(SHIPPED_ROOT), help="registry folder (default: the package's)")
    parser.add_argument("--split", default="test", help="split the documented scores are computed on")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing entry of that name")
    args = parser.parse_args(argv)
    entry = ship_run(args.run, args.name, args.train_command, args.description, args.root, args.history, args.split,
                     args.overwrite, say=print)
    print(f"{entry['name']}: test PSNR {entry['test']['psnr']:.4f} dB, SSIM {entry['test']['ssim']:.4f} "
          f"on {entry['data']['slices']} {entry['data']['split']} slices; sha256 {entry['sha256'][WEIGHTS_FILE]}")
    return entry


__all__ = ["evaluate_entry", "main", "ship_run", "test_scores"]
