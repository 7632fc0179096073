"""Issue 16 examples for ``automri train`` and run directories: bad flags refused by name before
anything is allocated; a failed start never blocks the retry; checkpoints keep a previous generation."""

from __future__ import annotations

import json
import os

import pytest
import torch
from cli_helpers import one_error_line, run_cli

from automri.atomic import atomic_path
from automri.errors import AutoMRIError
from automri.train.checkpoint import load_checkpoint, previous_generation, save_checkpoint
from automri.train.runs import RunDir, require_resumable

DEAD_PID = 4_194_305  # above Linux's largest pid_max: never a live process
GENOTYPE = {"space": "cell", "cells": 1, "iterations": 1,
            "nodes": [[["sep_conv_3x3", 1], ["sep_conv_5x5", 0]], [["sep_conv_3x3", 1], ["sep_conv_5x5", 2]],
                      [["sep_conv_5x5", 0], ["std_conv_7x7", 3]]]}


def _train_error(monkeypatch, capsys, tmp_path, *flags):
    code, _, err = run_cli(monkeypatch, capsys, "train", "--out", str(tmp_path / "run"), *flags)
    assert code == 2
    return one_error_line(err)


@pytest.mark.parametrize("flags,message", [
    (("--model", "unet", "--lr", "inf"), "Invalid value for '--lr': 'inf' is not a finite number"),
    (("--model", "unet", "--phase", "nan"), "Invalid value for '--phase': 'nan' is not a finite number"),
    (("--model", "unet", "--lr", "-1"), "--lr: expected a positive learning rate, got -1.0"),
    (("--model", "unet", "--size", "7"), "--size 7: too small for unet (expected at least 32"),
    (("--model", "unet", "--size", "200000"), "--size 200000: images of 200000x200000 in batches of 8 would need"),
])
def test_bad_numeric_flags_name_the_flag_value_and_expectation(tmp_path, monkeypatch, capsys, flags, message):
    assert message in _train_error(monkeypatch, capsys, tmp_path, *flags)
    assert not (tmp_path / "run").exists()  # refused before the run directory is created


def test_genotype_with_a_huge_width_is_refused_naming_the_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({**GENOTYPE, "hidden": 10**9}))
    line = _train_error(monkeypatch, capsys, tmp_path, "--genotype", str(path), "--size", "16")
    assert "huge.json" in line
    path.write_text(json.dumps({**GENOTYPE, "hidden": 10**5}))
    line = _train_error(monkeypatch, capsys, tmp_path, "--genotype", str(path), "--size", "16")
    assert f"genotype {path}" in line and "parameters" in line and "memory cap" in line


def test_non_finite_config_values_name_the_file_and_key(tmp_path, monkeypatch, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("model: {name: unet}\ntrain: {lr: .inf}\n")
    assert "run.yaml: train.lr: expected a finite number, got inf" in _train_error(monkeypatch, capsys, tmp_path, "--config", str(config))


def test_non_finite_flags_of_every_command_are_refused(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "fed", "search", "--lr", "nan", "--out", str(tmp_path / "f"))
    assert code == 2 and "Invalid value for '--lr': 'nan' is not a finite number" in one_error_line(err)


def test_yaml_errors_are_one_line_naming_file_and_line(tmp_path, monkeypatch, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  name: unet\n train: [1\n")
    line = _train_error(monkeypatch, capsys, tmp_path, "--config", str(config))
    assert "bad.yaml: not valid YAML at line 3, column 2" in line


def test_a_run_that_failed_before_its_first_step_does_not_block_the_retry(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    flags = ("--model", "zero_filled", "--size", "16", "--val-slices", "2", "--json")
    code, _, err = run_cli(monkeypatch, capsys, "train", "--out", str(out), *flags, "--dataset", str(tmp_path / "absent"))
    assert code == 2 and "absent': not a built-in dataset" in one_error_line(err)
    assert (out / "config.yaml").is_file()  # what the failed run left behind
    code, stdout, err = run_cli(monkeypatch, capsys, "train", "--out", str(out), *flags, "--dataset", "phantom")
    assert code == 0, err
    assert json.loads(stdout)["model"] == "zero_filled"


def test_resume_without_checkpoint_last_is_an_error(tmp_path, monkeypatch, capsys):
    run = RunDir(tmp_path / "run")
    run.write_config({"model": {"name": "unet"}})
    line = _train_error(monkeypatch, capsys, tmp_path, "--resume", "--epochs", "1")
    assert "--resume:" in line and "has no checkpoint-last.pt" in line
    with pytest.raises(AutoMRIError, match="does not exist"):
        require_resumable(tmp_path / "missing")


def test_stale_temporaries_of_a_killed_save_are_removed_at_start(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_config({"model": "unet"})
    save_checkpoint(run.checkpoint_last, {"step": 1})
    stale = run.path / f".checkpoint-last.{DEAD_PID}.0badc0de.tmp.pt"
    stale.write_bytes(b"half a checkpoint")
    live = run.path / f".checkpoint-best.{os.getppid()}.0badc0de.tmp.pt"  # a live writer's file is kept
    live.write_bytes(b"being written")
    keep = run.path / "notes.tmp.txt"
    keep.write_text("not ours")
    RunDir(run.path, resume=True)
    assert not stale.exists() and keep.exists() and live.exists() and run.checkpoint_last.is_file()


def test_checkpoints_keep_the_previous_generation_and_fall_back_to_it(tmp_path, capsys):
    path = tmp_path / "checkpoint-best.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    assert not previous_generation(path).exists()
    save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    assert previous_generation(path).name == "checkpoint-best.prev.pt"
    assert load_checkpoint(path)["step"] == 2
    path.write_bytes(path.read_bytes()[:50])  # the newest is damaged
    capsys.readouterr()
    assert load_checkpoint(path)["step"] == 1
    assert "using the previous generation" in capsys.readouterr().err
    previous_generation(path).write_bytes(b"junk")
    with pytest.raises(AutoMRIError, match="checkpoint-best.pt: not a readable checkpoint"):
        load_checkpoint(path)


def test_resume_restores_checkpoint_last_lost_between_the_renames(tmp_path):
    run = RunDir(tmp_path / "run")
    save_checkpoint(run.checkpoint_last, {"step": 1})
    save_checkpoint(run.checkpoint_last, {"step": 2})
    run.checkpoint_last.unlink()  # killed after moving the old generation away, before the new one landed
    RunDir(run.path, resume=True)
    assert load_checkpoint(run.checkpoint_last)["step"] == 1


def test_a_temporary_left_by_atomic_path_matches_what_is_cleaned(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "checkpoint-last.pt") as temporary:
        raise RuntimeError("killed")
    left = temporary.with_name(temporary.name.replace(f".{os.getpid()}.", f".{DEAD_PID}."))
    left.write_bytes(b"x")  # as if a process that died had left it
    RunDir(tmp_path, resume=True)
    assert not left.exists()


def test_profile_refuses_a_size_too_small_for_the_network(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "profile", "--model", "unet", "--size", "8", "--repeats", "1", "--no-memory")
    assert code == 2 and "--size 8: too small for unet (expected at least 32" in one_error_line(err)


def test_a_folder_holding_a_users_own_config_is_never_cleared(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.yaml").write_text("model: {name: unet}\n")
    with pytest.raises(AutoMRIError, match="directory is not empty"):
        RunDir(folder)
    assert (folder / "config.yaml").read_text() == "model: {name: unet}\n"
