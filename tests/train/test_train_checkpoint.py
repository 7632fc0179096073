"""Atomic checkpoints and safe loading."""

from __future__ import annotations

import pytest
import torch

from automri.errors import AutoMRIError
from automri.train import checkpoint as checkpoint_module
from automri.train.checkpoint import load_checkpoint, save_checkpoint


def test_save_load_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": 3, "name": "unet", "best": float("-inf")}
    path = tmp_path / "sub" / "checkpoint-last.pt"
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert loaded["epoch"] == 3 and loaded["name"] == "unet" and loaded["best"] == float("-inf")


def test_crash_during_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint-last.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(100)})
    before = path.read_bytes()

    def crashing_save(obj, handle):
        handle.write(b"partial bytes of a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(100)})
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-last.pt"]  # no temp file left


def test_missing_and_corrupt_checkpoints_name_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(AutoMRIError, match="nope.pt: checkpoint not found"):
        load_checkpoint(missing)
    corrupt = tmp_path / "bad.pt"
    save_checkpoint(corrupt, {"w": torch.ones(1000)})
    corrupt.write_bytes(corrupt.read_bytes()[:200])  # truncated by hand
    with pytest.raises(AutoMRIError, match="bad.pt: not a readable checkpoint"):
        load_checkpoint(corrupt)
    not_a_dict = tmp_path / "list.pt"
    save_checkpoint(not_a_dict, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(AutoMRIError, match="list.pt: expected a checkpoint dict"):
        load_checkpoint(not_a_dict)
