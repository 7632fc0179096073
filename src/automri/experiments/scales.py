"""Scales of the experiments: the papers' settings (``paper``), the converged study on 2 CPU cores
(``study``), a laptop size (``small``), the one-command demo (``demo``) and a seconds-long size for
the test suite (``test``).

One frozen dataclass per experiment; :func:`get_scale` picks a preset by name. ``paper`` follows
the papers (FedAutoMRI section 3.1: search 50 rounds x 5 local epochs, training 150 rounds x 5
local epochs; EMR-NAS section 3: 50 warm-up + 50 search epochs, batch 8, 3 folds; images 256 x 256);
the smaller presets shrink image size, slices, rounds, epochs, steps and model widths, and the
reports state the parameters actually used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from automri.data.augment import STANDARD
from automri.errors import AutoMRIError

PRESETS = ("test", "demo", "small", "study", "paper")


@dataclass(frozen=True)
class BaselinesScale:
    """Centralised baselines (issue 3): every model trained with its ``automri/configs/<name>.yaml``
    recipe, with these overrides.

    Attributes:
        size: image side in pixels.
        train_slices, eval_slices: caps on training and on validation/test slices (``None``: all).
        epochs, steps, batch_size: ``None`` keeps the model's configuration (``steps``: per epoch).
        lr: learning rate for every learned model (``None``: each configuration's own).
        model_options: per-model builder overrides (reduced widths at small scales).
        augment: training augmentation of every learned model (``automri.data.augment`` spec). The
            laptop presets use MRAugment-style flips, rotations, zooms and shifts with fresh masks
            every epoch: on one built-in subject an image-domain network (U-Net) otherwise memorises
            the training slices instead of learning to remove aliasing.
        phase: largest synthetic phase of the magnitude images (radians). ``0``: real-valued images,
            the setting of CDDN and EMR-NAS, whose two-step data consistency assumes a real image.
        schedule: learning-rate schedule of every learned model (``None``: each recipe's own).
        settings: the sampling settings run (``automri.experiments.baselines.SETTINGS`` names; ``None``: all).
    """

    name: str
    size: int
    train_slices: int | None
    eval_slices: int | None
    epochs: int | None
    steps: int | None
    batch_size: int | None
    lr: float | None = None
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    augment: str = STANDARD
    phase: float = 0.0
    schedule: str | None = None
    settings: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FedAutoMRIScale:
    """FedAutoMRI (Table 1 and Table 2) on a federation.

    Attributes:
        size: image side; client_slices: cap on slices per client split (``None``: all).
        search_rounds, search_local_epochs, search_batch: federated MiLeNAS search (``fednas``).
        train_rounds, train_local_epochs, train_batch: federated training of every method.
        steps: cap on local steps per epoch (``None``: the client's whole split).
        search_space: ``CellSearchNet`` options (hidden width, cells, unrolled iterations).
        net_options: overrides of the derived network (e.g. fewer unrolled iterations).
        comparison_model, comparison_options: the network of Non-Fed / FedAvg / FedProx / FedMRI
            (the paper's 7.76M-parameter U-Net: fastMRI U-Net, 32 channels, 4 pools, on magnitudes as FedMRI).
        baseline_model, baseline_options: the hand-designed "baseline" row of Table 2 (MoDL).
        search_size: image side of the search (``None``: ``size``): a proxy search on smaller images,
            as DARTS searches on a proxy, the derived network then trained at ``size``.
        train_seeds: number of seeds of the training phase of the Table 1 methods and FedAutoMRI:
            each of those runs is repeated at seeds ``seed, seed + 1, ...`` (the search and the
            ablation rows run once, at ``seed``).
    """

    name: str
    size: int
    client_slices: int | None
    search_rounds: int
    search_local_epochs: int
    search_batch: int
    train_rounds: int
    train_local_epochs: int
    train_batch: int
    steps: int | None
    search_space: dict[str, Any] = field(default_factory=dict)
    net_options: dict[str, Any] = field(default_factory=dict)
    comparison_model: str = "unet"
    comparison_options: dict[str, Any] = field(default_factory=dict)
    baseline_model: str = "modl"
    baseline_options: dict[str, Any] = field(default_factory=dict)
    search_size: int | None = None
    train_seeds: int = 1


@dataclass(frozen=True)
class EMRNASScale:
    """EMR-NAS (Table 2, optional Table 3) on one dataset with k-fold cross-validation.

    Attributes:
        size, folds, batch_size, steps: data and loop sizes (``steps`` per epoch, ``None``: all).
        warmup_epochs, search_epochs: ProxylessNAS warm-up (random paths) and search epochs.
        retrain_epochs: epochs to train the ensemble architecture and each baseline per fold.
        width, components: RIR network width (``None``: the width giving the paper's 0.33M
            parameters) and number of cascaded components (5 in the paper).
        params: parameter budget of the baselines (``None``: that of the searched network).
        arch_lr: Adam learning rate of the architecture parameters (``None``: the paper's 1e-3).
        phase: largest synthetic phase of magnitude images (radians); ``0`` (default): real-valued
            images like EMR-NAS's cardiac data, which its two-step data consistency assumes.
        augment: augmentation of the slices that train weights (search, retraining, baselines), an
            ``automri.data.augment`` spec; the paper scale trains on whole datasets without it.
        model_options: per-baseline overrides of its recipe's options (the width is always chosen
            for the parameter budget), e.g. ``{"unet": {"residual": True}}``.
    """

    name: str
    size: int
    folds: int
    batch_size: int
    steps: int | None
    warmup_epochs: int
    search_epochs: int
    retrain_epochs: int
    width: int | None
    components: int
    params: int | None = None
    arch_lr: float | None = None
    phase: float = 0.0
    augment: str = STANDARD
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)


_TINY_MODELS = {
    "unet": {"chans": 4, "num_pool_layers": 2},
    "dccnn": {"nf": 4, "n_cascades": 2, "n_convs": 3},
    "modl": {"nf": 4, "n_layers": 3, "iterations": 2},
    "rdn": {"nf": 4, "n_blocks": 1, "n_recursions": 1},
    "cddn_tdc": {"nf": 4, "n_cascades": 2},
    "cs_tv": {"n_iter": 20},
}
_DEMO_MODELS = {
    "unet": {"chans": 8, "num_pool_layers": 3},
    "dccnn": {"nf": 16, "n_cascades": 3},
    "modl": {"nf": 16, "iterations": 4},
    "rdn": {"nf": 16, "n_blocks": 2, "n_recursions": 2},
    "cddn_tdc": {"nf": 8, "n_cascades": 3},
    "cs_tv": {"n_iter": 50},
}

# Laptop widths: every learned model trains in a few CPU minutes at 64 px. Two changes from the
# recipes for training runs of only 200 steps (measured on colin27, 4x random 1D, 10 x 20 steps):
# - U-Net ``residual``: it predicts the correction to the zero-filled image (the global residual of
#   DC-CNN, MoDL and CDDN) instead of the image from scratch, which fastMRI's design needs thousands
#   of steps to learn (test PSNR 13.6 -> 19.0 dB; 15% random: 15.7 -> 19.5 dB).
# - MoDL without BatchNorm (bias-free convolutions get biases), as in the FedAutoMRI authors' MoDL
#   baseline (research/methods.md 1.5): with batches of 4 slices BN's statistics are noisy
#   (test PSNR 18.6 -> 21.0 dB).
_SMALL_MODELS = {
    "unet": {"chans": 16, "num_pool_layers": 4, "residual": True},
    "dccnn": {"nf": 32},
    "modl": {"nf": 32, "iterations": 5, "batch_norm": False},
}

BASELINES: dict[str, BaselinesScale] = {
    "test": BaselinesScale("test", size=16, train_slices=4, eval_slices=2, epochs=1, steps=1, batch_size=2,
                           lr=1e-3, model_options=_TINY_MODELS),
    "demo": BaselinesScale("demo", size=48, train_slices=24, eval_slices=8, epochs=3, steps=8, batch_size=4,
                           lr=1e-3, model_options=_DEMO_MODELS),
    "small": BaselinesScale("small", size=64, train_slices=None, eval_slices=24, epochs=10, steps=25, batch_size=4,
                            lr=1e-3, model_options=_SMALL_MODELS),
    # converged on one CPU core in about 15 minutes: 20 epochs of the 80 training slices of colin27
    # (400 steps; ``steps`` only caps larger datasets), the learning rate annealed by a cosine to 0 so
    # that validation PSNR is flat over the last epochs; one sampling setting
    "study": BaselinesScale("study", size=64, train_slices=None, eval_slices=32, epochs=20, steps=50, batch_size=4,
                            lr=1e-3, model_options=_SMALL_MODELS, schedule="cosine", settings=("random1d-4x",)),
    "paper": BaselinesScale("paper", size=256, train_slices=None, eval_slices=None, epochs=None, steps=None,
                            batch_size=None, augment="none"),
}

_AUTHORS_MODL_SHAPE = {"n_layers": 9, "batch_norm": False}
AUTHORS_MODL = {"nf": 64, **_AUTHORS_MODL_SHAPE, "iterations": 5}
"""FedAutoMRI Table 2's "baseline": the authors' MoDL (ModFed ``models/MoDL.py`` without its SLAM
block): 9 convolutions of 64 filters, no BatchNorm, K = 5 (260,866 + 1 parameters, the paper's 0.26M).
Smaller scales keep its shape (9 layers, no BN) at fewer filters."""

FEDAUTOMRI: dict[str, FedAutoMRIScale] = {
    "test": FedAutoMRIScale(
        "test", size=16, client_slices=4, search_rounds=1, search_local_epochs=1, search_batch=2, train_rounds=1,
        train_local_epochs=1, train_batch=2, steps=1,
        search_space={"hidden": 4, "cells": 1, "iterations": 1}, net_options={"iterations": 1},
        comparison_options={"chans": 4, "num_pool_layers": 2, "in_chans": 1},
        baseline_options={"nf": 4, "n_layers": 3, "iterations": 1},
    ),
    "demo": FedAutoMRIScale(
        "demo", size=32, client_slices=12, search_rounds=3, search_local_epochs=1, search_batch=4, train_rounds=3,
        train_local_epochs=1, train_batch=4, steps=3,
        search_space={"hidden": 8, "cells": 2, "iterations": 2}, net_options={"iterations": 2},
        comparison_options={"chans": 8, "num_pool_layers": 3, "in_chans": 1}, baseline_options={"nf": 16, **_AUTHORS_MODL_SHAPE,
                                                                                   "iterations": 2},
    ),
    "small": FedAutoMRIScale(
        "small", size=64, client_slices=32, search_rounds=10, search_local_epochs=1, search_batch=4, train_rounds=20,
        train_local_epochs=1, train_batch=4, steps=8,
        search_space={"hidden": 16, "cells": 3, "iterations": 3}, net_options={"iterations": 3},
        comparison_options={"chans": 16, "num_pool_layers": 4, "in_chans": 1}, baseline_options={"nf": 32, **_AUTHORS_MODL_SHAPE,
                                                                                    "iterations": 5},
    ),
    # the study: a proxy search at 32 px (32 rounds of the 8 steps of a 32-slice split: 256 alpha
    # steps per client, several hundred being what a search needs to separate its ops,
    # docs/faithfulness.md), the derived net widened to 16 channels and trained at 64 px for 160 local
    # steps; three seeds of every training run of Table 1; the comparison U-Net predicts the
    # correction to the zero-filled image as at the baselines' small scale (_SMALL_MODELS)
    "study": FedAutoMRIScale(
        "study", size=64, client_slices=32, search_rounds=32, search_local_epochs=1, search_batch=4, train_rounds=20,
        train_local_epochs=1, train_batch=4, steps=None,
        search_space={"hidden": 8, "cells": 2, "iterations": 2}, net_options={"hidden": 16, "iterations": 3},
        comparison_options={"chans": 16, "num_pool_layers": 4, "in_chans": 1, "residual": True},
        baseline_options={"nf": 32, **_AUTHORS_MODL_SHAPE, "iterations": 5}, search_size=32, train_seeds=3,
    ),
    "paper": FedAutoMRIScale(
        "paper", size=256, client_slices=None, search_rounds=50, search_local_epochs=5, search_batch=4,
        train_rounds=150, train_local_epochs=5, train_batch=24, steps=None,
        search_space={"hidden": 16, "cells": 3, "iterations": 5}, net_options={},
        comparison_options={"chans": 32, "num_pool_layers": 4, "in_chans": 1}, baseline_options=AUTHORS_MODL,
    ),
}

# Runs of a few hundred steps: the U-Net predicts the correction to the zero-filled image, as at the
# baselines' small scale (see _SMALL_MODELS); the paper scale keeps fastMRI's design.
_SHORT_RUN_BASELINES = {"unet": {"residual": True}}

EMRNAS: dict[str, EMRNASScale] = {
    "test": EMRNASScale("test", size=32, folds=2, batch_size=2, steps=1, warmup_epochs=1, search_epochs=1,
                        retrain_epochs=1, width=4, components=2),
    # the demo's 8 alpha steps per fold leave alpha near 1/8 at the paper's lr 1e-3 (Adam moves a logit
    # by at most about lr per step): its report says that the search did not separate its ops
    "demo": EMRNASScale("demo", size=32, folds=3, batch_size=4, steps=4, warmup_epochs=1, search_epochs=2,
                        retrain_epochs=2, width=8, components=2, model_options=_SHORT_RUN_BASELINES),
    "small": EMRNASScale("small", size=64, folds=3, batch_size=4, steps=20, warmup_epochs=5, search_epochs=5,
                         retrain_epochs=10, width=16, components=5, model_options=_SHORT_RUN_BASELINES),
    # the study: 300 alpha steps per fold (5 warm-up + 15 search epochs of 20 steps) and 400 steps of
    # retraining for the searched net and every baseline
    "study": EMRNASScale("study", size=64, folds=3, batch_size=4, steps=20, warmup_epochs=5, search_epochs=15,
                         retrain_epochs=20, width=16, components=5, model_options=_SHORT_RUN_BASELINES),
    "paper": EMRNASScale("paper", size=256, folds=3, batch_size=8, steps=None, warmup_epochs=50, search_epochs=50,
                         retrain_epochs=50, width=None, components=5, augment="none"),
}

SCALES: dict[str, dict[str, Any]] = {"baselines": BASELINES, "fedautomri": FEDAUTOMRI, "emrnas": EMRNAS}


def get_scale(experiment: str, preset: str, size: int | None = None) -> Any:
    """The ``preset`` scale of ``experiment`` (``baselines``, ``fedautomri``, ``emrnas``); ``size``
    (the ``--size`` flag) replaces its image side."""
    if experiment not in SCALES:
        raise AutoMRIError(f"--experiment {experiment!r}: expected one of {', '.join(SCALES)}")
    if preset not in SCALES[experiment]:
        raise AutoMRIError(f"--scale {preset!r}: expected one of {', '.join(PRESETS)}")
    scale = SCALES[experiment][preset]
    if size is not None:
        if size < 8:
            raise AutoMRIError(f"--size {size}: expected an image side of at least 8 pixels")
        scale = dataclasses.replace(scale, size=size)
    return scale


def scale_dict(scale: Any) -> dict[str, Any]:
    """Plain data of a scale (for ``summary.json`` and the report)."""
    return dataclasses.asdict(scale)
