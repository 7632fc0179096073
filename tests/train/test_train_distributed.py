"""Data parallel on CPU with gloo: ``torchrun --nproc_per_node 2 -m automri train|search`` ends with the
same weights as one process with the same global batch (atol 1e-5), and only rank 0 writes the run.

The two-process runs start real torchrun launchers (``python -m torch.distributed.run --standalone``)
in a subprocess; the one-process references run in-process through the same entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import run_cli

import automri
from automri.train import distributed

pytestmark = pytest.mark.usefixtures("single_thread")

SRC = Path(automri.__file__).resolve().parents[1]
ATOL = 1e-5
LR = 1e-6
"""Adam normalises every update to about ``lr``: an element whose gradient is at rounding level
(|g| ~ eps) moves by up to +-lr in either order of summation, so one process and two processes differ
by at most ``2 * lr * steps`` there (and by float rounding elsewhere). With ``lr = 1e-6`` and at most
4 steps that bound is 8e-6, inside ``ATOL``; at lr 1e-3 the same runs differ by ~1e-3 on some 10% of
the elements, in one process too when a batch's gradient is summed as two halves."""
DATA = ["--dataset", "phantom", "--size", "16", "--mask", "random:rate=0.4,center=0.1", "--device", "cpu",
        "--seed", "1"]
COMMANDS = {
    "train": ["train", "--model", "dccnn", *DATA, "--epochs", "1", "--steps", "3", "--batch-size", "4",
              "--val-slices", "2", "--lr", str(LR)],
    "search-cell": ["search", "--space", "cell", *DATA, "--epochs", "1", "--steps", "2", "--batch-size", "4",
                    "--hidden", "4", "--cells", "1", "--iterations", "1", "--lr", str(LR), "--arch-lr", str(LR)],
    "search-rir": ["search", "--space", "rir", *DATA, "--epochs", "1", "--warmup-epochs", "1", "--steps", "2",
                   "--batch-size", "4", "--width", "4", "--folds", "1", "--lr", str(LR), "--arch-lr", str(LR)],
}
CHECKPOINT = {"train": "checkpoint-last.pt", "search-cell": "checkpoint-last.pt",
              "search-rir": "fold-0/search/checkpoint-last.pt"}


def torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "FLWR_TELEMETRY_ENABLED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "automri",
         *args], check=False, capture_output=True, text=True, env=env, timeout=240)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_two_processes_match_one_process_with_the_same_global_batch(name, tmp_path, monkeypatch, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    code, _, err = run_cli(monkeypatch, capsys, *COMMANDS[name], "--out", str(one), "--json")
    assert code == 0, err
    result = torchrun([*COMMANDS[name], "--out", str(two), "--json"])
    assert result.returncode == 0, result.stderr[-3000:]
    reference, parallel = weights(one / CHECKPOINT[name]), weights(two / CHECKPOINT[name])
    assert reference.keys() == parallel.keys()
    for key in reference:
        torch.testing.assert_close(parallel[key], reference[key], atol=ATOL, rtol=0, msg=key)
    # rank 0 alone wrote the run (one metrics record per epoch, not one per rank) and printed once;
    # the logged step metrics are the global batch's (averaged over the ranks)
    logs = [[json.loads(line) for line in (run / CHECKPOINT[name]).parent.joinpath("metrics.jsonl").read_text()
             .splitlines()] for run in (one, two)]
    assert len(logs[0]) == len(logs[1]) >= 1
    for single, double in zip(*logs):
        assert double["train_loss"] == pytest.approx(single["train_loss"], rel=1e-4)
    json.loads(result.stdout)  # one JSON document: only rank 0 printed


def test_global_batch_must_split_evenly_over_the_processes(tmp_path):
    result = torchrun([*COMMANDS["train"], "--batch-size", "3", "--out", str(tmp_path / "odd")])
    assert result.returncode != 0
    assert "--batch-size 3: with 2 processes it must be a multiple of 2" in result.stderr


def test_single_process_is_a_no_op(monkeypatch):
    for name in distributed.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched() and distributed.init_from_env("cpu") == "cpu"
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert distributed.shard([5, 3, 1]) == [5, 3, 1]
    distributed.check_batch(3)
    assert distributed.rank_out("runs/x") == Path("runs/x")
