"""``automri data list|inspect|show`` through Typer's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from automri.cli import app
from automri.data.datasets import build_dataset

runner = CliRunner()


def test_data_list_json_and_table():
    result = runner.invoke(app, ["data", "list", "--json"])
    assert result.exit_code == 0, result.output
    names = {entry["name"]: entry for entry in json.loads(result.output)}
    assert names["phantom"]["present"] is True and "colin27" in names and "icbm152" in names
    table = runner.invoke(app, ["data", "list"])
    assert table.exit_code == 0 and "phantom" in table.output


def test_data_inspect_json(fastmri_mc, cc359_sc):
    result = runner.invoke(app, ["data", "inspect", str(fastmri_mc.path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["format"] == "fastmri" and info["coils"] == 4 and info["image_shape"] == [16, 16] and info["slices"] == 3
    forced = runner.invoke(app, ["data", "inspect", str(cc359_sc.path), "--format", "cc359", "--json"])
    assert json.loads(forced.output)["volumes"] == 3
    table = runner.invoke(app, ["data", "inspect", str(cc359_sc.path)])
    assert table.exit_code == 0 and "cc359" in table.output


def test_data_inspect_bad_path_is_one_error(tmp_path):
    result = runner.invoke(app, ["data", "inspect", str(tmp_path / "missing.h5")])
    assert result.exit_code != 0
    assert "no such file" in str(result.exception)


def test_data_show_writes_a_png(tmp_path):
    out = tmp_path / "figs" / "phantom.png"
    result = runner.invoke(
        app, ["data", "show", "phantom", "--mask", "equispaced:cf=0.08,acc=4", "--size", "32", "--slice", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.width > 400 and image.height > 100
    bad = runner.invoke(app, ["data", "show", "phantom", "--slice", "9999", "--out", str(out)])
    assert bad.exit_code != 0 and "--slice 9999" in str(bad.exception)


def test_default_mask_spec_and_fixed_mask_file(tmp_path):
    sample = build_dataset("phantom", "train", size=32)[0]
    assert sample.mask.shape == (32, 32) and 0.2 < float(sample.mask.mean()) < 0.35
    assert float(sample.mask[:, 15:17].min()) == 1.0  # fully sampled centre columns
    fixed = (np.random.default_rng(0).random((32, 32)) < 0.4).astype(np.float32)
    np.save(tmp_path / "mask.npy", fixed)
    ds = build_dataset("phantom", "train", size=32, mask=f"file:{tmp_path / 'mask.npy'}")
    assert torch.equal(ds[0].mask, torch.from_numpy(fixed)) and torch.equal(ds[3].mask, ds[0].mask)
