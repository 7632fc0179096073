"""Checks made before a run allocates anything: the image size fits the network, the memory fits the cap.

The network is built on PyTorch's ``meta`` device (shapes only, no storage) and run once on a
meta batch at the configured size, so a size the network cannot take (``--size 7`` for a U-Net
whose bottleneck would be empty) and a size or width that cannot fit in memory (``--size 200000``,
a genotype with ``hidden: 1e9``) are refused in a second, with the flag, the value and what is
expected, instead of failing deep inside PyTorch.

With the native size (``data.size`` null, ``--size 0``) the checked size is the stored size of the
first slice of the run's split (one slice is read).

The memory estimate is the bytes of every tensor the forward pass creates (what autograd may keep
for the backward pass), times the batch size, plus 16 bytes per parameter (weights, gradients and
two Adam moments); it is an upper bound of the training step's peak, compared with
:func:`automri.limits.memory_cap`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from automri.errors import AutoMRIError
from automri.limits import require_within_cap
from automri.train.config import RunConfig
from automri.train.engine import build_from_config, build_split, resolve_config

BYTES_PER_PARAMETER = 16
LARGEST_SIZE_TRIED = 4096


class _TensorBytes(TorchDispatchMode):
    """Adds up the bytes of every tensor that the operators run inside it return."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.total += sum(t.numel() * t.element_size() for t in tree_leaves(out) if isinstance(t, torch.Tensor))
        return out


def model_label(config: RunConfig) -> str:
    """How errors name the network: ``unet`` or ``genotype runs/g.json``."""
    if config.model.name is not None:
        return config.model.name
    return f"genotype {config.model.genotype}" if isinstance(config.model.genotype, str) else "the genotype network"


def meta_model(config: RunConfig, label: str) -> nn.Module:
    """The configured network on the ``meta`` device (no memory is allocated for its weights)."""
    try:
        with torch.device("meta"):
            return build_from_config(config)
    except AutoMRIError as err:
        if label in str(err) or label.split(" ", 1)[-1] in str(err):
            raise
        raise AutoMRIError(f"{label}: {err}") from err
    except (RuntimeError, ValueError, OverflowError) as err:
        why = "is too large to build (its weight sizes overflow)" if "overflow" in str(err).lower() else "cannot be built"
        raise AutoMRIError(f"{label}: the network {why} ({type(err).__name__}: {err})") from err


def forward_bytes(model: nn.Module, shape: tuple[int, int]) -> int:
    """Bytes of the tensors one forward pass on a meta batch ``[1, H, W]`` (``shape = (H, W)``) creates.

    Raises whatever the network raises for that size (``ValueError``, ``RuntimeError``).
    """
    height, width = shape
    kspace = torch.zeros(1, height, width, dtype=torch.complex64, device="meta")
    mask = torch.ones(1, height, width, device="meta")
    with _TensorBytes() as counter:
        model(kspace, mask)
    return counter.total


def smallest_size(fits: Callable[[int], bool], start: int) -> int | None:
    """The first size above ``start`` (up to :data:`LARGEST_SIZE_TRIED`) for which ``fits`` holds."""
    return next((size for size in range(start + 1, LARGEST_SIZE_TRIED + 1) if fits(size)), None)


def _runs_at(model: nn.Module, size: int) -> bool:
    try:
        forward_bytes(model, (size, size))
    except (ValueError, RuntimeError, IndexError):
        return False
    return True


def native_shape(config: RunConfig, split: str) -> tuple[int, int]:
    """``(H, W)`` of the first slice of ``split`` of the configured dataset at its native size."""
    data = build_split(config, split, max_slices=1)
    if len(data) == 0:
        raise AutoMRIError(f"--dataset {config.data.dataset}: the {split} split holds no slices")
    height, width = data[0].target.shape[-2:]
    return int(height), int(width)


def check_run_fits(config: RunConfig, split: str = "train") -> None:
    """Raise :class:`AutoMRIError` when the configured network cannot train at ``data.size`` (native
    size: that of the first slice of ``split``) or when its estimated memory is above the cap (see
    the module docstring)."""
    label = model_label(config)
    resolved = resolve_config(config)
    model = meta_model(resolved, label)
    params = sum(p.numel() for p in model.parameters())
    require_within_cap(params * BYTES_PER_PARAMETER, label, f"{params:,} parameters (weights, gradients, optimiser state)")
    size, batch = config.data.size, config.train.batch_size
    height, width = (size, size) if size is not None else native_shape(config, split)
    flag = f"--size {size}" if size is not None else f"--size 0 (native {height}x{width})"
    require_within_cap(height * width * 8.0 * batch * 8, flag, f"images of {height}x{width} in batches of {batch}")
    try:
        activations = forward_bytes(model, (height, width))
    except (ValueError, RuntimeError, IndexError) as err:
        if size is None:
            raise AutoMRIError(
                f"{flag}: {label} cannot take this image size ({type(err).__name__}: {err}); resample with --size N"
            ) from err
        minimum = smallest_size(lambda s: _runs_at(model, s), size)
        expected = f"at least {minimum}" if minimum is not None else f"a size the network accepts (none up to {LARGEST_SIZE_TRIED})"
        raise AutoMRIError(f"--size {size}: too small for {label} (expected {expected}; {type(err).__name__}: {err})") from err
    require_within_cap(
        activations * batch + params * BYTES_PER_PARAMETER, f"{flag} --batch-size {batch} ({label})",
        "one training step",
    )
