"""Options shared by every architecture search run (``automri search``), centralised or per client."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automri.data.augment import parse_augment
from automri.data.coils import check_sens_method
from automri.data.readers.cc359 import check_outer_slices
from automri.data.resize import requested_size
from automri.data.roots import check_challenge
from automri.errors import AutoMRIError


@dataclass
class SearchOptions:
    """What a search run needs to know; the CLI fills it from flags, configs may override.

    Attributes:
        space: ``"cell"`` (FedAutoMRI) or ``"rir"`` (EMR-NAS).
        strategy: ``milenas`` | ``darts1`` | ``darts2`` (cell) or ``proxyless`` | ``proxyless2`` |
            ``darts`` (rir).
        dataset: built-in name or path (see ``automri.data.datasets.build_dataset``).
        size: image side in pixels (64 in tests, 256 for real runs); ``None`` (or ``0``, as
            ``--size 0``) keeps the native size, no resampling.
        mask: mask spec string (see ``automri.physics.masks.build_mask``).
        challenge: ``singlecoil`` or ``multicoil``: fastMRI's ``<challenge>_<split>`` folders of a
            dataset root (``automri.data.roots``); ``None``: the only one there.
        outer_slices: CC-359 files only: slices skipped at each end of every volume (the
            challenge's protocol drops 50).
        sens_maps: maps of coil data without stored maps, ``acs`` or ``espirit``.
        phase: largest synthetic phase (radians) of magnitude images; ``0``: real-valued images
            (EMR-NAS's cardiac data; its two-step data consistency assumes a real image).
        augment: augmentation of the slices that train weights (and, for ``cell``, alphas), as
            an :mod:`automri.data.augment` spec; ``"none"`` (default) or e.g.
            ``"flip=0.5,rotate=180,scale=0.15,translate=0.1"``. Validation and test slices never are.
        epochs: search epochs (after warm-up, for ``rir``).
        warmup_epochs: weight-only epochs with random paths before alpha updates (``rir``).
        steps: cap on steps per epoch (``None``: the whole train split).
        batch_size: slices per step.
        train_portion: fraction of the training split used for weights, the rest for alpha.
        folds: number of cross-validation folds (``rir``: 3 in the paper; 1 = a single split).
        seed: seed of every random choice in the run.
        out: run directory.
        resume: continue the run in ``out`` from its last checkpoint.
        device: ``auto`` | ``cpu`` | ``cuda``.
        retrain_epochs: epochs to train the derived network from scratch after the search (0: skip).
        space_options: space-specific settings, e.g. ``{"hidden": 16, "cells": 3, "iterations": 5}``
            for ``cell`` or ``{"width": 32, "components": 5}`` for ``rir``.
        strategy_options: strategy-specific settings, e.g. ``{"beta": 1.0, "arch_lr": 3e-3}``.
        tensorboard: folder for TensorBoard logs of the search (``--tensorboard DIR``; rir: one
            ``fold-k`` sub-folder per fold), ``None``: none.
    """

    space: str = "cell"
    strategy: str = "milenas"
    dataset: str = "phantom"
    size: int | None = 64
    mask: str = "random:rate=0.25,center=0.08"
    challenge: str | None = None
    outer_slices: int = 0
    sens_maps: str = "acs"
    phase: float = math.pi
    augment: str = "none"
    epochs: int = 10
    warmup_epochs: int = 0
    steps: int | None = None
    batch_size: int = 4
    train_portion: float = 0.5
    folds: int = 1
    seed: int = 0
    out: Path = Path("runs/search")
    resume: bool = False
    device: str = "auto"
    retrain_epochs: int = 0
    space_options: dict[str, Any] = field(default_factory=dict)
    strategy_options: dict[str, Any] = field(default_factory=dict)
    tensorboard: str | None = None

    def __post_init__(self) -> None:
        self.size = requested_size(self.size)
        check_challenge(self.challenge)
        check_sens_method(self.sens_maps)
        check_outer_slices(self.outer_slices)
        try:
            parse_augment(self.augment)
        except AutoMRIError as error:
            raise AutoMRIError(f"--augment: {error}") from None
