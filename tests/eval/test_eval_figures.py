"""Figures are written atomically as readable, non-empty PNGs; report helpers format Markdown."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from automri.errors import AutoMRIError
from automri.eval.figures import (
    alpha_trajectories,
    curves,
    genotype_diagram_cell,
    genotype_diagram_rir,
    mask_figure,
    reconstruction_panel,
)
from automri.eval.report import format_mean_std, machine_info, markdown_table, write_report

CELL = {
    "space": "cell", "hidden": 16, "cells": 3, "iterations": 5,
    "nodes": [[["sep_conv_3x3", 1], ["sep_conv_5x5", 0]], [["sep_conv_3x3", 1], ["sep_conv_5x5", 2]],
              [["sep_conv_5x5", 0], ["std_conv_7x7", 3]]],
}
RIR = {"space": "rir", "ops": "O5 O8 O8 O8 O8 O8 O4 O1 O2 O8 O8 O8 O6 O8 O8".split(), "width": 32}


def _assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 50
        assert np.asarray(image.convert("L")).std() > 0  # not a blank canvas
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name]  # no temporary file left


def test_reconstruction_panel_and_mask(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.random((32, 32))
    mask = np.zeros((32, 32))
    mask[:, ::4] = 1
    recons = {"zero-filled": target * 0.7, "ours": torch.tensor(target + 0.01, dtype=torch.complex64)}
    _assert_png(reconstruction_panel(target, recons, mask, path=tmp_path / "figs" / "panel.png", title="knee"))
    _assert_png(mask_figure(mask, tmp_path / "mask.png"))


def test_curves_and_alpha_trajectories(tmp_path):
    history = [{"epoch": e, "loss": 1 / (e + 1), "val_psnr": 20 + e if e % 2 else None} for e in range(6)]
    _assert_png(curves(history, ["loss", "val_psnr"], tmp_path / "curves.png"))
    with pytest.raises(AutoMRIError, match="'ssim'"):
        curves(history, ["ssim"], tmp_path / "bad.png")
    rng = np.random.default_rng(1)
    alphas = [rng.standard_normal((6, 8)) for _ in range(5)]
    _assert_png(alpha_trajectories(alphas, [f"op{i}" for i in range(8)], tmp_path / "alpha.png"))
    with pytest.raises(ValueError, match="alpha_history"):
        alpha_trajectories(alphas, ["a", "b"], tmp_path / "bad.png")


def test_genotype_diagrams(tmp_path):
    _assert_png(genotype_diagram_cell(CELL, tmp_path / "cell.png"))
    _assert_png(genotype_diagram_rir(json.loads(json.dumps(RIR)), tmp_path / "rir.png"))
    with pytest.raises(AutoMRIError, match="'space'"):
        genotype_diagram_cell(RIR, tmp_path / "bad.png")
    with pytest.raises(AutoMRIError, match="node 0 takes input 2"):
        genotype_diagram_cell({"space": "cell", "nodes": [[["sep_conv_3x3", 2]]]}, tmp_path / "bad.png")
    with pytest.raises(AutoMRIError, match="cells_per_block"):
        genotype_diagram_rir({"space": "rir", "ops": ["O1"] * 4}, tmp_path / "bad.png")


def test_markdown_helpers_and_report(tmp_path):
    rows = [{"model": "unet", "psnr": 31.23456, "params": 7}, {"model": "a|b", "psnr": None}]
    table = markdown_table(rows, ["model", "psnr", "params"], floatfmt=".2f")
    assert table.splitlines() == [
        "| model | psnr | params |", "|---|---|---|", "| unet | 31.23 | 7 |", "| a\\|b |  |  |",
    ]
    assert format_mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00"
    assert format_mean_std([0.5], fmt=".3f") == "0.500 ± 0.000"
    info = machine_info()
    assert info["cores"] >= 1 and info["torch"] == torch.__version__ and len(info["date"]) == 10
    sections = [("Results", table), ("Machine", str(info["cpu"]))]
    path = write_report(tmp_path / "r" / "report.md", sections, title="Bench")
    text = path.read_text()
    assert text.startswith("# Bench\n") and "## Results\n\n| model |" in text and "## Machine" in text
