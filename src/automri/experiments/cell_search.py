"""FedAutoMRI's centralised cell search end to end: search, derive, profile, optionally retrain.

Run directory (``options.out``)::

    config.yaml          the resolved options
    metrics.jsonl        one record per search epoch (train means, alpha entropy, val PSNR/SSIM)
    checkpoint-last.pt   search state for --resume (weights, alphas, both optimisers, RNG, position)
    alpha.jsonl          per epoch: alpha logits ``[E, 8]``, their softmax, the derived genotype and
                         the epoch's val PSNR/SSIM of the search network
    genotype.json        genotype derived from the final alphas
    genotype-best.json   genotype of the epoch with the best validation PSNR
    figures/             alpha.png (softmax weight trajectories), genotype.png (the derived cell)
    retrain/             (``retrain_epochs > 0``) the derived network trained from scratch
    summary.json         genotypes, params/MACs of the derived net, final val scores, test scores

Data: the dataset's ``train`` split is cut into two contiguous parts (items are ordered by volume
then slice, so the cut falls inside at most one volume): the first ``train_portion`` updates the
weights ``w``, the rest the alphas (as DARTS/MiLeNAS split their training set); the ``val`` split
scores the network after each epoch, and the ``test`` split the retrained network.

Defaults follow FedAutoMRI / GAutoMRI (methods.md 1.6): Adam on alpha (lr 3e-3, weight decay 1e-3,
betas (0.5, 0.999)), Adam on w (lr 1e-3), both steps on the one ``L_tr`` of Eq. 6, the magnitude MSE at
the official code's z-scored scale (``mse_mag_z``, see :mod:`automri.train.losses`; GAutoMRI's code
used the (real, imag) ``mse`` for the alpha step; ``arch_loss`` sets another), weight-gradient
clipping at 5, MiLeNAS ``beta`` = 1.
Retraining follows the official training phase: AdamW lr 1e-3, ``mse_mag``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset, Subset

from automri.data.datasets import build_splits
from automri.data.readers.cc359 import outer_slice_options
from automri.errors import AutoMRIError
from automri.eval.figures import alpha_trajectories, genotype_diagram_cell
from automri.eval.profile import profile_model
from automri.nas.cell.genotype import PRIMITIVES, derive_genotype, edge_labels
from automri.nas.cell.space import CellSearchNet
from automri.nas.diagnostics import separation, separation_sentence
from automri.nas.factory import build_network
from automri.nas.genotype import save_genotype
from automri.nas.options import SearchOptions
from automri.nas.strategies import STRATEGIES, build_strategy
from automri.train.config import OptimConfig
from automri.train.engine import fit
from automri.train.evaluate import validation_scores
from automri.train.loop import run_loop
from automri.train.losses import build_loss
from automri.train.runs import RunDir
from automri.train.seed import derive_seed, seed_everything

SPACE_DEFAULTS: dict[str, Any] = {
    "hidden": 16,
    "cells": 3,
    "nodes": 3,
    "iterations": 5,
    "activation": "relu",
    "checkpoint": False,
}
STRATEGY_DEFAULTS: dict[str, Any] = {
    "loss": "mse_mag_z",
    "arch_loss": None,
    "arch_lr": 3e-3,
    "arch_weight_decay": 1e-3,
    "arch_betas": (0.5, 0.999),
    "w_lr": 1e-3,
    "w_weight_decay": 0.0,
    "grad_clip": 5.0,
}
STRATEGY_ONLY = {"beta": "milenas", "xi": "darts2"}
RETRAIN_OPTIMIZER = "adamw"
RETRAIN_LR = 1e-3
RETRAIN_LOSS = "mse_mag"
SCORES = ("psnr", "ssim", "nmse")


def _check(options: SearchOptions) -> None:
    if options.space != "cell":
        raise AutoMRIError(f"--space {options.space!r}: run_cell_search needs the 'cell' space")
    if options.strategy not in STRATEGIES:
        raise AutoMRIError(
            f"--strategy {options.strategy!r}: not a cell-space strategy (expected one of {', '.join(STRATEGIES)})"
        )
    if options.epochs < 1:
        raise AutoMRIError(f"--epochs {options.epochs}: expected at least 1 search epoch")
    if options.retrain_epochs < 0:
        raise AutoMRIError(f"--retrain-epochs {options.retrain_epochs}: expected 0 (skip) or more")
    if not 0 < options.train_portion < 1:
        raise AutoMRIError(f"--train-portion {options.train_portion}: expected a fraction strictly between 0 and 1")
    if options.folds != 1:
        raise AutoMRIError(f"--folds {options.folds}: the cell space searches on one split (use --folds 1)")
    if options.warmup_epochs != 0:
        raise AutoMRIError("--warmup-epochs: only the rir space has a warm-up phase (use 0 with --space cell)")


def space_settings(options: SearchOptions) -> dict[str, Any]:
    """:data:`SPACE_DEFAULTS` updated by ``options.space_options`` (unknown keys are an error)."""
    unknown = set(options.space_options) - set(SPACE_DEFAULTS)
    if unknown:
        raise AutoMRIError(
            f"space_options: unknown keys {sorted(unknown)} for the cell space (expected any of {sorted(SPACE_DEFAULTS)})"
        )
    return {**SPACE_DEFAULTS, **options.space_options}


def strategy_settings(options: SearchOptions) -> dict[str, Any]:
    """:data:`STRATEGY_DEFAULTS` updated by ``options.strategy_options``; ``beta`` is for
    ``milenas`` only and ``xi`` for ``darts2`` only."""
    allowed = set(STRATEGY_DEFAULTS) | set(STRATEGY_ONLY)
    unknown = set(options.strategy_options) - allowed
    if unknown:
        raise AutoMRIError(f"strategy_options: unknown keys {sorted(unknown)} (expected any of {sorted(allowed)})")
    for key, strategy in STRATEGY_ONLY.items():
        if key in options.strategy_options and options.strategy != strategy:
            raise AutoMRIError(f"--{key}: only used by --strategy {strategy}, not {options.strategy}")
    settings = {**STRATEGY_DEFAULTS, **options.strategy_options}
    settings["arch_betas"] = tuple(settings["arch_betas"])
    return settings


def strategy_losses(settings: dict[str, Any]) -> tuple[Any, Any]:
    """Pop ``loss`` and ``arch_loss`` from :func:`strategy_settings`'s ``settings``; returns the w-step
    and alpha-step losses (one ``L_tr``, as in Eq. 6, unless ``arch_loss`` names another)."""
    loss_name = settings.pop("loss")
    return build_loss(loss_name), build_loss(settings.pop("arch_loss") or loss_name)


def search_datasets(options: SearchOptions) -> dict[str, Dataset]:
    """``{"train", "weights", "arch", "val", "test"}``: the train split (augmented by
    ``options.augment``), its two parts cut by ``train_portion``, and the dataset's val and test splits."""
    splits = build_splits(options.dataset, augment=options.augment, size=options.size, mask=options.mask,
                          seed=options.seed, phase=options.phase, challenge=options.challenge,
                          reader_options=outer_slice_options(options.outer_slices), sens_method=options.sens_maps)
    train = splits["train"]
    cut = int(round(options.train_portion * len(train)))
    if cut < 1 or cut >= len(train):
        raise AutoMRIError(
            f"--train-portion {options.train_portion}: the train split of {options.dataset!r} has "
            f"{len(train)} slices, leaving an empty part for the weights or the alphas"
        )
    return {
        "train": train,
        "weights": Subset(train, range(cut)),
        "arch": Subset(train, range(cut, len(train))),
        "val": splits["val"],
        "test": splits["test"],
    }


def _scores(model: Any, dataset: Dataset, options: SearchOptions) -> dict[str, float]:
    return validation_scores(model, dataset, options.batch_size, options.device)


def _config(options: SearchOptions, space: dict[str, Any], strategy: dict[str, Any]) -> dict[str, Any]:
    config = dataclasses.asdict(options)
    config["out"] = str(options.out)
    config["space_resolved"] = space
    config["strategy_resolved"] = {k: list(v) if isinstance(v, tuple) else v for k, v in strategy.items()}
    return config


def _retrain(
    options: SearchOptions, genotype: dict[str, Any], data: dict[str, Dataset], path: Path, config: dict[str, Any]
) -> dict[str, Any]:
    """Train the derived net from scratch on the whole train split (AdamW, ``mse_mag``) for
    ``options.retrain_epochs``, selecting on val PSNR; return its val and test scores."""
    run = RunDir(path, resume=options.resume and path.is_dir())
    seed = derive_seed(options.seed, 1)
    seed_everything(seed)
    model = build_network(genotype, checkpoint=config["space_resolved"]["checkpoint"])
    recipe = OptimConfig(
        epochs=options.retrain_epochs, steps=options.steps, batch_size=options.batch_size,
        optimizer=RETRAIN_OPTIMIZER, lr=RETRAIN_LR, loss=RETRAIN_LOSS,
    )
    run.write_config({**config, "genotype": genotype, "seed": seed})
    loop = fit(model, data["train"], data["val"], run, recipe, seed, options.resume, options.device,
               meta={"space": "cell", "genotype": genotype})
    test = _scores(model, data["test"], options)
    run.write_json("test.json", test)
    return {"epochs": loop["epochs"], "best_val_psnr": loop["best_psnr"], "test": test}


def run_cell_search(options: SearchOptions) -> dict[str, Any]:
    """Search the FedAutoMRI cell space centrally with ``options.strategy`` (``milenas``,
    ``darts1``, ``darts2``), write the run directory described in the module docstring, and return
    the summary: ``{"space", "strategy", "genotype", "best_genotype", "best_epoch", "params",
    "macs", "val": {"psnr", "ssim"}, "search": <run_loop summary>, "retrain": {...}}``.
    """
    _check(options)
    space = space_settings(options)
    strategy_options = strategy_settings(options)
    out = Path(options.out)
    run = RunDir(out, resume=options.resume)
    config = _config(options, space, strategy_options)
    run.write_config(config)
    data = search_datasets(options)

    seed_everything(options.seed)
    model = CellSearchNet(**space)
    loss, arch_loss = strategy_losses(strategy_options)
    strategy = build_strategy(options.strategy, model, loss, arch_loss=arch_loss, **strategy_options)

    def log_alpha(epoch: int, record: dict[str, Any]) -> None:
        run.append_jsonl(
            "alpha.jsonl",
            {
                "epoch": epoch,
                "alpha": model.alphas.detach().cpu().tolist(),
                "weights": model.arch_weights().detach().cpu().tolist(),
                "separation": separation(model.arch_weights().detach().cpu().numpy()),
                "genotype": derive_genotype(model.alphas, **model.space_config()),
                "val_psnr": record.get("val_psnr"),
                "val_ssim": record.get("val_ssim"),
            },
        )

    search = run_loop(
        strategy,
        data["weights"],
        data["arch"],
        run,
        epochs=options.epochs,
        batch_size=options.batch_size,
        max_steps=options.steps,
        seed=options.seed,
        resume=options.resume,
        evaluate_fn=lambda m: _scores(m, data["val"], options),
        device=options.device,
        on_epoch_end=log_alpha,
        meta={"space": "cell", "search": space, "strategy": options.strategy},
        progress=True,
        tensorboard=options.tensorboard or False,
        preview_set=data["val"],
    )

    history = run.read_jsonl("alpha.jsonl")
    genotype = derive_genotype(model.alphas, **model.space_config())
    best = max(history, key=lambda r: -math.inf if r["val_psnr"] is None else r["val_psnr"])
    save_genotype(out / "genotype.json", genotype)
    save_genotype(out / "genotype-best.json", best["genotype"])
    alpha_trajectories([r["alpha"] for r in history], PRIMITIVES, run.figures_dir / "alpha.png",
                       edge_labels=edge_labels(space["nodes"]))
    genotype_diagram_cell(genotype, run.figures_dir / "genotype.png", title=f"cell searched by {options.strategy}")

    side = options.size or int(max(data["val"][0].target.shape[-2:]))  # native size: the first val slice's larger side
    profile = profile_model(build_network(genotype), size=side, repeats=3, warmup=1, memory=False)
    last = history[-1]
    summary: dict[str, Any] = {
        "space": "cell",
        "strategy": options.strategy,
        "genotype": genotype,
        "best_genotype": best["genotype"],
        "best_epoch": best["epoch"],
        "params": profile["params"],
        "macs": profile["macs"],
        "latency_ms": profile["latency_ms"],
        "val": {"psnr": last["val_psnr"], "ssim": last["val_ssim"]},
        "separation": last["separation"],
        "separation_note": separation_sentence(last["separation"]),
        "search": search,
    }
    if options.retrain_epochs > 0:
        summary["retrain"] = _retrain(options, genotype, data, out / "retrain", config)
    run.write_json("summary.json", summary)
    return summary
