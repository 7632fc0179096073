"""Figures for papers and reports, drawn with matplotlib's Agg canvas and saved atomically.

No pyplot state is used (each function builds its own ``Figure``), so the functions are safe in
worker processes and tests. Every function returns the written path (PNG, PDF or SVG by suffix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from automri.atomic import atomic_path
from automri.errors import AutoMRIError
from automri.eval.metrics import ArrayLike, psnr_per_slice, ssim_per_slice, to_magnitude
from automri.nas.diagnostics import separation


def _save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return Path(path)


def _magnitude(image: ArrayLike) -> np.ndarray:
    """``[H, W]`` real magnitude (complex -> abs, singleton dims dropped) as float64 numpy."""
    image = np.squeeze(to_magnitude(image))
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    return image


def reconstruction_panel(
    target: ArrayLike,
    recons: Mapping[str, ArrayLike],
    mask: ArrayLike | None = None,
    *,
    path: str | Path,
    title: str | None = None,
    error_scale: float | None = None,
) -> Path:
    """Target and reconstructions (top row) with their absolute error maps (bottom row).

    Images are magnitudes ``[H, W]`` (complex is turned into ``abs``), all shown on the target's
    grey scale. Each reconstruction panel carries its PSNR / SSIM against the target (per-slice
    convention, data range = target max). Error maps ``|recon - target|`` share one colour scale,
    ``error_scale`` (default: the largest error). The sampling ``mask`` goes under the target.
    """
    if not recons:
        raise ValueError("reconstruction_panel needs at least one reconstruction")
    reference = _magnitude(target)
    images = {name: _magnitude(image) for name, image in recons.items()}
    for name, image in images.items():
        if image.shape != reference.shape:
            raise ValueError(f"reconstruction {name!r} has shape {image.shape}, the target {reference.shape}")
    errors = {name: np.abs(image - reference) for name, image in images.items()}
    vmax_error = error_scale or max(float(e.max()) for e in errors.values()) or 1.0
    columns = 1 + len(images)
    fig = Figure(figsize=(2.6 * columns, 5.4))
    axes = fig.subplots(2, columns, squeeze=False)
    axes[0, 0].imshow(reference, cmap="gray", vmin=0, vmax=reference.max())
    axes[0, 0].set_title("target", fontsize=9)
    if mask is not None:
        mask_np = _magnitude(mask)
        axes[1, 0].imshow(mask_np, cmap="gray", vmin=0, vmax=1)
        axes[1, 0].set_title(f"mask ({mask_np.mean():.1%})", fontsize=9)
    for column, (name, image) in enumerate(images.items(), start=1):
        psnr = psnr_per_slice(reference[None], image[None])[0]
        ssim = ssim_per_slice(reference[None], image[None])[0]
        axes[0, column].imshow(image, cmap="gray", vmin=0, vmax=reference.max())
        axes[0, column].set_title(f"{name}\nPSNR {psnr:.2f} dB  SSIM {ssim:.3f}", fontsize=9)
        shown = axes[1, column].imshow(errors[name], cmap="inferno", vmin=0, vmax=vmax_error)
        axes[1, column].set_title(f"|{name} - target|", fontsize=9)
    fig.colorbar(shown, ax=list(axes[1, 1:]), fraction=0.025, pad=0.02)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
        if not axis.images:
            axis.set_axis_off()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _x_values(history: Sequence[Mapping[str, Any]]) -> tuple[str, list[float]]:
    for key in ("epoch", "round", "step"):
        if all(key in row for row in history):
            return key, [float(row[key]) for row in history]
    return "index", list(range(len(history)))


def curves(
    history: Sequence[Mapping[str, Any]], keys: Sequence[str], path: str | Path, title: str | None = None
) -> Path:
    """One line plot per metric in ``keys`` over ``history`` (e.g. the rows of ``metrics.jsonl``).

    The x axis is ``epoch``, ``round`` or ``step`` (the first present in every row), else the row
    index. Rows without a key (or with ``None``) are skipped for that key.
    """
    if not keys:
        raise ValueError("curves needs at least one key")
    x_name, x_all = _x_values(history)
    fig = Figure(figsize=(4.0 * len(keys), 3.2))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for axis, key in zip(axes, keys, strict=True):
        points = [(x, float(row[key])) for x, row in zip(x_all, history, strict=True) if row.get(key) is not None]
        if not points:
            raise AutoMRIError(f"curves: no row of the history has the key {key!r}")
        xs, ys = zip(*points, strict=True)
        axis.plot(xs, ys, marker="." if len(xs) < 50 else None)
        axis.set_xlabel(x_name)
        axis.set_title(key)
        axis.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def alpha_trajectories(
    alpha_history: Sequence[Any],
    op_names: Sequence[str],
    path: str | Path,
    edge_labels: Sequence[str] | None = None,
    logits: bool = True,
) -> Path:
    """Softmax architecture weights per edge (cell space) or per cell (RIR space) over epochs.

    ``alpha_history``: one ``[E, O]`` array per epoch (``E`` edges or cells, ``O = len(op_names)``
    ops), raw logits (softmaxed here over ops) or probabilities (``logits=False``). One panel per
    edge, one line per op; each panel's title gives the final margin of the chosen op over the
    runner-up (:func:`automri.nas.diagnostics.separation`).
    """
    alphas = np.asarray([np.asarray(a, dtype=np.float64) for a in alpha_history])
    if alphas.ndim != 3 or alphas.shape[2] != len(op_names):
        raise ValueError(f"alpha_history must be epochs x [E, {len(op_names)}], got shape {alphas.shape}")
    if logits:
        shifted = np.exp(alphas - alphas.max(axis=2, keepdims=True))
        alphas = shifted / shifted.sum(axis=2, keepdims=True)
    epochs, edges = alphas.shape[:2]
    labels = list(edge_labels) if edge_labels is not None else [f"edge {e}" for e in range(edges)]
    margins = separation(alphas[-1])["margin"]
    labels = [f"{label} (margin {margin:.3f})" for label, margin in zip(labels, margins, strict=True)]
    columns = min(4, edges)
    rows = math.ceil(edges / columns)
    fig = Figure(figsize=(3.4 * columns, 2.6 * rows + 0.6))
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    for edge, axis in enumerate(axes.flat):
        if edge >= edges:
            axis.set_axis_off()
            continue
        for op, name in enumerate(op_names):
            axis.plot(range(epochs), alphas[:, edge, op], label=name)
        axis.set_title(labels[edge], fontsize=9)
        axis.grid(alpha=0.3)  # y autoscaled (shared): early in a search the weights sit near 1/O
    for axis in axes[-1]:
        axis.set_xlabel("epoch")
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(op_names), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return _save(fig, path)


def _require(genotype: Mapping[str, Any], space: str, key: str) -> Any:
    if genotype.get("space", space) != space:
        raise AutoMRIError(f"genotype: 'space' is {genotype.get('space')!r}, expected {space!r}")
    if key not in genotype:
        raise AutoMRIError(f"genotype: key {key!r} missing (expected a {space}-space genotype)")
    return genotype[key]


def _node_box(axis, xy: tuple[float, float], text: str, colour: str) -> None:
    half_width = max(0.32, 0.045 * len(text))
    axis.add_patch(
        FancyBboxPatch((xy[0] - half_width, xy[1] - 0.2), 2 * half_width, 0.4, boxstyle="round,pad=0.04",
                       fc=colour, ec="black", lw=1, zorder=2)
    )
    axis.text(*xy, text, ha="center", va="center", fontsize=10, zorder=5)


_NODE_STEP = 1.6


def _edge_bend(start: tuple[float, float], end: tuple[float, float]) -> float:
    """``arc3`` bend of an edge: slight for neighbours, strong and away from the centre line for
    edges that skip nodes (so they pass around the nodes in between, not through them)."""
    if abs(end[0] - start[0]) <= _NODE_STEP + 1e-9:
        return 0.1
    return 0.28 if start[1] + end[1] < 0 else -0.28


def genotype_diagram_cell(genotype: Mapping[str, Any], path: str | Path, title: str | None = None) -> Path:
    """DARTS-style drawing of a FedAutoMRI cell genotype.

    ``genotype["nodes"]``: per intermediate node a list of ``[op_name, input_index]`` where inputs
    0 and 1 are the two previous cells ``c_{k-2}``, ``c_{k-1}`` and ``i >= 2`` is intermediate node
    ``i - 2``. The cell output ``c_{k}`` is the sum of the intermediate nodes.
    """
    nodes = _require(genotype, "cell", "nodes")
    count = len(nodes)
    positions = {0: (0.0, 1.0), 1: (0.0, -1.0)}
    for j in range(count):
        positions[j + 2] = (_NODE_STEP * (j + 1), 0.9 if j % 2 == 0 else -0.9)
    output = (_NODE_STEP * (count + 1), 0.0)
    fig = Figure(figsize=(2.2 + 1.9 * count, 4.4))
    axis = fig.subplots()
    for j, edges in enumerate(nodes):
        for op_name, source in edges:
            if not 0 <= int(source) < j + 2:
                raise AutoMRIError(f"genotype: node {j} takes input {source}, expected an index below {j + 2}")
            start, end = positions[int(source)], positions[j + 2]
            rad = _edge_bend(start, end)
            axis.add_patch(
                FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, connectionstyle=f"arc3,rad={rad}",
                                shrinkA=18, shrinkB=18, color="0.3", zorder=3)
            )
            dx, dy = end[0] - start[0], end[1] - start[1]
            mid = ((start[0] + end[0]) / 2 + rad * dy / 2, (start[1] + end[1]) / 2 - rad * dx / 2)
            axis.text(*mid, op_name, fontsize=7, ha="center", va="center", color="darkred",
                      bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 0.5}, zorder=4)
        axis.add_patch(
            FancyArrowPatch(positions[j + 2], output, arrowstyle="-|>", mutation_scale=10, shrinkA=18, shrinkB=30,
                            color="0.6", linestyle="--", zorder=3)
        )
    _node_box(axis, positions[0], "c_{k-2}", "lightgreen")
    _node_box(axis, positions[1], "c_{k-1}", "lightgreen")
    for j in range(count):
        _node_box(axis, positions[j + 2], str(j), "lightblue")
    _node_box(axis, output, "c_{k} (sum)", "khaki")
    axis.set_xlim(-0.6, output[0] + 0.8)
    axis.set_ylim(-2.2, 2.2)
    axis.set_aspect("equal")
    axis.set_axis_off()
    axis.set_title(title or "searched cell", fontsize=11)
    return _save(fig, path)


def genotype_diagram_rir(genotype: Mapping[str, Any], path: str | Path, title: str | None = None) -> Path:
    """The EMR-NAS op strip ``[O5 O8 O8|O8 O8 O8|...]``: one box per cell, grouped into RIR blocks.

    ``genotype["ops"]``: op names (``O1``..``O8``) of all cells; ``genotype["cells_per_block"]``
    (default 3) cells form one residual-in-residual BasicBlock.
    """
    ops = list(_require(genotype, "rir", "ops"))
    per_block = int(genotype.get("cells_per_block", 3))
    if per_block < 1 or len(ops) % per_block:
        raise AutoMRIError(f"genotype: {len(ops)} ops do not split into blocks of cells_per_block={per_block}")
    colours = matplotlib.colormaps["tab10"]
    fig = Figure(figsize=(0.62 * len(ops) + 0.3 * len(ops) // per_block + 0.6, 1.6))
    axis = fig.subplots()
    x = 0.0
    for index, op in enumerate(ops):
        if index and index % per_block == 0:
            axis.axvline(x + 0.1, color="black", lw=2)
            x += 0.3
        digits = "".join(ch for ch in str(op) if ch.isdigit())
        colour = colours((int(digits) - 1) % 10) if digits else "lightgrey"
        axis.add_patch(
            FancyBboxPatch((x + 0.05, 0.1), 0.5, 0.8, boxstyle="round,pad=0.02", fc=colour, ec="black", alpha=0.75)
        )
        axis.text(x + 0.3, 0.5, str(op), ha="center", va="center", fontsize=9)
        x += 0.6
    axis.set_xlim(-0.1, x + 0.1)
    axis.set_ylim(0, 1)
    axis.set_axis_off()
    blocks = [" ".join(ops[i : i + per_block]) for i in range(0, len(ops), per_block)]
    axis.set_title(title or "[" + "|".join(blocks) + "]", fontsize=10)
    return _save(fig, path)


def mask_figure(mask: ArrayLike, path: str | Path, title: str | None = None) -> Path:
    """A sampling mask ``[H, W]`` (0/1, centred layout) and its column profile, with the sampling rate."""
    mask_np = _magnitude(mask)
    fig = Figure(figsize=(7.0, 3.4))
    image_axis, profile_axis = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    image_axis.imshow(mask_np, cmap="gray", vmin=0, vmax=1)
    image_axis.set_xticks([])
    image_axis.set_yticks([])
    image_axis.set_title(f"rate {mask_np.mean():.3f} ({1 / max(mask_np.mean(), 1e-12):.2f}x)", fontsize=9)
    profile_axis.bar(np.arange(mask_np.shape[1]), mask_np.mean(axis=0), width=1.0, color="steelblue")
    profile_axis.set_xlabel("column (k_x)")
    profile_axis.set_ylabel("fraction sampled")
    profile_axis.set_ylim(0, 1.05)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
