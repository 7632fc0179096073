"""``automri train`` as a library call: from a resolved :class:`~automri.train.config.RunConfig` to a
trained model in a run directory, and back from a run directory or checkpoint to the model.

``train(config, out)``:

1. resolves the model section (a genotype file is inlined, a parameter budget becomes a width) and
   saves the fully resolved configuration as ``RUN/config.yaml``;
2. seeds everything, builds the model and the train/val splits of the dataset;
3. runs :func:`automri.train.loop.run_loop` with a :class:`~automri.train.stepper.SupervisedStepper`
   (skipped for models without trainable parameters, such as ``zero_filled`` and ``cs_tv``),
   selecting ``checkpoint-best.pt`` on the fastMRI per-volume validation PSNR;
4. scores the best weights on the validation split (``RUN/eval-val/``: metrics.json and CSVs) and
   writes ``summary.json`` and ``figures/`` (training curves and reconstruction panels).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from automri.data.datasets import build_splits
from automri.data.readers.cc359 import outer_slice_options
from automri.errors import AutoMRIError
from automri.eval.figures import curves
from automri.models.registry import count_params, width_for_params, width_kwarg
from automri.nas.factory import build_network
from automri.nas.genotype import load_genotype, validate_genotype
from automri.train.checkpoint import load_checkpoint
from automri.train.config import OptimConfig, RunConfig, config_from_dict
from automri.train.device import resolve_device
from automri.train.evaluate import evaluate_model, validation_scores
from automri.train.loop import SupervisedStepper, run_loop, steps_per_epoch
from automri.train.losses import build_loss
from automri.train.runs import RunDir
from automri.train.seed import seed_everything

CURVE_KEYS = ("train_loss", "val_psnr", "val_ssim")


def resolve_config(config: RunConfig) -> RunConfig:
    """A copy of ``config`` whose model section no longer depends on outside files or searches:
    a genotype path is replaced by the genotype itself, and a ``params`` budget sets the width
    option to the width whose parameter count is closest (``width_for_params``)."""

    resolved = copy.deepcopy(config)
    model = resolved.model
    if isinstance(model.genotype, str):
        model.genotype = load_genotype(model.genotype)
    if model.params is not None:
        if model.name is None:
            raise AutoMRIError("--params: a parameter budget needs --model (genotypes fix their own width)")
        width_arg = width_kwarg(model.name)  # the budget decides the width, replacing a configured one
        options = {k: v for k, v in model.options.items() if k != width_arg}
        model.options = {**options, width_arg: width_for_params(model.name, model.params, **options)}
    return resolved


def build_from_config(config: RunConfig) -> nn.Module:
    """The network of a resolved configuration (a registry model or a genotype network), by the
    one factory :func:`automri.nas.factory.build_network`."""
    model = config.model
    if model.genotype is not None:
        return build_network(validate_genotype(model.genotype, source="model.genotype"), **model.options)
    return build_network(model.name, **model.options)


def build_split(config: RunConfig, split: str, max_slices: int | None = None, dataset: str | None = None,
                augmented: bool = True) -> Any:
    """The ``split`` of the configured dataset (``dataset`` overrides the configured one), by the one
    dataset builder :func:`automri.data.datasets.build_splits` (only ``train`` is augmented, and only
    when ``augmented``)."""
    data = config.data
    return build_splits(
        dataset or data.dataset, (split,), augment=data.augment if augmented else None, max_slices={split: max_slices},
        size=data.size,
        mask=data.mask, seed=config.seed, coils=data.coils, noise=data.noise, format=data.format, phase=data.phase,
        challenge=data.challenge, reader_options=outer_slice_options(data.outer_slices),
        sens_method=data.sens_maps,
    )[split]


def _has_trainable_parameters(model: nn.Module) -> bool:
    return any(p.requires_grad for p in model.parameters())


def fit(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    run: RunDir,
    recipe: OptimConfig,
    seed: int,
    resume: bool = False,
    device: str | torch.device = "cpu",
    meta: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The one training recipe runner (``automri train``, search retraining, EMR-NAS folds and
    baselines): a :class:`SupervisedStepper` configured by ``recipe`` driven by :func:`run_loop` in
    ``run``; with ``val_set`` it selects ``checkpoint-best.pt`` on the fastMRI per-volume validation
    PSNR and loads those best weights into ``model`` at the end.

    Models without trainable parameters (``zero_filled``, ``cs_tv``) and ``recipe.epochs == 0`` are
    not trained. Returns the :func:`run_loop` summary (``epochs``, ``global_step``, ``best_epoch``,
    ``best_psnr``, ``resumed_from``).
    """
    if not _has_trainable_parameters(model) or recipe.epochs == 0:
        return {"epochs": 0, "global_step": 0, "best_epoch": None, "best_psnr": None, "resumed_from": None}
    device = resolve_device(device)
    stepper = SupervisedStepper(
        model, build_loss(recipe.loss), optimizer=recipe.optimizer, lr=recipe.lr, weight_decay=recipe.weight_decay,
        schedule=recipe.schedule, epochs=recipe.epochs,
        steps_per_epoch=steps_per_epoch(len(train_set), recipe.batch_size, recipe.steps),
        grad_clip=recipe.grad_clip, bf16=recipe.bf16, channels_last=recipe.channels_last, device=device,
        milestones=recipe.milestones, gamma=recipe.gamma,
    )
    evaluate = None if val_set is None else (lambda m: validation_scores(m, val_set, recipe.batch_size, device))
    summary = run_loop(
        stepper, train_set, val_set, run, epochs=recipe.epochs, batch_size=recipe.batch_size, max_steps=recipe.steps,
        seed=seed, resume=resume, evaluate_fn=evaluate, checkpoint_every=recipe.checkpoint_every, device=device,
        meta=meta, tensorboard=recipe.tensorboard, progress=progress,
    )
    if val_set is not None and run.checkpoint_best.is_file():
        model.load_state_dict(load_checkpoint(run.checkpoint_best, map_location=device)["model"])
    return summary


def train(
    config: RunConfig,
    out: str | os.PathLike,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the configured model into run directory ``out`` (see the module docstring).

    Returns the summary also written to ``RUN/summary.json``: ``{"run", "model", "params",
    "epochs", "global_step", "best_epoch", "best_psnr", "val": {psnr/ssim/nmse mean and std per
    convention}, "resumed_from"}``.
    """
    run = RunDir(out, resume=resume, overwrite=overwrite)
    config = resolve_config(config)
    run.write_config(config.to_dict())
    device = resolve_device(config.device)
    seed_everything(config.seed)
    model = build_from_config(config).to(device)
    train_set = build_split(config, "train", config.data.max_slices)
    val_set = build_split(config, "val", config.data.val_max_slices)
    opt = config.train
    meta = {"config": config.to_dict()}

    loop_summary = fit(model, train_set, val_set, run, opt, config.seed, resume, device, meta, progress)
    final = evaluate_model(
        model, val_set, opt.batch_size, device, out=run.path / "eval-val", figures=run.figures_dir, progress=progress
    )
    history = run.read_jsonl()
    keys = [k for k in CURVE_KEYS if any(k in r for r in history)]
    if keys:
        curves(history, keys, run.figures_dir / "curves.png", title=_model_label(config))

    summary = {
        "run": str(run.path),
        "model": _model_label(config),
        "params": count_params(model),
        **{k: loop_summary[k] for k in ("epochs", "global_step", "best_epoch", "best_psnr", "resumed_from")},
        "val": {"volume_summary": final["volume_summary"], "slice_summary": final["slice_summary"]},
    }
    run.write_json("summary.json", summary)
    return summary


def _model_label(config: RunConfig) -> str:
    if config.model.name is not None:
        return config.model.name
    return f"{config.model.genotype['space']}_net"


def load_trained(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, RunConfig]:
    """The model of a run directory (best checkpoint, else last) or of a checkpoint file, with its
    configuration. Runs of parameter-free models (``zero_filled``, ``cs_tv``) need no checkpoint."""
    path = Path(path)
    device = resolve_device(device)
    if path.is_dir():
        run = RunDir(path, resume=True)
        config = config_from_dict(run.read_config(), str(path / "config.yaml"))
        checkpoint_path = next((p for p in (run.checkpoint_best, run.checkpoint_last) if p.is_file()), None)
    elif path.is_file():
        checkpoint = load_checkpoint(path, map_location=device)
        if "config" not in checkpoint.get("meta", {}):
            raise AutoMRIError(f"{path}: checkpoint does not record its configuration (not written by automri train)")
        config = config_from_dict(checkpoint["meta"]["config"], f"{path} (meta.config)")
        checkpoint_path = path
    else:
        raise AutoMRIError(f"{path}: no such run directory or checkpoint")
    model = build_from_config(config).to(device)
    if checkpoint_path is not None:
        state = load_checkpoint(checkpoint_path, map_location=device)["model"]
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise AutoMRIError(f"{checkpoint_path}: weights do not fit the configured model ({err})") from err
    elif _has_trainable_parameters(model):
        raise AutoMRIError(f"{path}: run has no checkpoint-best.pt or checkpoint-last.pt to evaluate")
    return model.eval(), config


__all__ = ["build_from_config", "build_split", "fit", "load_trained", "resolve_config", "train"]
