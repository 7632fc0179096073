"""EMR-NAS end to end: k-fold search, ensemble genotype, retraining and test (Table 2); the ablations
(Table 3) are in :mod:`automri.experiments.rir_ablations`, the baselines in :mod:`automri.experiments.rir_baselines`.

Run directory (``options.out``)::

    config.yaml            the resolved options
    fold-k/search/         one search per fold (run_loop run dir: checkpoints, metrics.jsonl,
                           alpha.jsonl with per-epoch alpha logits and probabilities, genotype.json)
    fold-k/retrain/        the ensemble architecture trained on train+val of fold k
    genotype.json          the ensemble genotype (``RIRNet.from_genotype`` input, plus ``display``)
    summary.json           per-fold genotypes and test scores, mean +- std over folds
    figures/               genotype diagram, alpha trajectories per fold

Folds: ``options.folds >= 2`` uses :func:`automri.data.splits.k_fold` (by subject when there are
enough volumes, else by slab; ``space_options["split_mode"]`` forces one) whose train/val parts
play ``S_train`` / ``S_val`` (about 9:2 as in the paper) and whose test part ``S_test``;
``folds = 1`` uses the dataset's plain train/val/test split. ``options.train_portion`` is not used:
the k-fold split already holds out ``S_val``.

Every fold's search, and every retraining, is a :func:`automri.train.loop.run_loop` run, so
``options.resume`` continues each of them from its last checkpoint (finished runs are skipped).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import ConcatDataset, Dataset

from automri.data.datasets import build_splits
from automri.data.readers.cc359 import outer_slice_options
from automri.errors import AutoMRIError
from automri.eval.figures import alpha_trajectories, genotype_diagram_rir
from automri.eval.metrics import summarise
from automri.models.registry import count_params
from automri.nas.diagnostics import separation
from automri.nas.options import SearchOptions
from automri.nas.proxyless import ProxylessStrategy, strategy_mode
from automri.nas.rir.genotype import GENOTYPE_DEFAULTS, ensemble_genotype, format_genotype, homogeneous_genotype
from automri.nas.rir.network import RIRNet
from automri.nas.rir.ops import OPS
from automri.nas.rir.space import DEFAULT_BINARIZE, RIRSearchNet
from automri.train.config import OptimConfig
from automri.train.engine import fit
from automri.train.evaluate import SCORES, evaluate_model
from automri.train.loop import run_loop
from automri.train.losses import build_loss
from automri.train.runs import RunDir
from automri.train.seed import derive_seed, seed_everything

SPLIT_MODES = ("auto", "subject", "slab", "roots")
STRATEGY_KEYS = ("w_lr", "w_weight_decay", "arch_lr", "arch_weight_decay", "arch_betas")
RETRAIN_LR = 1e-3
RETRAIN_WEIGHT_DECAY = 1e-7
DERIVATIONS = ("ensemble", "per_fold", "homogeneous", "random")

# Table 3 of the paper: space overrides of the searched network and how the final net is derived.

FoldData = dict[str, Dataset]


# --- options -----------------------------------------------------------------------------------
def space_settings(options: SearchOptions, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Network settings: :data:`GENOTYPE_DEFAULTS` updated by ``space_options`` and ``overrides``."""
    given = {k: v for k, v in options.space_options.items() if k != "split_mode"}
    unknown = set(given) - set(GENOTYPE_DEFAULTS)
    if unknown:
        raise AutoMRIError(
            f"space_options: unknown keys {sorted(unknown)} for the rir space "
            f"(expected any of {sorted([*GENOTYPE_DEFAULTS, 'split_mode'])})"
        )
    return {**GENOTYPE_DEFAULTS, **given, **(overrides or {})}


def strategy_kwargs(options: SearchOptions) -> dict[str, Any]:
    """The :class:`ProxylessStrategy` keyword arguments among ``options.strategy_options`` (``loss``
    and ``binarize`` are read elsewhere)."""
    kwargs = {k: v for k, v in options.strategy_options.items() if k not in ("loss", "binarize")}
    unknown = set(kwargs) - set(STRATEGY_KEYS)
    if unknown:
        raise AutoMRIError(
            f"strategy_options: unknown keys {sorted(unknown)} (expected any of {[*STRATEGY_KEYS, 'loss', 'binarize']})"
        )
    if "arch_betas" in kwargs:
        kwargs["arch_betas"] = tuple(kwargs["arch_betas"])
    return kwargs


def check_options(options: SearchOptions) -> None:
    if options.space != "rir":
        raise AutoMRIError(f"--space {options.space!r}: run_rir_search needs the 'rir' space")
    strategy_mode(options.strategy)
    if options.folds < 1:
        raise AutoMRIError(f"--folds {options.folds}: expected 1 (single split) or more")
    if options.epochs < 1 or options.warmup_epochs < 0 or options.retrain_epochs < 0:
        raise AutoMRIError("--epochs must be >= 1, --warmup-epochs and --retrain-epochs >= 0")
    split_mode = options.space_options.get("split_mode", "auto")
    if split_mode not in SPLIT_MODES:
        raise AutoMRIError(f"space_options['split_mode']: expected one of {SPLIT_MODES}, got {split_mode!r}")


def options_config(options: SearchOptions) -> dict[str, Any]:
    config = dataclasses.asdict(options)
    config["out"] = str(options.out)
    return config


# --- data --------------------------------------------------------------------------------------
def fold_datasets(options: SearchOptions) -> list[FoldData]:
    """``[{"train", "val", "test"}]`` per fold (one entry when ``options.folds == 1``); the train
    split is augmented by ``options.augment``."""
    split_mode = options.space_options.get("split_mode", "auto")
    folds = [{}] if options.folds == 1 else [{"fold": k, "folds": options.folds} for k in range(options.folds)]
    return [
        build_splits(options.dataset, augment=options.augment, size=options.size, mask=options.mask,
                     seed=options.seed, phase=options.phase, split_mode=split_mode, challenge=options.challenge,
                     reader_options=outer_slice_options(options.outer_slices), sens_method=options.sens_maps, **fold)
        for fold in folds
    ]


def run_dir(path: Path, resume: bool) -> RunDir:
    return RunDir(path, resume=resume and path.is_dir())


# --- search ------------------------------------------------------------------------------------
def search_fold(
    options: SearchOptions, space: dict[str, Any], data: FoldData, path: Path, seed: int, figures: bool = True
) -> dict[str, Any]:
    """Warm-up then search on one fold in run dir ``path``; returns ``{"ops", "probabilities", "alpha"}``.

    ``alpha.jsonl`` gets one record per epoch: ``{"epoch", "phase", "alpha", "probabilities"}``;
    with ``figures``, ``figures/alpha.png`` plots the probabilities per cell over the epochs.
    """
    run = run_dir(path, options.resume)
    seed_everything(seed)
    binarize = options.strategy_options.get("binarize", DEFAULT_BINARIZE)
    model = RIRSearchNet(mode=strategy_mode(options.strategy), binarize=binarize, **space)
    strategy = ProxylessStrategy(
        model,
        build_loss(options.strategy_options.get("loss", "mse")),
        mode=strategy_mode(options.strategy),
        warmup_epochs=options.warmup_epochs,
        total_epochs=options.warmup_epochs + options.epochs,
        **strategy_kwargs(options),
    )
    run.write_config({**options_config(options), "space_resolved": space, "seed": seed})

    def log_alpha(epoch: int, record: dict[str, Any]) -> None:
        run.append_jsonl(
            "alpha.jsonl",
            {
                "epoch": epoch,
                "phase": record.get("phase"),
                "alpha": [edge.alpha.detach().cpu().tolist() for edge in model.edges],
                "probabilities": model.probabilities(),
                "separation": separation(model.probabilities()),
            },
        )

    run_loop(
        strategy,
        data["train"],
        data["val"],
        run,
        epochs=options.warmup_epochs + options.epochs,
        batch_size=options.batch_size,
        max_steps=options.steps,
        seed=seed,
        resume=options.resume,
        device=options.device,
        on_epoch_end=log_alpha,
        meta={"space": "rir", "search": space, "strategy": options.strategy},
        progress=False,
        tensorboard=str(Path(options.tensorboard) / path.parent.name) if options.tensorboard else False,
    )
    genotype = model.genotype()
    genotype["display"] = format_genotype(genotype["ops"], space["cells_per_block"])
    run.write_json("genotype.json", genotype)
    history = [r["probabilities"] for r in run.read_jsonl("alpha.jsonl")]
    if figures and history:
        labels = [f"cell {i + 1}" for i in range(len(model.edges))]
        alpha_trajectories(history, OPS, run.figures_dir / "alpha.png", edge_labels=labels, logits=False)
    return {
        "ops": genotype["ops"],
        "separation": separation(model.probabilities()),
        "probabilities": model.probabilities(),
        "alpha": [edge.alpha.detach().cpu().tolist() for edge in model.edges],
    }


def search_folds(
    options: SearchOptions, space: dict[str, Any], folds: list[FoldData], out: Path, figures: bool = True
) -> list[dict[str, Any]]:
    """:func:`search_fold` on every fold, in ``out/fold-k/search``."""
    return [
        search_fold(options, space, data, out / f"fold-{k}" / "search", derive_seed(options.seed, k), figures)
        for k, data in enumerate(folds)
    ]


def derive_ops(rule: str, searches: Sequence[dict[str, Any]], space: dict[str, Any], seed: int) -> list[list[str]]:
    """The op list used on each fold: ``ensemble`` (same for all folds), ``per_fold`` (each fold's
    own argmax), ``homogeneous`` (one op per block from the summed probabilities) or ``random``
    (uniform over O1..O8, seeded; the same for all folds)."""
    n_folds = len(searches)
    if rule == "ensemble":
        return [ensemble_genotype([s["probabilities"] for s in searches])] * n_folds
    if rule == "per_fold":
        return [list(s["ops"]) for s in searches]
    if rule == "homogeneous":
        ops = homogeneous_genotype([s["probabilities"] for s in searches], space["cells_per_block"])
        return [ops] * n_folds
    if rule == "random":
        cells = space["components"] * space["cells_per_block"]
        ops = [OPS[i] for i in np.random.default_rng(seed).integers(0, len(OPS), cells)]
        return [ops] * n_folds
    raise AutoMRIError(f"derivation: expected one of {DERIVATIONS}, got {rule!r}")


# --- retraining and test -----------------------------------------------------------------------
def train_and_test(
    options: SearchOptions, make_model: Callable[[], nn.Module], data: FoldData, path: Path, seed: int,
    figures: bool = True,
) -> dict[str, float]:
    """Train ``make_model()`` from scratch on train+val, both augmented by ``options.augment`` (Adam
    1e-3, weight decay 1e-7, cosine, l2 loss) for ``options.retrain_epochs`` in run dir ``path``;
    return its test ``{"psnr", "ssim", "nmse"}`` (fastMRI per-volume means; per-slice scores and,
    with ``figures``, a panel go to ``path/test``). A model without trainable parameters (the
    zero-filled reference) is only tested. A resumed run whose ``test.json`` exists is not trained
    or tested again."""
    if options.resume and (path / "test.json").is_file():
        return json.loads((path / "test.json").read_text(encoding="utf-8"))
    run = run_dir(path, options.resume)
    seed_everything(seed)
    model = make_model()
    if count_params(model, trainable_only=False) > 0:
        model = _train(options, model, ConcatDataset([data["train"], data["val"].with_augment(options.augment)]),
                       run, seed)
    scores = evaluate_model(
        model, data["test"], batch_size=options.batch_size, device=options.device,
        out=run.path / "test", panels=1 if figures else 0, progress=False,
    )
    test = {name: float(scores[name]) for name in SCORES}
    run.write_json("test.json", test)
    return test


def _train(options: SearchOptions, model: nn.Module, train_set: Dataset, run: RunDir, seed: int) -> nn.Module:
    """The retraining recipe of :func:`train_and_test` (no validation split: train+val is trained on);
    returns the trained model."""
    recipe = OptimConfig(
        epochs=options.retrain_epochs, steps=options.steps, batch_size=options.batch_size, lr=RETRAIN_LR,
        weight_decay=RETRAIN_WEIGHT_DECAY, schedule="cosine", loss=options.strategy_options.get("loss", "mse"),
    )
    fit(model, train_set, None, run, recipe, seed, options.resume, options.device, progress=False)
    return model


def fold_summary(scores: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Mean and sample std over folds per metric, plus the Table 2 strings ``"mean±std"``."""
    summary = summarise(scores)
    return {
        "mean_std": {name: {"mean": s.mean, "std": s.std, "n": s.n} for name, s in summary.items()},
        "table": {"PSNR": f"{summary['psnr'].mean:.4f}±{summary['psnr'].std:.4f}",
                  "SSIM": f"{summary['ssim'].mean:.4f}±{summary['ssim'].std:.4f}"},
    }


def retrain_folds(
    options: SearchOptions, ops_per_fold: Sequence[list[str]], space: dict[str, Any], folds: list[FoldData], out: Path,
    figures: bool = True,
) -> list[dict[str, float]]:
    """Retrain each fold's architecture in ``out/fold-k/retrain`` and test it on that fold."""
    scores = []
    for k, (ops, data) in enumerate(zip(ops_per_fold, folds)):
        genotype = {"space": "rir", "ops": ops, **space}
        scores.append(
            train_and_test(
                options, lambda g=genotype: RIRNet.from_genotype(g), data, out / f"fold-{k}" / "retrain",
                derive_seed(options.seed, k, 1), figures,
            )
        )
    return scores


# --- pipelines ---------------------------------------------------------------------------------
def derive_and_retrain(
    options: SearchOptions, write: RunDir, space: dict[str, Any], rule: str, folds: list[FoldData],
    searches: list[dict[str, Any]] | None, figures: bool = True,
) -> dict[str, Any]:
    """Derive (from ``searches``), write genotype.json, retrain and test in ``write``; return the summary."""
    ops_per_fold = derive_ops(rule, searches or [{}] * len(folds), space, options.seed)
    genotype = {"space": "rir", "ops": ops_per_fold[0], **space}
    display = format_genotype(genotype["ops"], space["cells_per_block"])
    write.write_json("genotype.json", {**genotype, "display": display})
    if figures:
        genotype_diagram_rir(genotype, write.figures_dir / "genotype.png")
    summary: dict[str, Any] = {
        "space": "rir",
        "strategy": options.strategy,
        "derivation": rule,
        "genotype": genotype,
        "display": display,
        "params": count_params(RIRNet.from_genotype(genotype), trainable_only=False),
        "folds": [
            {
                "fold": k,
                "ops": ops_per_fold[k],
                "display": format_genotype(ops_per_fold[k], space["cells_per_block"]),
                **({"searched_ops": s["ops"], "probabilities": s["probabilities"]} if searches else {}),
            }
            for k, s in enumerate(searches or [{}] * len(folds))
        ],
    }
    if options.retrain_epochs > 0:
        scores = retrain_folds(options, ops_per_fold, space, folds, write.path, figures)
        for entry, score in zip(summary["folds"], scores):
            entry["test"] = score
        summary["test"] = fold_summary(scores)
        summary["retrain"] = {"test": {name: v["mean"] for name, v in summary["test"]["mean_std"].items()}}
    write.write_json("summary.json", summary)
    return summary


def run_rir_search(options: SearchOptions, *, figures: bool = True) -> dict[str, Any]:
    """EMR-NAS: search on every fold, ensemble the probabilities, retrain and test on every fold.

    Returns (and writes to ``options.out/summary.json``) ``{"genotype", "display", "params",
    "folds": [{"fold", "ops", "searched_ops", "probabilities", "test"}], "test": {"mean_std",
    "table"}, "retrain": {"test": {metric: mean}}}`` (``test``/``retrain`` only when
    ``options.retrain_epochs > 0``). ``figures=False``
    skips the figures (genotype diagram, alpha trajectories, test panels).
    """
    check_options(options)
    out = Path(options.out)
    run = RunDir(out, resume=options.resume)
    run.write_config(options_config(options))
    space = space_settings(options)
    folds = fold_datasets(options)
    searches = search_folds(options, space, folds, out, figures)
    return derive_and_retrain(options, run, space, "ensemble", folds, searches, figures)


def retrain_per_fold(
    options: SearchOptions, searched: dict[str, Any], folds: list[FoldData], *, figures: bool = True
) -> dict[str, Any]:
    """The protocol free of test-data exposure (ablation E's): fold ``k``'s OWN searched architecture,
    retrained on fold ``k``'s train/val and tested on its test split, in ``options.out/per-fold``.

    The ensemble of :func:`run_rir_search` (the paper's protocol) sums every fold's probabilities,
    so fold ``k``'s architecture was chosen partly by searches whose training data include fold
    ``k``'s test slices; here none does. ``searched`` is the summary of :func:`run_rir_search`
    (its searches are reused, nothing is searched again) and ``folds`` its :func:`fold_datasets`.
    """
    searches = [{"ops": fold["searched_ops"], "probabilities": fold["probabilities"]} for fold in searched["folds"]]
    out = Path(options.out) / "per-fold"
    return derive_and_retrain(options, run_dir(out, options.resume), space_settings(options), "per_fold",
                              folds, searches, figures)


def split_sizes(folds: list[FoldData]) -> list[dict[str, int]]:
    """Slices per split of every fold (``S_train``, ``S_val``, ``S_test``)."""
    return [{name: len(data[name]) for name in ("train", "val", "test")} for data in folds]
