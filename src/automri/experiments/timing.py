"""Timing primitives of the speed benchmark: medians of repeated runs, the fp32 matmul reference
rate, training-step throughput, inference latency, and where a training step's time goes
(``torch.profiler`` self times grouped by :func:`classify_op`).

What is measured (all timings are medians of ``repeats`` timed runs after ``warmup`` untimed ones)
--------------------------------------------------------------------------------------------------
* ``matmul_gflops``: ``torch.mm`` of two fp32 ``n x n`` matrices (``2 n^3`` FLOPs), measured before
  and after the models; the reference rate is the mean of the two (their gap shows how much the
  machine drifted during the run).
* ``train_slices_per_s``: one training step = forward + complex L1 loss + backward + Adam step (the
  training engine's loss and optimizer) on a batch of ``batch`` slices of ``size x size`` from
  :func:`automri.eval.profile.example_inputs`.
* ``inference_ms``: one no-grad forward pass of one slice (:func:`automri.eval.profile.measure_latency`).
* ``macs``: multiply-accumulates of one forward pass of one slice, FFTs included
  (:func:`automri.eval.profile.count_macs`); ``peak_mem_mb``: peak extra memory of that pass
  (:func:`automri.eval.profile.peak_memory`).
* ``train_gflops = TRAIN_FLOPS_PER_FORWARD_FLOP * 2 * macs * train_slices_per_s / 1e9``: the usual
  "backward costs twice the forward" estimate (one pass for the input gradients, one for the weight
  gradients; ``FlopCounterMode`` over a whole training step counts 2.997 x the forward FLOPs for
  U-Net, MoDL and DC-CNN); ``fraction_of_matmul = train_gflops / matmul_gflops``.
* ``breakdown``: where a training step's time goes, from ``torch.profiler`` self times grouped by
  :func:`classify_op` (convolution, FFT, BLAS matmul, optimizer, other element-wise / memory-bound
  aten ops, autograd and Python overhead), plus the share of the forward pass spent inside
  data-consistency layers (FFTs, k-space replacement, conjugate gradient).

Ratios are only meaningful within one run on one machine: compare ``fraction_of_matmul``, not raw
GFLOP/s, across runs.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from automri.errors import AutoMRIError
from automri.eval.profile import example_inputs, measure_latency
from automri.train.losses import l1_complex
from automri.train.stepper import build_optimizer

MATMUL_SIZE = 2048
TRAIN_FLOPS_PER_FORWARD_FLOP = 3
BREAKDOWN_CATEGORIES = ("conv", "fft", "matmul", "optimizer", "elementwise", "overhead")
"""Columns of the breakdown; ``overhead`` = autograd engine, Python and profiler time outside aten kernels."""
OPTIMIZER_RANGES = "Optimizer."
"""Prefix of the ranges ``torch.optim`` records around ``step`` and ``zero_grad``."""
DC_RANGE = "automri::data_consistency"
DC_MODULE = "automri.physics.dc"
"""Modules defined here are data-consistency layers (``HardDC``, ``ProximalDC``, ...)."""
FORWARD_RANGE = "automri::forward"
_MATMUL_OPS = frozenset(
    {"aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::dot", "aten::vdot", "aten::mv"}
)
_CONV_MARKERS = ("convolution", "conv2d", "conv_transpose", "conv_depthwise")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` timed calls after ``warmup`` untimed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_rate_gflops(
    n: int = MATMUL_SIZE, repeats: int = 5, warmup: int = 1, device: str | torch.device = "cpu"
) -> float:
    """fp32 matrix-multiply rate in GFLOP/s: ``2 n^3`` FLOPs of ``torch.mm`` over its median time."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device)
    b = torch.randn(n, n, generator=generator).to(device)
    out = torch.empty(n, n, device=device)
    seconds = median_seconds(lambda: torch.mm(a, b, out=out), repeats, warmup, device)
    return 2.0 * n**3 / seconds / 1e9


class _TrainStep:
    """One optimisation step of a private copy of ``model`` on seeded inputs, with the training
    engine's own pieces: complex L1 loss (``train.losses.l1_complex``) and its Adam
    (``train.stepper.build_optimizer``)."""

    def __init__(
        self, model: nn.Module, batch: int, size: int, coils: int, device: torch.device, channels_last: bool, seed: int
    ) -> None:
        self.model = copy.deepcopy(model).to(device).train()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise AutoMRIError(f"{type(model).__name__}: no trainable parameters, so no training speed")
        self.optimizer = build_optimizer("adam", params, lr=1e-4, weight_decay=0.0)
        self.inputs = example_inputs(size, batch=batch, coils=coils, device=device, seed=seed)
        generator = torch.Generator().manual_seed(seed + 1)
        self.target = torch.randn(batch, size, size, dtype=torch.complex64, generator=generator).to(device)

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with record_function(FORWARD_RANGE):
            output = self.model(*self.inputs)
        loss = l1_complex(output, self.target)
        loss.backward()
        self.optimizer.step()


def train_step_rate(
    model: nn.Module,
    batch: int = 4,
    size: int = 256,
    coils: int = 0,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
    seed: int = 0,
) -> float:
    """Training throughput in slices/s: ``batch`` over the median time of one step (forward, L1 loss,
    backward, Adam) on ``batch`` slices ``size x size`` (``coils`` > 0: multi-coil with sens maps).

    Trains a deep copy; ``model`` is not modified. ``channels_last`` stores its weights (and so its
    convolution outputs) in the NHWC memory format.
    """
    device = torch.device(device)
    step = _TrainStep(model, batch, size, coils, device, channels_last, seed)
    return batch / median_seconds(step, repeats, warmup, device)


def inference_ms(
    model: nn.Module,
    size: int = 256,
    coils: int = 0,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
) -> float:
    """Median milliseconds of one no-grad forward pass of one ``size x size`` slice (eval mode)."""
    device = torch.device(device)
    inputs = example_inputs(size, batch=1, coils=coils, device=device)
    return measure_latency(model.to(device).eval(), inputs, repeats=repeats, warmup=warmup)


def training_gflops(macs_per_slice: int, slices_per_s: float) -> float:
    """Achieved training GFLOP/s: ``3 x`` the forward FLOPs (``2 x`` MACs) per slice times slices/s."""
    return TRAIN_FLOPS_PER_FORWARD_FLOP * 2 * macs_per_slice * slices_per_s / 1e9


def classify_op(name: str, in_optimizer: bool = False) -> str:
    """The breakdown category of a profiler event ``name`` (see :data:`BREAKDOWN_CATEGORIES`);
    ``in_optimizer``: the event runs inside an ``Optimizer.*`` range (step or zero_grad)."""
    lower = name.lower()
    if in_optimizer:
        return "optimizer"
    if not lower.startswith("aten::"):
        return "overhead"  # autograd::engine nodes, our own ranges
    if any(marker in lower for marker in _CONV_MARKERS):
        return "conv"
    if "fft" in lower:
        return "fft"
    if name in _MATMUL_OPS:
        return "matmul"
    return "elementwise"


def _inside(event: Any, prefix: str) -> bool:
    """Whether the profiler ``event`` or one of its enclosing events has a name starting with ``prefix``."""
    while event is not None:
        if event.name.startswith(prefix):
            return True
        event = event.cpu_parent
    return False


def _is_dc_layer(module: nn.Module) -> bool:
    """Whether ``module`` is one of the data-consistency layers of :mod:`automri.physics.dc`."""
    return type(module).__module__ == DC_MODULE


@contextmanager
def _dc_ranges(model: nn.Module) -> Iterator[None]:
    """Mark every data-consistency layer's forward as the profiler range :data:`DC_RANGE`."""
    open_ranges: list[record_function] = []

    def enter(module: nn.Module, args: object) -> None:
        open_ranges.append(record_function(DC_RANGE).__enter__())

    def leave(module: nn.Module, args: object, output: object) -> None:
        open_ranges.pop().__exit__(None, None, None)

    handles = []
    for module in model.modules():
        if _is_dc_layer(module):
            handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def operator_breakdown(
    model: nn.Module,
    batch: int = 4,
    size: int = 256,
    coils: int = 0,
    steps: int = 1,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Where the time of a training step goes, from ``torch.profiler`` over ``steps`` steps (after one
    warm-up step).

    Returns ``{"fractions": {category: share of the profiled self time}, "step_ms": profiled ms per
    step, "dc_forward_fraction": share of the forward pass inside data-consistency layers,
    "top_ops": [[op name, category, share], ...] (the 8 largest)}``. Profiling adds overhead, so
    ``step_ms`` is above the un-profiled step time.
    """
    device = torch.device(device)
    step = _TrainStep(model, batch, size, coils, device, channels_last, seed)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    time_attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    with _dc_ranges(step.model):
        step()
        _synchronize(device)
        start = time.perf_counter()
        with profile(activities=activities) as prof:
            for _ in range(steps):
                step()
            _synchronize(device)
            wall_us = (time.perf_counter() - start) * 1e6
    totals = dict.fromkeys(BREAKDOWN_CATEGORIES, 0.0)
    per_op: dict[tuple[str, str], float] = {}
    forward = dc = 0.0
    for event in prof.events():
        if event.name == FORWARD_RANGE:
            forward += event.cpu_time_total
        elif event.name == DC_RANGE and not _inside(event.cpu_parent, DC_RANGE):
            dc += event.cpu_time_total
        self_time = float(getattr(event, time_attr))
        if self_time > 0:
            key = (event.name, classify_op(event.name, in_optimizer=_inside(event, OPTIMIZER_RANGES)))
            totals[key[1]] += self_time
            per_op[key] = per_op.get(key, 0.0) + self_time
    profiled = sum(totals.values())
    if device.type == "cpu":  # time outside any recorded op: Python between ops, profiler bookkeeping
        totals["overhead"] += max(0.0, wall_us - profiled)
        profiled = max(profiled, wall_us)
    largest = sorted(per_op.items(), key=lambda item: -item[1])[:8]
    return {
        "fractions": {name: value / profiled for name, value in totals.items()},
        "step_ms": wall_us / 1000.0 / steps,
        "dc_forward_fraction": dc / forward if forward > 0 else 0.0,
        "top_ops": [[name, category, value / profiled] for (name, category), value in largest],
    }
