"""A quick look at one sample: target, mask, zero-filled image and its error map (``automri data show``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from automri.atomic import atomic_path
from automri.data.sample import Sample
from automri.physics.operators import zero_filled_image


def preview_path(out: str | Path, dataset: str, slice_index: int) -> Path:
    """Where ``automri data show --out OUT`` writes: ``OUT`` itself, or for an existing folder a file
    inside it named after the dataset and slice (``OUT/phantom-slice0.png``)."""
    out = Path(out)
    if not out.is_dir():
        return out
    name = Path(dataset.rstrip("/\\")).name.split(".")[0] or "dataset"
    return out / f"{name}-slice{slice_index}.png"


def save_preview(sample: Sample, out: str, title: str = "") -> str:
    """Write a 4-panel PNG (target, mask, zero-filled, |zero-filled - target|) to ``out``; returns ``out``.

    The file is written atomically (:mod:`automri.atomic`).
    """

    matplotlib.use("Agg")

    target = sample.target.abs()
    recon = zero_filled_image(sample.kspace, sample.sens).abs()
    error = (recon - target).abs()
    vmax = float(target.max()) or 1.0
    panels = [
        ("target", target, "gray", 0, vmax),
        (f"mask ({float(sample.mask.mean()):.1%} sampled)", sample.mask, "gray", 0, 1),
        ("zero-filled", recon, "gray", 0, vmax),
        ("|error|", error, "inferno", 0, vmax / 4),
    ]
    figure, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    for axis, (name, image, cmap, low, high) in zip(axes, panels):
        axis.imshow(image.numpy(), cmap=cmap, vmin=low, vmax=high)
        axis.set_title(name, fontsize=9)
        axis.axis("off")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    try:
        with atomic_path(out) as temporary:
            figure.savefig(temporary, dpi=100, format="png")
    finally:
        plt.close(figure)
    return out
