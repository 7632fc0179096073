"""Run configurations: validation errors name the file and key; flags override; shipped configs load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from automri.errors import AutoMRIError
from automri.train.config import (
    RunConfig,
    apply_overrides,
    builtin_config,
    builtin_config_names,
    config_from_dict,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIGS = REPO / "src" / "automri" / "configs"
PAPER_MODELS = {"zero_filled", "cs_tv", "unet", "dccnn", "modl", "rdn", "cddn_tdc", "cell", "rir"}


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_yaml_values_are_typed_and_defaults_filled(tmp_path):
    config = load_config(_write(tmp_path, "model: {name: modl, options: {nf: 8}}\ntrain: {lr: 1e-4, epochs: 3}\n"))
    assert config.train.lr == pytest.approx(1e-4) and isinstance(config.train.lr, float)
    assert config.train.epochs == 3 and config.model.options == {"nf": 8}
    assert config.data.size == RunConfig().data.size
    assert config_from_dict(config.to_dict()) == config  # round trip through the saved dict


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: {name: unet}\ntrain: {epochs: ten}\n", r"run.yaml: train.epochs: expected an integer, got 'ten'"),
        ("model: {name: unet}\ntrain: {bf16: 1}\n", r"run.yaml: train.bf16: expected true or false, got 1"),
        ("model: {name: unet}\ntrain: {lrr: 0.1}\n", r"run.yaml: unknown key 'train.lrr' \(expected one of train.epochs"),
        ("model: {name: unet}\nsed: 3\n", r"run.yaml: unknown key 'sed'"),
        ("model: {name: unet}\ndata: 64\n", r"run.yaml: data.: expected a mapping"),
        ("model: {name: unet}\ndata: {size: -4}\n", r"run.yaml: data.size: expected a positive image side, or 0 for the native"),
        ("model: {name: unet}\ndata: {challenge: knee}\n", r"run.yaml: data.challenge: expected singlecoil or multicoil"),
        ("model: {name: unet}\ntrain: {loss: huber}\n", r"run.yaml: train.loss: unknown loss 'huber'"),
        ("model: {name: unet}\ntrain: {optimizer: sgd}\n", r"run.yaml: train.optimizer: expected one of adam, adamw"),
        ("model: {name: unet}\ntrain: {schedule: multistep}\n", r"run.yaml: train.milestones: the multistep"),
        ("model: {}\n", r"run.yaml: model: give exactly one of model.name \(--model\) or model.genotype"),
        ("model: {name: unet}\ntrain: {lr: fast}\n", r"run.yaml: train.lr: expected a number, got 'fast'"),
        ("model: [unet\n", r"run.yaml: not valid YAML"),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(AutoMRIError, match=message):
        load_config(_write(tmp_path, text))


def test_missing_file_names_the_flag(tmp_path):
    with pytest.raises(AutoMRIError, match=r"--config .*nope.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")


def test_flags_override_the_file_and_are_validated():
    base = builtin_config("modl")
    config = apply_overrides(base, {"train.epochs": 2, "data.size": 32, "train.lr": None, "seed": 4})
    assert (config.train.epochs, config.data.size, config.seed) == (2, 32, 4)
    assert config.train.lr == base.train.lr  # None = flag not given
    with pytest.raises(AutoMRIError, match="--batch-size: expected a positive integer, got 0"):
        apply_overrides(base, {"train.batch_size": 0})
    with pytest.raises(AutoMRIError, match="flags: unknown key 'train.nope'"):
        apply_overrides(base, {"train.nope": 1})


def test_every_paper_config_ships_validated_and_is_the_one_copy():
    assert PAPER_MODELS <= set(builtin_config_names())
    assert not (REPO / "configs").exists()  # one copy of the shipped configs: the package's
    for name in PAPER_MODELS:
        packaged = builtin_config(name)
        assert load_config(SHIPPED_CONFIGS / f"{name}.yaml") == packaged
        assert packaged.notes, f"{name}.yaml should say where its hyper-parameters come from"
    cell, rir = builtin_config("cell"), builtin_config("rir")
    assert cell.model.genotype["nodes"][2] == [["sep_conv_5x5", 0], ["std_conv_7x7", 3]]  # FedNAS_V1
    assert (cell.train.optimizer, cell.train.loss, cell.train.milestones, cell.seed) == ("adamw", "mse_mag", [80], 22)
    assert rir.model.genotype["ops"][:3] == ["O6", "O6", "O2"] and rir.train.weight_decay == pytest.approx(1e-7)
    assert builtin_config("modl").model.options["iterations"] == 10
    with pytest.raises(AutoMRIError, match="config 'vit': no built-in configuration"):
        builtin_config("vit")
    assert os.path.isfile(SHIPPED_CONFIGS / "unet.yaml")
