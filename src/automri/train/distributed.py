"""Data-parallel training and search on several processes (PyTorch DDP, launched by ``torchrun``).

``torchrun --nproc_per_node N -m automri train|search ...`` starts N copies of the command; each
reads torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` / ``MASTER_ADDR`` / ``MASTER_PORT`` and
:func:`init_from_env` joins them in one process group (``gloo`` on CPU, ``nccl`` on CUDA). Without
torchrun (or with one process) everything here is a no-op, so the single-process path is unchanged.

The global batch is ``--batch-size``: every epoch's seeded permutation (:func:`automri.train.loop.
epoch_batches`) is the same on every rank, and each global batch is cut into ``WORLD_SIZE`` equal
contiguous shards (:func:`shard`), rank ``r`` taking shard ``r``; the union of the ranks' shards is the
single-process batch. Gradients are averaged over ranks before every optimiser step: DDP does it in
``backward`` for :class:`~automri.train.stepper.SupervisedStepper`, and the search strategies call
their ``grad_sync`` hook (:func:`average_gradients`) on the weights and the alphas before clipping
and stepping. With equal shards, the average of the ranks' mean-loss gradients is the gradient of
the global batch's mean loss, so N processes follow one process up to float rounding.

Only rank 0 writes the run directory: the other ranks run in a scratch copy (:func:`rank_out`)
that is deleted when they exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from automri.errors import AutoMRIError

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched() -> bool:
    """True when this process was started by torchrun with more than one process."""
    return all(name in os.environ for name in ENV_VARS) and int(os.environ["WORLD_SIZE"]) > 1


def init_from_env(device: str | None = "auto") -> str | None:
    """Join torchrun's process group (once) and return the device this rank should use: ``cuda:LOCAL_RANK``
    when ``device`` asks for CUDA (``auto`` with CUDA present, ``cuda``, ``cuda:N``), else ``device``.
    A no-op returning ``device`` when not launched by torchrun."""
    if not launched():
        return device
    wants_cuda = (device or "auto") == "auto" and torch.cuda.is_available() or str(device).startswith("cuda")
    local_rank = int(os.environ["LOCAL_RANK"])
    if not dist.is_initialized():
        backend = "nccl" if wants_cuda else "gloo"
        if wants_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, init_method="env://")
        atexit.register(_destroy)
    return f"cuda:{local_rank}" if wants_cuda else ("cpu" if device in (None, "auto") else device)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """True on rank 0, the one that writes the run directory."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op with one process)."""
    if world_size() > 1:
        dist.barrier()


def rank_out(out: str | os.PathLike, resume: bool = False) -> Path:
    """The run directory this rank writes: ``out`` on rank 0; on the others a scratch folder (a copy
    of ``out`` when resuming, so they resume from the same checkpoint) removed at exit."""
    out = Path(out)
    if world_size() == 1 or is_main():
        barrier()
        return out
    scratch = Path(tempfile.mkdtemp(prefix=f"automri-rank{rank()}-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    target = scratch / out.name
    if resume and out.is_dir():
        shutil.copytree(out, target)
    barrier()  # every copy is taken before rank 0 writes anything
    return target


def check_batch(batch_size: int) -> None:
    """The global batch must split into equal shards: ``batch_size`` a multiple of the world size."""
    world = world_size()
    if world > 1 and batch_size % world:
        raise AutoMRIError(f"--batch-size {batch_size}: with {world} processes it must be a multiple of {world} "
                           "(the global batch is split evenly over the processes)")


def shard(indices: list[int]) -> list[int]:
    """This rank's contiguous shard of a global batch (all of it with one process). A last batch that
    does not divide evenly drops its final ``len % world`` samples, so every shard has the same size."""
    world = world_size()
    if world == 1:
        return indices
    per_rank = len(indices) // world
    return indices[rank() * per_rank : (rank() + 1) * per_rank]


def average_gradients(parameters: list[nn.Parameter]) -> None:
    """All-reduce the ``.grad`` of ``parameters`` to their mean over ranks (one flat buffer per
    dtype; parameters without a gradient are skipped, the same on every rank)."""
    world = world_size()
    if world == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for grad in grads:
        by_dtype.setdefault(grad.dtype, []).append(grad)
    for group in by_dtype.values():
        real = [torch.view_as_real(g) if g.is_complex() else g for g in group]
        flat = torch.cat([g.reshape(-1) for g in real])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in real:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def _collective_device() -> torch.device:
    """Where small collective tensors live: the current GPU for nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def average_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with every numeric value replaced by its mean over ranks (what one process would
    log for the global batch, up to rounding); unchanged with one process."""
    if world_size() == 1:
        return metrics
    keys = sorted(k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool))
    values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(values)
    return {**metrics, **dict(zip(keys, (values / world_size()).tolist()))}


def distribute(stepper: Any) -> None:
    """Make ``stepper`` average its gradients over ranks (no-op with one process): a DDP-wrapped
    forward for steppers with a ``forward_model`` (SupervisedStepper), the ``grad_sync`` hook of the
    search strategies; other steppers are refused."""
    if world_size() == 1:
        return
    if hasattr(stepper, "forward_model"):
        device = next(stepper.model.parameters()).device
        stepper.forward_model = DistributedDataParallel(
            stepper.model, device_ids=[device.index] if device.type == "cuda" else None)
    elif hasattr(stepper, "grad_sync"):
        stepper.grad_sync = average_gradients
    else:
        raise AutoMRIError(f"{type(stepper).__name__}: cannot run on several processes (no forward_model or grad_sync)")


__all__ = ["average_gradients", "average_metrics", "barrier", "check_batch", "distribute", "init_from_env", "is_main", "launched",
           "rank", "rank_out", "shard", "world_size"]
