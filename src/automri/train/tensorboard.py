"""Optional TensorBoard logs (``--tensorboard DIR``; needs ``pip install 'automri[tensorboard]'``).

What a run writes, one step per epoch (central training and searches) or per round (federated):
scalars (every numeric entry of the epoch's ``metrics.jsonl`` record), the magnitudes of the first
validation slice (target, zero-filled input, reconstruction; each scaled to the target's maximum)
and, for search networks, histograms of the architecture logits ``alpha`` and of their softmax.
``torch.utils.tensorboard`` is the one optional import done late (``tests/test_layers.py``).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from automri.errors import AutoMRIError
from automri.models.common import zero_filled
from automri.train.evaluate import in_source_units, predict
from automri.train.seed import capture_rng_state, restore_rng_state

MISSING = "--tensorboard: TensorBoard is not installed (pip install 'automri[tensorboard]')"
ALPHA_NAMES = ("alpha", "alphas")


def require_tensorboard() -> None:
    """Fail fast, before any work, when ``--tensorboard`` is given but TensorBoard is not installed."""
    open_writer(None)


def open_writer(log_dir: str | os.PathLike | None) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` writing to ``log_dir`` (``None``: only check that
    TensorBoard is installed); :class:`AutoMRIError` naming ``--tensorboard`` and the pip extra
    when it is not."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise AutoMRIError(MISSING) from err
    return None if log_dir is None else SummaryWriter(log_dir=str(log_dir))


def log_scalars(writer: Any, record: dict[str, Any], step: int, prefix: str = "") -> None:
    """Every finite-typed numeric entry of ``record`` (nested dicts as ``key/sub``) at ``step``."""
    for name, value in record.items():
        if isinstance(value, dict):
            log_scalars(writer, value, step, f"{prefix}{name}/")
        elif isinstance(value, int | float) and not isinstance(value, bool) and name not in ("epoch", "round"):
            writer.add_scalar(f"{prefix}{name}", value, step)


def log_first_slice(writer: Any, model: nn.Module, dataset: Dataset | None, step: int,
                    device: str | torch.device = "cpu") -> None:
    """Images ``recon/target``, ``recon/zero_filled`` and ``recon/reconstruction`` (``[H, W]`` in
    ``[0, 1]``, scaled by the target's maximum) of ``dataset``'s first slice at ``step``."""
    if dataset is None or len(dataset) == 0:
        return
    was_training, rng = model.training, capture_rng_state()  # a logged run stays bit-identical to one that is not
    try:
        with torch.no_grad():
            batch, prediction = next(predict(model, Subset(dataset, [0]), 1, device))
    finally:
        model.train(was_training)
        restore_rng_state(rng)
    images = {
        "target": in_source_units(batch, batch.target)[0],
        "zero_filled": in_source_units(batch, zero_filled(batch.kspace, batch.mask, batch.sens))[0],
        "reconstruction": in_source_units(batch, prediction)[0],
    }
    scale = float(images["target"].abs().max()) or 1.0
    for name, image in images.items():
        writer.add_image(f"recon/{name}", (image.abs() / scale).clamp(0, 1).float().cpu(), step, dataformats="HW")


def alpha_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """The architecture logits of a search network (parameters named ``alpha`` / ``alphas``)."""
    return {name: p for name, p in model.named_parameters() if name.rsplit(".", 1)[-1] in ALPHA_NAMES}


def log_alphas(writer: Any, alphas: dict[str, torch.Tensor] | list[Any], step: int) -> None:
    """Histograms ``alpha/logits`` and ``alpha/softmax`` (softmax over each edge's ops, the last
    dim) of all architecture logits at ``step``; nothing for networks without them."""
    tensors = list(alphas.values()) if isinstance(alphas, dict) else [torch.as_tensor(a) for a in alphas]
    if not tensors:
        return
    logits = [t.detach().float().cpu() for t in tensors]
    writer.add_histogram("alpha/logits", torch.cat([t.flatten() for t in logits]), step)
    writer.add_histogram("alpha/softmax", torch.cat([torch.softmax(t, -1).flatten() for t in logits]), step)


def log_epoch(writer: Any, record: dict[str, Any], step: int, model: nn.Module, preview: Dataset | None,
              device: str | torch.device = "cpu") -> None:
    """Everything of one epoch: scalars of ``record``, the first slice of ``preview``, the alphas."""
    log_scalars(writer, record, step)
    log_first_slice(writer, model, preview, step, device)
    log_alphas(writer, alpha_parameters(model), step)
    writer.flush()


__all__ = ["MISSING", "alpha_parameters", "log_alphas", "log_epoch", "log_first_slice", "log_scalars", "open_writer",
           "require_tensorboard"]
