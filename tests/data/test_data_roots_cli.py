"""``automri train|search|evaluate`` on a fastMRI-layout root: ``--challenge``, ``--size 0`` (native)
and fastMRI's mask flags, end to end on tiny files (1 epoch, 1 step)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import yaml
from cli_helpers import one_error_line, run_cli

from automri.cli.dataset_flags import mask_from_flags
from automri.data.datasets import build_dataset, stable_seed
from automri.physics.masks import build_mask

pytestmark = pytest.mark.usefixtures("single_thread")

RECIPE = {"model": {"name": "dccnn", "options": {"nf": 4, "n_cascades": 1, "n_convs": 2}},
          "data": {"dataset": "phantom", "size": 32, "mask": "random:rate=0.5,center=0.1"},
          "train": {"epochs": 1, "batch_size": 2}, "device": "cpu"}
FASTMRI_FLAGS = ["--mask-type", "random", "--center-fractions", "0.25,0.125", "--accelerations", "2,4"]
SPEC = "fastmri-random:cf=0.25/0.125,acc=2/4"


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "dccnn.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return path


def test_train_evaluate_predict_score_a_roots_folder_at_native_size(fastmri_roots, recipe, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, stdout, stderr = run_cli(
        monkeypatch, capsys, "train", "--config", str(recipe), "--dataset", str(fastmri_roots.path),
        "--challenge", "singlecoil", "--size", "0", *FASTMRI_FLAGS, "--epochs", "1", "--steps", "1",
        "--out", str(run), "--json")
    assert code == 0, stderr
    data = yaml.safe_load((run / "config.yaml").read_text())["data"]
    assert (data["size"], data["challenge"], data["mask"]) == (None, "singlecoil", SPEC)
    assert json.loads(stdout)["val"]["slice_summary"]["psnr"]["n"] == 2  # singlecoil_val read whole
    code, stdout, stderr = run_cli(monkeypatch, capsys, "evaluate", str(run), "--split", "test", "--device", "cpu",
                                   "--panels", "0", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert len(result["slices"]) == 3 and sorted(result["volumes"]) == ["filetest0", "filetest1"]
    # predictions at the reconSpace crop, scored against the files' own reconstruction_esc as fastMRI does
    recons = tmp_path / "recons"
    code, _, stderr = run_cli(monkeypatch, capsys, "predict", "--checkpoint", str(run), "--split", "test",
                              "--out", str(recons), "--json")
    assert code == 0, stderr
    with h5py.File(recons / "filetest0.h5") as handle:
        assert handle["reconstruction"].shape == (2, 16, 16) and handle.attrs["automri_size"] == 0
    code, stdout, stderr = run_cli(monkeypatch, capsys, "score", "--targets", str(fastmri_roots.path / "singlecoil_test"),
                                   "--predictions", str(recons), "--json")
    assert code == 0, stderr
    scored = json.loads(stdout)
    assert set(scored["keys"].values()) == {"reconstruction_esc"}
    assert scored["summary"]["psnr"]["mean"] == pytest.approx(result["volume_summary"]["psnr"]["mean"], abs=1e-3)


def _fastmri_random_mask_func(width, center_fractions, accelerations, seed):
    """fastMRI's RandomMaskFunc for ``seed``, restated: one (cf, acc) pair drawn, then the columns."""
    rng = np.random.RandomState(seed)
    choice = rng.randint(0, len(accelerations))
    num_low = round(width * center_fractions[choice])
    columns = rng.uniform(size=width) < (width / accelerations[choice] - num_low) / (width - num_low)
    pad = (width - num_low + 1) // 2
    columns[pad : pad + num_low] = True
    return columns


def test_the_mask_flags_give_fastmris_mask_per_slice(fastmri_roots):
    """The flags' spec draws one (cf, acc) pair per slice from the slice's seed, as fastMRI's MaskFunc."""
    spec = mask_from_flags(None, "random", "0.25,0.125", "2,4")
    assert spec == SPEC == build_mask(SPEC).name
    dataset = build_dataset(str(fastmri_roots.path), "train", size=None, challenge="singlecoil", mask=spec, seed=3)
    seeds = [stable_seed(3, volume, index, "mask") for volume, index in dataset.items]
    assert {np.random.RandomState(seed).randint(0, 2) for seed in seeds} == {0, 1}  # both pairs occur
    for position, (volume, index) in enumerate(dataset.items):
        expected = _fastmri_random_mask_func(16, [0.25, 0.125], [2, 4], stable_seed(3, volume, index, "mask"))
        np.testing.assert_array_equal(dataset[position].mask.numpy(), np.broadcast_to(expected, (16, 16)))


def test_mask_and_mask_type_together_is_one_error(recipe, tmp_path, monkeypatch, capsys):
    for command in (["train", "--config", str(recipe)], ["search", "--space", "cell"]):
        code, _, err = run_cli(monkeypatch, capsys, *command, "--mask", "random:rate=0.3", "--mask-type", "random",
                               "--accelerations", "4", "--out", str(tmp_path / "x"))
        assert code != 0
        assert "--mask and --mask-type/--accelerations: give only one" in one_error_line(err)


def test_challenge_ambiguity_and_bad_values_name_the_flag(fastmri_roots, recipe, tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", str(recipe), "--dataset", str(fastmri_roots.path),
                           "--size", "0", "--out", str(tmp_path / "a"))
    assert code != 0 and "--challenge singlecoil or --challenge multicoil" in one_error_line(err)
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", str(recipe), "--challenge", "knee",
                           "--out", str(tmp_path / "b"))
    assert code != 0 and "--challenge: expected singlecoil or multicoil" in one_error_line(err)
    code, _, err = run_cli(monkeypatch, capsys, "search", "--challenge", "knee", "--out", str(tmp_path / "c"))
    assert code != 0 and "--challenge 'knee': expected one of singlecoil, multicoil" in one_error_line(err)
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", str(recipe), "--mask-type", "random",
                           "--center-fractions", "0.08,x", "--out", str(tmp_path / "d"))
    assert code != 0 and "--center-fractions '0.08,x': expected comma-separated numbers" in one_error_line(err)


def test_search_a_roots_folder_at_native_size(fastmri_roots, tmp_path, monkeypatch, capsys):
    out = tmp_path / "search"
    code, stdout, stderr = run_cli(
        monkeypatch, capsys, "search", "--space", "cell", "--dataset", str(fastmri_roots.path), "--challenge",
        "singlecoil", "--size", "0", *FASTMRI_FLAGS, "--epochs", "1", "--steps", "1", "--batch-size", "1",
        "--hidden", "4", "--cells", "1", "--iterations", "1", "--device", "cpu", "--out", str(out), "--json")
    assert code == 0, stderr
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert (config["size"], config["challenge"], config["mask"]) == (None, "singlecoil", SPEC)
    assert json.loads(stdout)["params"] > 0
