"""Numerical brain-like phantom subjects: always available, no files, no extra dependency.

Each volume is one random "subject" built from 3D ellipsoids, Shepp-Logan style: a bright skull
shell, a brain of medium intensity, and 8 to 12 inner ellipsoids (ventricles, nuclei, lesions) of
random position, size, orientation and intensity, plus a smooth multiplicative texture. Slice
``k`` is the cross-section at height ``z_k`` in ``[-0.8, 0.8]``, so neighbouring slices are
correlated like real anatomy and subjects differ in shape. Everything is derived from
``(seed, volume index, slice index)``, so the same source always yields the same images.
"""

from __future__ import annotations

import numpy as np
import torch

from automri.data.source import SliceData, check_index

TEXTURE_STRENGTH = 0.15


def _ellipse(y: np.ndarray, x: np.ndarray, centre: tuple[float, float], axes: tuple[float, float], angle: float) -> np.ndarray:
    """Boolean ``[H, W]`` inside of a rotated ellipse (coordinates in ``[-1, 1]``)."""
    cos, sin = np.cos(angle), np.sin(angle)
    dy, dx = y - centre[0], x - centre[1]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    return (u / axes[1]) ** 2 + (v / axes[0]) ** 2 <= 1.0


def random_subject(rng: np.random.Generator) -> dict[str, np.ndarray | float]:
    """Random ellipsoid parameters of one subject."""
    count = int(rng.integers(8, 13))
    return {
        "head": np.array([rng.uniform(0.78, 0.9), rng.uniform(0.62, 0.75)]),
        "skull": rng.uniform(0.05, 0.08),
        "brain": rng.uniform(0.35, 0.5),
        "centres": np.column_stack([rng.uniform(-0.45, 0.45, count), rng.uniform(-0.35, 0.35, count), rng.uniform(-0.5, 0.5, count)]),
        "axes": np.column_stack([rng.uniform(0.05, 0.3, count), rng.uniform(0.05, 0.25, count), rng.uniform(0.15, 0.5, count)]),
        "angles": rng.uniform(0, np.pi, count),
        "values": rng.choice([-1, 1], count) * rng.uniform(0.1, 0.45, count),
    }


def _texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Smooth random field in about ``[-1, 1]``: white noise low-passed by a Gaussian in k-space."""
    noise = rng.normal(size=shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    smooth = np.fft.ifft2(np.fft.fft2(noise) * np.exp(-(fy**2 + fx**2) / (2 * 0.04**2))).real
    return smooth / (np.abs(smooth).max() + 1e-12)


def render_slice(subject: dict, z: float, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Cross-section of ``subject`` at height ``z`` in ``[-1, 1]``: float32 ``[H, W]`` in about ``[0, 1]``."""
    y = ((np.arange(shape[0]) + 0.5) / shape[0] * 2 - 1)[:, None]
    x = ((np.arange(shape[1]) + 0.5) / shape[1] * 2 - 1)[None, :]
    shrink = np.sqrt(max(1.0 - z**2, 0.0))
    head_axes = subject["head"] * shrink
    skull = float(subject["skull"])
    brain = _ellipse(y, x, (0.0, 0.0), tuple(np.maximum(head_axes - skull, 1e-3)), 0.0)
    image = np.zeros(shape)
    image[_ellipse(y, x, (0.0, 0.0), tuple(head_axes), 0.0)] = 0.9
    image[brain] = float(subject["brain"])
    for centre, axes, angle, value in zip(subject["centres"], subject["axes"], subject["angles"], subject["values"]):
        height = 1.0 - ((z - centre[2]) / axes[2]) ** 2
        if height <= 0:
            continue
        inside = _ellipse(y, x, (centre[0] * shrink, centre[1] * shrink), tuple(axes[:2] * np.sqrt(height) * shrink), angle)
        image[inside & brain] += value
    image = np.clip(image, 0.0, None) * (1.0 + TEXTURE_STRENGTH * _texture(shape, rng))
    return image.astype(np.float32)


class PhantomSource:
    """Built-in ``phantom``: ``num_volumes`` random subjects of ``slices`` magnitude slices each.

    Args:
        num_volumes: number of subjects (volume ids ``phantom-00``, ``phantom-01``, ...).
        slices: slices per subject.
        shape: rendered image size ``(H, W)`` (resized to the dataset size later).
        seed: anatomy seed (independent of the mask/phase seed of the dataset).
    """

    format = "phantom"

    def __init__(self, num_volumes: int = 6, slices: int = 24, shape: tuple[int, int] = (128, 128), seed: int = 1234) -> None:
        self.name = "phantom"
        self.path = "phantom"
        self.num_volumes, self.slices, self.shape, self.seed = num_volumes, slices, tuple(shape), seed

    def volumes(self) -> list[str]:
        return [f"phantom-{v:02d}" for v in range(self.num_volumes)]

    def num_slices(self, volume: str) -> int:
        return self.slices

    def load_slice(self, volume: str, index: int) -> SliceData:
        check_index(self, volume, index)
        number = self.volumes().index(volume)
        subject = random_subject(np.random.default_rng([self.seed, number]))
        z = -0.8 + 1.6 * (index + 0.5) / self.slices
        image = render_slice(subject, z, self.shape, np.random.default_rng([self.seed, number, index]))
        return SliceData(image=torch.from_numpy(image), magnitude=True, meta={"volume": volume, "slice": index})

    def info(self) -> dict[str, object]:
        return {"dtype": "float32", "stored_shape": [self.num_volumes, self.slices, *self.shape], "kind": "numerical phantom"}
