"""Training-time augmentation of the fully sampled image, before k-space is simulated (MRAugment's
recipe, Fabian, Heckel & Soltanolkotabi, ICML 2021: augment the image, then re-simulate the
measurements, so the undersampling artefacts stay physical).

A random rigid-plus-scale transform (flips, rotation, isotropic scaling, translation) is drawn per
sample from a seeded ``numpy.random.Generator`` and applied to complex images ``[..., H, W]`` by
bilinear resampling of their real and imaginary parts (zeros outside the field of view). Coil
images and coil maps of one slice get the same transform, so ``sens * image`` stays consistent.

Spec strings (``data.augment`` in a run configuration): ``"none"``, or ``key=value`` pairs out of
``flip`` (probability of a left-right and, independently, of an up-down flip), ``rotate`` (maximum
angle in degrees), ``scale`` (maximum relative zoom, e.g. ``0.15`` for 0.85-1.15) and ``translate``
(maximum shift as a fraction of the side); a key left out is off. :data:`STANDARD` is the setting
the built-in baselines use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from automri.errors import AutoMRIError

NONE = "none"
STANDARD = "flip=0.5,rotate=180,scale=0.15,translate=0.1"


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random transform (see the module docstring); all zero = identity."""

    flip: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0
    translate: float = 0.0

    def sample(self, rng: np.random.Generator) -> torch.Tensor:
        """One random transform as a ``[2, 3]`` matrix mapping output to input pixel offsets from the
        centre, in units of half the image side per axis (``x`` first, as ``affine_grid`` expects)
        before the aspect correction of :func:`warp`."""
        flips = np.where(rng.random(2) < self.flip, -1.0, 1.0)
        angle = math.radians(rng.uniform(-self.rotate, self.rotate))
        zoom = rng.uniform(1.0 - self.scale, 1.0 + self.scale)
        shift = rng.uniform(-self.translate, self.translate, size=2) * 2.0
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        linear = rotation @ np.diag(flips) / zoom
        return torch.tensor(np.concatenate([linear, shift[:, None]], axis=1), dtype=torch.float32)


def parse_augment(spec: str) -> Augmentation | None:
    """``None`` for ``"none"``, else the :class:`Augmentation` of a ``key=value,...`` spec."""
    if not isinstance(spec, str):
        raise AutoMRIError(f"augment spec {spec!r}: expected a string such as {STANDARD!r} or 'none'")
    if spec.strip().lower() == NONE:
        return None
    values: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, text = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in Augmentation.__dataclass_fields__:
            raise AutoMRIError(
                f"augment spec {spec!r}: {part.strip()!r} is not one of flip=, rotate=, scale=, translate= (or 'none')"
            )
        try:
            values[name] = float(text)
        except ValueError:
            raise AutoMRIError(f"augment spec {spec!r}: {name}={text.strip()!r} is not a number") from None
    if not 0.0 <= values.get("flip", 0.0) <= 1.0:
        raise AutoMRIError(f"augment spec {spec!r}: flip is a probability in [0, 1]")
    if not 0.0 <= values.get("scale", 0.0) < 1.0:
        raise AutoMRIError(f"augment spec {spec!r}: scale must be in [0, 1)")
    if values.get("rotate", 0.0) < 0 or values.get("translate", 0.0) < 0:
        raise AutoMRIError(f"augment spec {spec!r}: rotate and translate must be non-negative")
    return Augmentation(**values)


def warp(image: torch.Tensor, transform: torch.Tensor) -> torch.Tensor:
    """Resample complex ``image`` ``[..., H, W]`` with ``transform`` (from :meth:`Augmentation.sample`).

    The rotation acts on pixels (square pixels), so it is rescaled to ``affine_grid``'s normalised
    coordinates for non-square images. Returns a complex64 tensor of the same shape.
    """
    height, width = image.shape[-2:]
    theta = transform.clone()
    theta[0, 1] *= height / width
    theta[1, 0] *= width / height
    channels = torch.view_as_real(image.to(torch.complex64).reshape(-1, height, width)).permute(0, 3, 1, 2)
    batch = channels.reshape(1, -1, height, width)
    grid = F.affine_grid(theta[None], list(batch.shape), align_corners=False)
    moved = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    moved = moved.reshape(-1, 2, height, width).permute(0, 2, 3, 1).contiguous()
    return torch.view_as_complex(moved).reshape(image.shape)
