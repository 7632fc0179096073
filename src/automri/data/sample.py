"""The one sample type every reader, dataset, model and metric agrees on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from automri.errors import AutoMRIError


@dataclass
class Sample:
    """One undersampled slice, normalised.

    Attributes:
        kspace: masked k-space, centred convention, complex64 ``[H, W]`` (single-coil) or
            ``[C, H, W]`` (multi-coil). Already multiplied by ``mask``.
        mask: 0/1 float32 ``[H, W]`` sampling pattern in centred layout (shared by all coils).
        target: fully sampled reference image, complex64 ``[H, W]``. For magnitude-only
            references (e.g. fastMRI RSS) the imaginary part is zero.
        sens: coil sensitivity maps, complex64 ``[C, H, W]``, or ``None`` for single-coil data.
        scale: the factor that ``kspace`` and ``target`` were both divided by (from the
            zero-filled image), so ``target * scale`` is in the units of the source file.
        meta: ``dataset``, ``volume`` (an id, unique per subject/volume), ``slice`` (int),
            ``source`` (file path or built-in name) and anything else a reader knows.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor
    sens: torch.Tensor | None = None
    scale: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Batch:
    """Samples stacked along a new leading batch dimension ``B``.

    ``kspace`` complex64 ``[B, H, W]`` or ``[B, C, H, W]``; ``mask`` float32 ``[B, H, W]``;
    ``target`` complex64 ``[B, H, W]``; ``sens`` complex64 ``[B, C, H, W]`` or ``None``;
    ``scale`` float32 ``[B]``; ``meta`` a list of ``B`` dicts.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor
    sens: torch.Tensor | None
    scale: torch.Tensor
    meta: list[dict[str, Any]]

    def to(self, device: torch.device | str) -> "Batch":
        """Move every tensor to ``device`` (non-blocking where possible)."""
        return Batch(
            kspace=self.kspace.to(device),
            mask=self.mask.to(device),
            target=self.target.to(device),
            sens=None if self.sens is None else self.sens.to(device),
            scale=self.scale.to(device),
            meta=self.meta,
        )

    def __len__(self) -> int:
        return self.kspace.shape[0]


def collate(samples: list[Sample]) -> Batch:
    """``DataLoader`` collate function: stack a list of :class:`Sample` into a :class:`Batch`."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    has_sens = [s.sens is not None for s in samples]
    if any(has_sens) and not all(has_sens):
        raise ValueError("cannot batch single-coil and multi-coil samples together")
    shapes = {tuple(s.target.shape[-2:]) for s in samples}
    if len(shapes) > 1:
        volumes = sorted({str(s.meta.get("volume", "?")) for s in samples})
        raise AutoMRIError(
            f"cannot batch slices of different sizes {sorted(shapes)} (volumes {', '.join(volumes[:4])}): "
            "native-size data (--size 0) of several image sizes needs --batch-size 1, or resample with --size N"
        )
    return Batch(
        kspace=torch.stack([s.kspace for s in samples]),
        mask=torch.stack([s.mask for s in samples]),
        target=torch.stack([s.target for s in samples]),
        sens=torch.stack([s.sens for s in samples]) if all(has_sens) else None,
        scale=torch.tensor([float(s.scale) for s in samples], dtype=torch.float32),
        meta=[dict(s.meta) for s in samples],
    )
