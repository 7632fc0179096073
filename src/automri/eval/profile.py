"""Cost of a reconstruction model: parameters, MACs, latency and peak memory of one forward pass.

MACs accounting (what ``count_macs`` counts)
--------------------------------------------
The count comes from ``torch.utils.flop_counter.FlopCounterMode``, which sees every aten op that
actually runs, so unrolled iterations and conjugate-gradient steps inside the model are counted as
often as they execute. PyTorch counts 2 FLOPs per multiply-accumulate of convolutions, matmuls
(``mm``, ``bmm``, ``addmm``, ``baddbmm``) and attention; we report ``MACs = FLOPs / 2``.

* Bias additions, activations, normalisation and other element-wise ops are **not** counted
  (PyTorch's policy): ``Conv2d(2, 4, 3, padding=1)`` on an 8x8 image is ``2*4*9*64 = 4608`` MACs
  with or without bias. This is the "FLOPs = MACs" convention behind FedAutoMRI's 4.92 G
  (about 15k conv MACs per pixel x 256^2 pixels x 5 unrolled iterations).
* FFTs are added here because PyTorch does not count them. A complex FFT of ``N`` points costs
  ``5 N log2 N`` real FLOPs (the classic radix-2 Cooley-Tukey estimate), so a batch of complex
  2-D FFTs over ``[H, W]`` costs ``5 * numel * log2(H W)`` FLOPs (``numel`` = elements of the
  input); real-to-complex and complex-to-real transforms cost half of that. These FLOPs are
  halved like the others, i.e. one complex 2-D FFT of ``N = H W`` points adds ``2.5 N log2 N``
  MACs. The FFT's ``ortho`` scaling is element-wise and not counted. FFTs are a small share of
  such nets (one 256x256 FFT is 2.6 M MACs); :func:`count_flops` gives the count per aten op, so
  the FFT part can be taken out to compare with papers that leave it out.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from automri.eval.memory import start_peak_rss
from automri.models.registry import count_params
from automri.physics.fft import fft2c
from automri.physics.masks import RandomLineMask

aten = torch.ops.aten
FFT_FLOPS_PER_POINT_LOG2 = 5.0
"""Real FLOPs of a complex FFT of N points are ``FFT_FLOPS_PER_POINT_LOG2 * N * log2(N)``."""

Inputs = Sequence[Any]


def _fft_flops(shape: Sequence[int], dims: Sequence[int], fraction: float) -> int:
    """``fraction * 5 * numel * log2(N)`` real FLOPs for FFTs over ``dims`` of a ``shape`` array."""
    points = math.prod(shape[d] for d in dims)
    if points <= 1:
        return 0
    return int(round(fraction * FFT_FLOPS_PER_POINT_LOG2 * math.prod(shape) * math.log2(points)))


def _fft_c2c_flops(x_shape, dim, normalization, forward, out_shape=None) -> int:
    """Complex-to-complex FFT over ``dim``: ``5 * numel * log2(N)`` real FLOPs."""
    return _fft_flops(x_shape, dim, 1.0)


def _fft_r2c_flops(x_shape, dim, normalization, onesided, out_shape=None) -> int:
    """Real-to-complex FFT over ``dim``: half of a complex FFT of the same real input."""
    return _fft_flops(x_shape, dim, 0.5)


def _fft_c2r_flops(x_shape, dim, normalization, last_dim_size, out_shape=None) -> int:
    """Complex-to-real FFT over ``dim``: half of a complex FFT of the same (real) output size."""
    return _fft_flops(out_shape, dim, 0.5)


FFT_FLOP_FORMULAS: dict[Any, Callable[..., int]] = {
    aten._fft_c2c: _fft_c2c_flops,
    aten._fft_r2c: _fft_r2c_flops,
    aten._fft_c2r: _fft_c2r_flops,
}
"""Custom ``FlopCounterMode`` mapping that adds FFT costs to PyTorch's own formulas."""


def count_flops(model: Callable[..., Any], example_inputs: Inputs) -> dict[str, int]:
    """FLOPs of one no-grad call ``model(*example_inputs)``, by aten op name, FFTs included."""
    counter = FlopCounterMode(display=False, custom_mapping=FFT_FLOP_FORMULAS)
    with torch.no_grad(), counter:
        model(*example_inputs)
    return {str(op): int(flops) for op, flops in counter.get_flop_counts().get("Global", {}).items()}


def count_macs(model: Callable[..., Any], example_inputs: Inputs) -> int:
    """Multiply-accumulates of one forward pass (``sum(count_flops) / 2``; see the module docstring)."""
    return sum(count_flops(model, example_inputs).values()) // 2


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device_of(inputs: Inputs) -> torch.device:
    tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
    return tensors[0].device if tensors else torch.device("cpu")


def measure_latency(model: Callable[..., Any], inputs: Inputs, repeats: int = 10, warmup: int = 2) -> float:
    """Median wall-clock time (ms) of ``model(*inputs)`` without gradients over ``repeats`` timed calls.

    ``warmup`` untimed calls come first (allocator, cuDNN autotuning, lazy init); CUDA work is
    synchronised before and after each timed call.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    device = _device_of(inputs)
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            model(*inputs)
        for _ in range(repeats):
            _synchronize(device)
            start = time.perf_counter()
            model(*inputs)
            _synchronize(device)
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _peak_rss_child(payload: bytes, num_threads: int) -> int:
    """Run in a fresh spawned process: load (model, inputs), run once, return peak RSS growth in bytes.

    Linux: the peak is ``VmHWM`` of this process image, reset to the current RSS just before the
    call. (``ru_maxrss`` is not used there: after ``exec`` it keeps the RSS that the parent had at
    ``fork`` time, which hides the peak of a small model.) Elsewhere: ``ru_maxrss`` growth.
    """
    torch.set_num_threads(num_threads)
    model, inputs = torch.load(io.BytesIO(payload), weights_only=False)
    del payload
    baseline, read_peak = start_peak_rss()
    with torch.no_grad():
        model(*inputs)
    return max(0, read_peak() - baseline)


def peak_memory(model: nn.Module, inputs: Inputs) -> float:
    """Peak extra memory (MiB) of one no-grad forward pass ``model(*inputs)``.

    CUDA inputs: ``torch.cuda.max_memory_allocated`` growth above the memory allocated before the
    call (tensors only, as PyTorch's allocator sees them). CPU inputs: the model and inputs are sent
    to a fresh ``spawn`` process, which records its resident set size, runs the forward pass once
    and reports how far its peak resident set size rose above it (a fresh process so that memory
    cached by earlier work in this one does not hide the peak). The model's class must be
    importable by that process.
    """
    device = _device_of(inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        with torch.no_grad():
            model(*inputs)
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - baseline) / 2**20
    buffer = io.BytesIO()
    torch.save((model, tuple(inputs)), buffer)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        grown = pool.submit(_peak_rss_child, buffer.getvalue(), torch.get_num_threads()).result()
    return grown / 2**20


def example_inputs(
    size: int, batch: int = 1, coils: int = 0, device: str | torch.device = "cpu", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Seeded inputs for the model signature ``model(kspace, mask, sens)`` at ``size x size``.

    A random complex image is transformed with ``fft2c`` and undersampled by a 4x random-line mask
    (8 % centre columns). ``coils = 0``: single-coil, ``kspace [B, H, W]``, ``sens = None``.
    ``coils > 0``: ``kspace [B, C, H, W]`` from random sensitivity maps ``sens [B, C, H, W]``
    normalised so that ``sum_c |s_c|^2 = 1`` at every pixel. ``mask`` is ``[B, H, W]``.
    """
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, size, size, dtype=torch.complex64, generator=generator)
    mask_fn = RandomLineMask(rate=0.25, center_fraction=0.08)
    mask = torch.stack([mask_fn((size, size), seed=seed + b) for b in range(batch)]).float()
    sens = None
    if coils > 0:
        sens = torch.randn(batch, coils, size, size, dtype=torch.complex64, generator=generator)
        sens = sens / sens.abs().pow(2).sum(dim=1, keepdim=True).sqrt()
        kspace = fft2c(sens * image.unsqueeze(1)) * mask.unsqueeze(1)
    else:
        kspace = fft2c(image) * mask
    device = torch.device(device)
    return kspace.to(device), mask.to(device), None if sens is None else sens.to(device)


def profile_model(
    model: nn.Module,
    size: int,
    batch: int = 1,
    coils: int = 0,
    device: str | torch.device = "cpu",
    repeats: int = 10,
    warmup: int = 2,
    memory: bool = True,
) -> dict[str, Any]:
    """Parameters, MACs, median latency and peak memory of ``model(kspace, mask, sens)``.

    Inputs come from :func:`example_inputs`. Returns ``{"params", "macs", "gmacs", "latency_ms",
    "peak_mem_mb", "size", "batch", "coils", "device"}``; ``peak_mem_mb`` is ``None`` when
    ``memory=False`` (it costs a fresh process on CPU).
    """
    device = torch.device(device)
    model = model.to(device).eval()
    inputs = example_inputs(size, batch=batch, coils=coils, device=device)
    macs = count_macs(model, inputs)
    return {
        "params": count_params(model, trainable_only=False),
        "macs": macs,
        "gmacs": macs / 1e9,
        "latency_ms": measure_latency(model, inputs, repeats=repeats, warmup=warmup),
        "peak_mem_mb": peak_memory(model, inputs) if memory else None,
        "size": size,
        "batch": batch,
        "coils": coils,
        "device": str(device),
    }
