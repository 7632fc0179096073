"""k-space simulation for magnitude-only images: smooth phase, coil maps, complex Gaussian noise.

Real scanner images are complex with a slowly varying phase (B0, coil and receive-chain phase)
and are seen through several coils; magnitude files (NIfTI, DICOM, PNG) lost both. This module
puts them back, deterministically from a ``numpy.random.Generator``:

- :func:`smooth_phase`: a random low-order Legendre polynomial in ``(y, x)`` (degree <= 3),
  scaled so that its largest absolute value is ``max_phase`` radians. Smooth by construction and
  independent of the image size (the same generator state gives the same field at any resolution).
- :func:`coil_maps`: ``C`` receive coils evenly spread on a circle around the field of view (seeded
  rotation and radius jitter), each with a Gaussian magnitude fall-off and a birdcage-like phase
  (the angle seen from the coil), normalised so that ``sum_c |S_c|^2 = 1`` at every pixel; the
  SENSE combination ``sum_c conj(S_c) S_c x`` then returns ``x`` exactly.
- :func:`add_noise`: complex white Gaussian noise with standard deviation ``level * rms(kspace)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.polynomial import legendre

from automri.physics.fft import fft2c

PHASE_DEGREE = 3


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in ``[-1, 1]``: ``(y [H, 1], x [1, W])``."""
    height, width = shape
    y = (np.arange(height) + 0.5) / height * 2 - 1
    x = (np.arange(width) + 0.5) / width * 2 - 1
    return y[:, None], x[None, :]


def smooth_phase(shape: tuple[int, int], rng: np.random.Generator, max_phase: float = math.pi) -> torch.Tensor:
    """Random smooth phase map, float32 ``[H, W]`` in radians with ``max |phase| = max_phase``.

    Coefficients of ``P_i(y) P_j(x)`` (``i + j <= 3``, Legendre ``P``) are normal with standard
    deviation ``1 / (1 + i + j)`` so low orders dominate.
    """
    y, x = _grid(shape)
    phase = np.zeros(shape)
    for i in range(PHASE_DEGREE + 1):
        for j in range(PHASE_DEGREE + 1 - i):
            coefficient = rng.normal() / (1 + i + j)
            phase = phase + coefficient * legendre.legval(y, [0] * i + [1]) * legendre.legval(x, [0] * j + [1])
    peak = np.abs(phase).max()
    if peak > 0:
        phase = phase * (max_phase / peak)
    return torch.from_numpy(phase.astype(np.float32))


def coil_maps(shape: tuple[int, int], num_coils: int, rng: np.random.Generator, width: float = 0.7) -> torch.Tensor:
    """Random smooth coil sensitivity maps, complex64 ``[C, H, W]`` with ``sum_c |S_c|^2 = 1``.

    Coil ``c`` sits at angle ``theta_0 + 2 pi c / C`` (``theta_0`` uniform, ``+-0.1`` rad jitter) on
    a circle of radius ``1.2 +- 0.1`` (field of view ``[-1, 1]^2``); its magnitude is
    ``exp(-d^2 / (2 width^2))`` with ``d`` the distance to the coil, its phase the direction from
    the coil to the pixel plus a random offset.
    """
    if num_coils < 1:
        raise ValueError(f"num_coils must be >= 1, got {num_coils}")
    y, x = _grid(shape)
    theta0 = rng.uniform(0, 2 * np.pi)
    maps = []
    for c in range(num_coils):
        theta = theta0 + 2 * np.pi * c / num_coils + rng.uniform(-0.1, 0.1)
        radius = 1.2 + rng.uniform(-0.1, 0.1)
        cy, cx = radius * np.sin(theta), radius * np.cos(theta)
        dy, dx = y - cy, x - cx
        magnitude = np.exp(-(dy**2 + dx**2) / (2 * width**2))
        phase = np.arctan2(dy, dx) + rng.uniform(-np.pi, np.pi)
        maps.append(magnitude * np.exp(1j * phase))
    stacked = np.stack(maps)
    stacked = stacked / np.sqrt((np.abs(stacked) ** 2).sum(axis=0, keepdims=True))
    return torch.from_numpy(stacked.astype(np.complex64))


def add_noise(kspace: torch.Tensor, level: float, rng: np.random.Generator) -> torch.Tensor:
    """``kspace`` plus complex white Gaussian noise with ``E|n|^2 = (level * rms(kspace))^2``.

    ``kspace``: complex ``[..., H, W]``; ``level = 0`` returns it unchanged.
    """
    if level <= 0:
        return kspace
    sigma = level * float(kspace.abs().pow(2).mean().sqrt())
    noise = rng.normal(scale=sigma / math.sqrt(2), size=(2, *kspace.shape)).astype(np.float32)
    return kspace + torch.complex(torch.from_numpy(noise[0]), torch.from_numpy(noise[1]))


def magnitude_to_complex(magnitude: torch.Tensor, rng: np.random.Generator, max_phase: float = math.pi) -> torch.Tensor:
    """Real image ``[H, W]`` -> complex64 ``[H, W]`` with a :func:`smooth_phase` (none if ``max_phase = 0``)."""
    image = magnitude.to(torch.complex64)
    if max_phase <= 0:
        return image
    return image * torch.polar(torch.ones_like(magnitude, dtype=torch.float32), smooth_phase(tuple(magnitude.shape), rng, max_phase))


def simulate_kspace(
    image: torch.Tensor, sens: torch.Tensor | None = None, noise: float = 0.0, rng: np.random.Generator | None = None
) -> torch.Tensor:
    """Fully sampled centred k-space of a complex image ``[H, W]``: ``fft2c(sens * image)`` + noise.

    Returns complex64 ``[H, W]`` (no ``sens``) or ``[C, H, W]``. ``rng`` is required when ``noise > 0``.
    """
    coil_images = image if sens is None else sens * image
    kspace = fft2c(coil_images)
    if noise > 0:
        if rng is None:
            raise ValueError("simulate_kspace: noise > 0 needs a numpy Generator")
        kspace = add_noise(kspace, noise, rng)
    return kspace
