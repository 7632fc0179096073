"""Run configurations: typed dataclasses loaded from YAML, validated, overridden by flags.

A configuration file (``configs/<model>.yaml``) has three sections and two top-level keys::

    model:  {name: modl, genotype: null, params: null, options: {nf: 64, iterations: 10}}
    data:   {dataset: phantom, size: 256, mask: "random:rate=0.25,center=0.08", ...}
    train:  {epochs: 50, batch_size: 1, optimizer: adam, lr: 1.0e-3, loss: mse, ...}
    seed: 0
    device: auto

Unknown keys and ill-typed values raise :class:`AutoMRIError` naming the file and the dotted key
(``configs/modl.yaml: train.epochs: expected an integer, got 'ten'``). Command-line flags override
the file (:func:`apply_overrides`); the fully resolved configuration is saved in the run directory
(``config.yaml``) and is what ``--resume`` and ``automri evaluate RUN`` read back.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from automri.data.augment import parse_augment
from automri.data.coils import check_sens_method
from automri.data.readers.cc359 import check_outer_slices
from automri.data.resize import requested_size
from automri.data.roots import CHALLENGES
from automri.errors import AutoMRIError
from automri.train.losses import LOSSES

DEFAULT_MASK = "random:rate=0.25,center=0.08"


@dataclass
class ModelConfig:
    """Which network: a registry ``name`` (``automri.models.registry``) or a ``genotype`` (a JSON
    file path or an inline genotype mapping); ``params``: a parameter budget that picks the width
    (``width_for_params``); ``options``: keyword arguments of the builder."""

    name: str | None = None
    genotype: str | dict | None = None
    params: int | None = None
    options: dict = field(default_factory=dict)


@dataclass
class DataConfig:
    """Which data (``automri.data.datasets.build_dataset``): built-in name or path, image side,
    mask spec, simulated coils and k-space noise, slice caps for the train and validation splits,
    the largest synthetic phase of magnitude images (radians; ``0``: real-valued images) and the
    training augmentation (``automri.data.augment`` spec; ``"none"`` or e.g.
    ``"flip=0.5,rotate=180,scale=0.15,translate=0.1"``; training split only).

    ``size: null`` (or ``0``, as ``--size 0``; stored as ``null``) keeps the native size, no
    resampling (fastMRI files: their reconSpace crop). ``challenge`` (``singlecoil``, ``multicoil``
    or ``null``: the only one there) picks fastMRI's ``<challenge>_<split>`` folders of a dataset
    root (:mod:`automri.data.roots`). ``outer_slices``: CC-359 files only, slices skipped at each end
    of every volume (the challenge's protocol drops 50; ``0``: none). ``sens_maps``: how maps are
    estimated for coil data without stored maps, ``acs`` or ``espirit`` (:mod:`automri.data.coils`)."""

    dataset: str = "phantom"
    size: int | None = 64
    mask: str = DEFAULT_MASK
    coils: int = 0
    noise: float = 0.0
    max_slices: int | None = None
    val_max_slices: int | None = None
    format: str = "auto"
    phase: float = math.pi
    augment: str = "none"
    challenge: str | None = None
    outer_slices: int = 0
    sens_maps: str = "acs"


@dataclass
class OptimConfig:
    """How to train (``automri.train.stepper.SupervisedStepper`` and ``run_loop``).

    ``steps`` caps the steps per epoch; ``schedule`` is ``none``, ``cosine`` or ``multistep``
    (``milestones`` in epochs, factor ``gamma``); ``grad_clip`` clips the global gradient norm;
    ``checkpoint_every`` saves ``checkpoint-last.pt`` every so many steps (besides each epoch end).
    """

    epochs: int = 10
    steps: int | None = None
    batch_size: int = 4
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "none"
    milestones: list = field(default_factory=list)
    gamma: float = 0.1
    loss: str = "mse"
    grad_clip: float | None = None
    bf16: bool = False
    channels_last: bool = False
    checkpoint_every: int | None = None
    tensorboard: bool | str = False  # true: RUN/tensorboard; a path: that folder (--tensorboard DIR)


@dataclass
class RunConfig:
    """A whole training run. ``notes`` records where the hyper-parameters come from."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    device: str = "auto"
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON ready)."""
        return dataclasses.asdict(self)


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               dict: "a mapping", list: "a list", type(None): "null"}


def _check_value(value: Any, annotation: Any, where: str) -> Any:
    """``value`` converted to ``annotation`` (int, float, str, bool, dict, list, unions with None)."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for option in options:
        if option is type(None) and value is None:
            return None
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and not isinstance(value, bool):
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
                try:
                    return float(value)
                except ValueError:
                    pass
        if option in (str, dict, list) and isinstance(value, option):
            return value
    expected = " or ".join(_TYPE_WORDS[o] for o in options)
    raise AutoMRIError(f"{where}: expected {expected}, got {value!r}")


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from mapping ``data``, checking every key and type."""
    if not isinstance(data, dict):
        raise AutoMRIError(f"{source}: {prefix or 'top level'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in data if key not in names]
    if unknown:
        raise AutoMRIError(
            f"{source}: unknown key '{prefix}{unknown[0]}' (expected one of {', '.join(prefix + n for n in names)})"
        )
    values = {}
    for key, value in data.items():
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            values[key] = _build(annotation, value, source, f"{prefix}{key}.")
        else:
            values[key] = _check_value(value, annotation, f"{source}: {prefix}{key}")
    return cls(**values)


def config_from_dict(data: dict[str, Any], source: str = "config", labels: dict[str, str] | None = None) -> RunConfig:
    """A validated :class:`RunConfig` from a nested mapping; errors name ``source`` and the key
    (or ``labels[key]``, e.g. the command-line flag that set it)."""
    config = _build(RunConfig, data, source, "")
    config.data.size = requested_size(config.data.size)
    validate_config(config, source, labels)
    return config


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML configuration file."""
    path = Path(path)
    if not path.is_file():
        raise AutoMRIError(f"--config {path}: file not found")
    return config_from_dict(parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}, str(path))


def parse_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load(text)``; malformed YAML raises :class:`AutoMRIError` naming ``source``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise AutoMRIError(yaml_error_line(err, source)) from err


def yaml_error_line(err: yaml.YAMLError, source: str) -> str:
    """One line for a YAML error: ``"cfg.yaml: not valid YAML at line 3, column 5 (mapping values are not allowed here)"``."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    parts = [getattr(err, "context", None), getattr(err, "problem", None)]
    what = "; ".join(str(p) for p in parts if p) or str(err)
    return f"{source}: not valid YAML{where} ({' '.join(what.split())})"


def builtin_config_names() -> list[str]:
    """Names of the configurations shipped with the package (``automri/configs/*.yaml``)."""
    folder = resources.files("automri") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_config(name: str) -> RunConfig:
    """The shipped configuration ``automri/configs/<name>.yaml`` (e.g. ``modl``, ``cell``, ``rir``)."""
    resource = resources.files("automri") / "configs" / f"{name}.yaml"
    if not resource.is_file():
        raise AutoMRIError(
            f"config {name!r}: no built-in configuration (expected one of {', '.join(builtin_config_names())})"
        )
    with resources.as_file(resource) as path:
        return load_config(path)


def apply_overrides(config: RunConfig, overrides: dict[str, Any], source: str = "flags") -> RunConfig:
    """A copy of ``config`` with dotted keys replaced (``{"train.epochs": 3}``); ``None`` values are
    skipped (flag not given). The result is validated."""
    data = config.to_dict()
    labels = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        labels[dotted] = FLAG_NAMES.get(dotted, f"{source}: {dotted}") if source == "flags" else f"{source}: {dotted}"
        *parents, leaf = dotted.split(".")
        node = data
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                raise AutoMRIError(f"{source}: unknown key {dotted!r}")
        node[leaf] = value
    return config_from_dict(data, source, labels)


FLAG_NAMES = {
    "data.dataset": "--dataset", "data.size": "--size", "data.mask": "--mask", "data.phase": "--phase",
    "data.augment": "--augment", "data.val_max_slices": "--val-slices", "data.max_slices": "--max-slices",
    "data.coils": "--coils", "data.noise": "--noise", "data.challenge": "--challenge",
    "data.outer_slices": "--outer-slices", "data.sens_maps": "--sens-maps",
    "train.bf16": "--bf16", "train.channels_last": "--channels-last",
    "train.epochs": "--epochs", "train.steps": "--steps",
    "train.batch_size": "--batch-size", "train.lr": "--lr", "train.loss": "--loss", "model.params": "--params",
    "seed": "--seed", "device": "--device",
}
"""The command-line flag behind each dotted key, so that errors about a flag's value name the flag."""


def _numbers(config: RunConfig) -> list[tuple[str, Any]]:
    """``(dotted key, value)`` of every number in ``config`` (sections and top level)."""
    found = []
    for key, value in config.to_dict().items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for leaf, item in items:
            if isinstance(item, int | float) and not isinstance(item, bool):
                found.append((key if leaf is None else f"{key}.{leaf}", item))
    return found


_CHOICES = {
    "train.optimizer": ("adam", "adamw"),
    "train.schedule": ("none", "cosine", "multistep"),
}


def validate_config(config: RunConfig, source: str = "config", labels: dict[str, str] | None = None) -> None:
    """Checks beyond types: one model source, finite numbers, sizes and rates in range, known names.

    Errors name ``labels[key]`` when given (``"--lr: expected a finite number, got inf"``), else ``"<source>: <key>"``.
    """

    def label(key: str) -> str:
        return (labels or {}).get(key, f"{source}: {key}")

    model = config.model
    if (model.name is None) == (model.genotype is None):
        raise AutoMRIError(f"{source}: model: give exactly one of model.name (--model) or model.genotype (--genotype)")
    for key, value in _numbers(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise AutoMRIError(f"{label(key)}: expected a finite number, got {value}")
    if config.data.size is not None and config.data.size < 1:
        raise AutoMRIError(
            f"{label('data.size')}: expected a positive image side, or 0 for the native size, got {config.data.size}"
        )
    if config.data.challenge not in (None, *CHALLENGES):
        raise AutoMRIError(
            f"{label('data.challenge')}: expected {' or '.join(CHALLENGES)} (or null: the only one in the "
            f"dataset folder), got {config.data.challenge!r}"
        )
    check_sens_method(config.data.sens_maps, label("data.sens_maps"))
    check_outer_slices(config.data.outer_slices, label("data.outer_slices"))
    positive = {
        "train.batch_size": config.train.batch_size,
        "train.steps": config.train.steps, "train.checkpoint_every": config.train.checkpoint_every,
        "data.max_slices": config.data.max_slices, "data.val_max_slices": config.data.val_max_slices,
        "model.params": model.params,
    }
    for key, value in positive.items():
        if value is not None and value < 1:
            raise AutoMRIError(f"{label(key)}: expected a positive integer, got {value}")
    non_negative = {"train.epochs": config.train.epochs, "data.coils": config.data.coils,
                    "data.noise": config.data.noise, "data.phase": config.data.phase,
                    "train.weight_decay": config.train.weight_decay, "seed": config.seed}
    for key, value in non_negative.items():
        if value < 0:
            raise AutoMRIError(f"{label(key)}: expected a non-negative value, got {value}")
    if not 0 < config.train.gamma <= 1:
        raise AutoMRIError(f"{label('train.gamma')}: expected a decay factor in (0, 1], got {config.train.gamma}")
    try:
        parse_augment(config.data.augment)
    except AutoMRIError as error:
        raise AutoMRIError(f"{label('data.augment')}: {error}") from None
    if not config.train.lr > 0:
        raise AutoMRIError(f"{label('train.lr')}: expected a positive learning rate, got {config.train.lr}")
    if config.train.grad_clip is not None and not config.train.grad_clip > 0:
        raise AutoMRIError(f"{label('train.grad_clip')}: expected a positive number or null, got {config.train.grad_clip}")
    if config.train.loss not in LOSSES:
        raise AutoMRIError(f"{label('train.loss')}: unknown loss {config.train.loss!r} (expected one of {', '.join(LOSSES)})")
    for key, choices in _CHOICES.items():
        value = getattr(config.train, key.split(".")[1])
        if value not in choices:
            raise AutoMRIError(f"{source}: {key}: expected one of {', '.join(choices)}, got {value!r}")
    if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in config.train.milestones):
        raise AutoMRIError(f"{source}: train.milestones: expected a list of positive epoch numbers")
    if config.train.schedule == "multistep" and not config.train.milestones:
        raise AutoMRIError(f"{source}: train.milestones: the multistep schedule needs at least one epoch")
    if config.device != "auto" and not (config.device == "cpu" or config.device.startswith("cuda")):
        raise AutoMRIError(f"{label('device')}: expected auto, cpu, cuda or cuda:N, got {config.device!r}")
