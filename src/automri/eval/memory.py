"""Peak memory of one optimisation step (search or training), each case in a fresh process.

Used by the search-memory benchmarks (``benchmarks/memory_rir_search.py``,
``benchmarks/fedautomri_search.py``). A case is a picklable module-level function that builds a
model, its optimiser(s) and batches, and returns :func:`measure_step` of one step;
:func:`in_fresh_process` runs it in a newly spawned Python process, so that no allocator cache or
high-water mark of earlier work leaks into the number.

What is measured (MiB = 2**20 bytes):

* ``rss_before_mib``: resident set size once everything is built, just before the step;
* ``peak_rss_mib``: the process's peak resident set size during the step (Linux ``VmHWM``, reset
  to the current RSS just before the step; elsewhere ``ru_maxrss``);
* ``step_mib``: ``peak_rss_mib - rss_before_mib``, the memory the step itself needs on top of
  the model, optimiser state and batches (activations kept for the backward pass, gradients,
  first-step optimiser moments);
* on CUDA also ``cuda_before_mib`` and ``cuda_peak_mib`` (``torch.cuda.max_memory_allocated``
  over the step: tensors as PyTorch's allocator sees them) and ``cuda_step_mib``, their difference.

On a shared CPU machine a case too big for it would wake the kernel's OOM killer, which may pick
another process; ``in_fresh_process(..., max_memory_mib=available_memory_mib())`` caps the child's
address space instead, so such a case fails alone with an allocation error.
"""

from __future__ import annotations

import resource
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

import torch

from automri.data.sample import Batch
from automri.physics.fft import fft2c
from automri.physics.masks import build_mask

MIB = 2**20


def synthetic_batch(size: int, batch_size: int, mask: str, seed: int) -> Batch:
    """A seeded batch of smooth random complex images ``[B, size, size]`` undersampled by ``mask``
    (a :func:`automri.physics.masks.build_mask` spec; slice ``i`` uses mask seed ``100 * seed + i``).
    Memory does not depend on image content, so no dataset has to be read."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(batch_size, 2, size, size, generator=generator)
    smooth = torch.nn.functional.avg_pool2d(noise, 9, 1, 4)
    image = torch.complex(smooth[:, 0], smooth[:, 1])
    mask_fn = build_mask(mask)
    masks = torch.stack([mask_fn((size, size), seed=seed * 100 + i) for i in range(batch_size)])
    return Batch(fft2c(image) * masks, masks, image, None, torch.ones(batch_size), [{}] * batch_size)


def proc_status_bytes(field: str) -> int:
    """A memory field of ``/proc/self/status`` (``VmRSS``: resident now, ``VmHWM``: peak) in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0, ``clear_refs`` value 5); no-op if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def ru_maxrss_bytes() -> int:
    """High-water RSS by ``getrusage`` (KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def start_peak_rss() -> tuple[int, Callable[[], int]]:
    """Reset the peak RSS; return the current RSS (bytes) and a reader of the peak since the reset.

    Linux: ``VmRSS`` / ``VmHWM`` after a ``clear_refs`` reset. Elsewhere (no ``/proc``):
    ``ru_maxrss``, which after a ``fork`` starts at the parent's RSS and can hide a small peak.
    """
    try:
        reset_peak_rss()
        return proc_status_bytes("VmRSS"), lambda: proc_status_bytes("VmHWM")
    except OSError:  # no /proc (macOS)
        return ru_maxrss_bytes(), ru_maxrss_bytes


def measure_step(step: Callable[[], Any], device: str | torch.device = "cpu") -> dict[str, float]:
    """Run ``step()`` once in this process and return the figures of the module docstring.

    Call it in a fresh process (:func:`in_fresh_process`) with everything already built, so that
    the baseline holds the model, optimiser and batches and the peak is the step's alone.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        cuda_before = torch.cuda.memory_allocated(device)
    before, read_peak = start_peak_rss()
    step()
    if cuda:
        torch.cuda.synchronize(device)
    peak = max(before, read_peak())
    result = {"rss_before_mib": before / MIB, "peak_rss_mib": peak / MIB, "step_mib": (peak - before) / MIB}
    if cuda:
        cuda_peak = torch.cuda.max_memory_allocated(device)
        result.update({"cuda_before_mib": cuda_before / MIB, "cuda_peak_mib": cuda_peak / MIB,
                       "cuda_step_mib": (cuda_peak - cuda_before) / MIB})
    return result


def available_memory_mib() -> float | None:
    """Memory the machine can still give without swapping (Linux ``MemAvailable``), ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass
    return None


def _cap_address_space(max_memory_mib: float) -> None:
    """Let this process's address space grow by at most ``max_memory_mib`` (``RLIMIT_AS``); beyond
    it allocations fail with an error. No-op where the size or the limit cannot be read or set."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = proc_status_bytes("VmSize") + int(max_memory_mib * MIB)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        pass


def _child(fn: Callable[..., dict[str, Any]], threads: int, max_memory_mib: float | None, args: tuple,
           kwargs: dict) -> dict[str, Any]:
    torch.set_num_threads(threads)
    if max_memory_mib is not None:
        _cap_address_space(max_memory_mib)
    return fn(*args, **kwargs)


def in_fresh_process(fn: Callable[..., dict[str, Any]], *args: Any, threads: int = 1,
                     max_memory_mib: float | None = None, **kwargs: Any) -> dict[str, Any]:
    """``fn(*args, **kwargs)`` in a newly spawned Python process with ``threads`` torch threads.

    ``fn`` must be importable by the child (a module-level function of a module, or of the script
    that is running). ``max_memory_mib``: cap on the child's address-space growth (CPU only: CUDA
    reserves far more address space than memory), e.g. :func:`available_memory_mib`. A failure in
    the child, including an allocation refused by the cap or the process being killed, is returned
    as ``{"error": "<one line>"}`` instead of raised, so that one failing case does not lose the
    others.
    """
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            return pool.submit(_child, fn, threads, max_memory_mib, args, kwargs).result()
    except BrokenProcessPool:
        return {"error": "the process died during the step (out of memory?)"}
    except Exception as err:  # noqa: BLE001 - reported per case, the other cases still run
        last = traceback.format_exception_only(err)[-1].strip()
        return {"error": last}
