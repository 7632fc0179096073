"""Speed benchmark runner and report: training slices/s, inference ms/slice and the achieved GFLOP/s of every model,
as a fraction of an fp32 matrix-multiply rate measured in the same run (``automri bench speed``).

What each column measures is described in :mod:`automri.experiments.timing`, which holds the timing
primitives; this module runs them over the models, adds parameters, MACs and peak memory
(:mod:`automri.eval.profile`) and the Flower round overhead, and writes the report.

Ratios are only meaningful within one run on one machine: compare ``fraction_of_matmul``, not raw
GFLOP/s, across runs.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from automri.atomic import write_text_atomic
from automri.errors import AutoMRIError
from automri.eval import report
from automri.eval.profile import count_macs, example_inputs, peak_memory
from automri.experiments.timing import (
    BREAKDOWN_CATEGORIES,
    MATMUL_SIZE,
    TRAIN_FLOPS_PER_FORWARD_FLOP,
    inference_ms,
    matmul_rate_gflops,
    operator_breakdown,
    train_step_rate,
    training_gflops,
)
from automri.federated.simulation import measure_round_overhead
from automri.models.registry import count_params
from automri.nas.cell.genotype import FEDNAS_V1
from automri.nas.factory import build_network
from automri.nas.rir.genotype import PAPER_CARDIAC_OPS
from automri.train.device import resolve_device

CONV_HEAVY_MODELS = ("unet", "modl", "dccnn")
"""The models the speed target applies to: training at >= :data:`TARGET_FRACTION` of the matmul rate."""
TARGET_FRACTION = 0.30
BASELINE_MODELS = ("zero_filled", "cs_tv", "unet", "dccnn", "modl", "rdn", "cddn_tdc")
SEARCHED_NETS = ("fedautomri_v1", "emrnas_cardiac")
DEFAULT_MODELS = BASELINE_MODELS + SEARCHED_NETS
REPORT_TITLE = "Speed benchmark"


def _searched_genotype(name: str) -> dict[str, Any]:
    """The genotype of a named searched net (FedAutoMRI's FedNAS_V1, EMR-NAS's cardiac architecture)."""
    if name == "fedautomri_v1":
        return FEDNAS_V1

    return {"space": "rir", "ops": list(PAPER_CARDIAC_OPS)}


def build_benchmark_model(spec: str) -> nn.Module:
    """The model named ``spec``: a registry name (default width), a searched net of
    :data:`SEARCHED_NETS`, or a path to a genotype ``.json`` file (the network factory)."""
    return build_network(_searched_genotype(spec) if spec in SEARCHED_NETS else spec)


def machine_info(device: torch.device) -> dict[str, Any]:
    """:func:`automri.eval.report.machine_info` plus the oneDNN (mkldnn) state, the benchmark device
    and, on CUDA, whether matmuls / cuDNN convolutions may use TF32 (the matmul reference is fp32
    unless the matmul flag is on)."""
    tf32 = None
    if device.type == "cuda":
        tf32 = f"matmul {torch.backends.cuda.matmul.allow_tf32}, cuDNN {torch.backends.cudnn.allow_tf32}"
    return {
        **report.machine_info(),
        "mkldnn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "device": str(device),
        "tf32": tf32,
    }


def flower_round_overhead() -> dict[str, Any]:
    """Flower's overhead per round (:func:`automri.federated.simulation.measure_round_overhead`),
    marked ``"measured": True``."""
    return {"measured": True, **measure_round_overhead()}


def speed_command(
    models: Sequence[str], size: int, batch: int, coils: int, repeats: int, warmup: int, device: str,
    channels_last: bool, threads: int | None, memory: bool, breakdown: bool, flower: bool, matmul_size: int,
    out_md: Path | None,
) -> str:
    """The ``automri bench speed`` command line that reproduces a run with these settings."""
    parts = ["automri", "bench", "speed", "--models", ",".join(models), "--size", str(size), "--batch-size", str(batch),
             "--coils", str(coils), "--repeats", str(repeats), "--warmup", str(warmup), "--device", device,
             "--matmul-size", str(matmul_size)]
    if threads is not None:
        parts += ["--threads", str(threads)]
    parts += [flag for flag, on in (("--channels-last", channels_last), ("--no-memory", not memory),
                                   ("--no-breakdown", not breakdown), ("--no-flower", not flower)) if on]
    return shlex.join(parts + ([] if out_md is None else ["--out", str(out_md)]))


def _measure_model(
    name: str, model: nn.Module, size: int, batch: int, coils: int, repeats: int, warmup: int, device: torch.device,
    channels_last: bool, memory: bool, breakdown: bool,
) -> dict[str, Any]:
    """Every number of one row of the table (training numbers are None for models without weights)."""
    model = model.to(device)
    one_slice = example_inputs(size, batch=1, coils=coils, device=device)
    trainable = any(p.requires_grad for p in model.parameters())
    row: dict[str, Any] = {
        "model": name,
        "params": count_params(model, trainable_only=False),
        "macs": count_macs(model.eval(), one_slice),
        "inference_ms": inference_ms(model, size, coils, repeats, warmup, device),
        "peak_mem_mb": peak_memory(model.eval(), one_slice) if memory else None,
        "train_slices_per_s": None,
        "train_gflops": None,
        "breakdown": None,
    }
    if trainable:
        rate = train_step_rate(model, batch, size, coils, repeats, warmup, device, channels_last)
        row["train_slices_per_s"] = rate
        row["train_gflops"] = training_gflops(row["macs"], rate)
        if breakdown:
            row["breakdown"] = operator_breakdown(model, batch, size, coils, 1, device, channels_last)
    return row


@contextmanager
def _num_threads(threads: int | None) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(threads)`` (None: unchanged), then restore the count."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_options(
    models: Sequence[str], size: int, batch: int, coils: int, repeats: int, warmup: int, threads: int | None,
    matmul_size: int,
) -> None:
    if not models:
        raise AutoMRIError("--models: expected at least one model name")
    for flag, value, low in (("--size", size, 8), ("--batch-size", batch, 1), ("--coils", coils, 0),
                             ("--repeats", repeats, 1), ("--warmup", warmup, 0), ("--matmul-size", matmul_size, 1)):
        if value < low:
            raise AutoMRIError(f"{flag}: expected an integer >= {low}, got {value}")
    if threads is not None and threads < 1:
        raise AutoMRIError(f"--threads: expected a positive number of threads, got {threads}")


def run_speed_benchmark(
    models: Sequence[str] = DEFAULT_MODELS,
    size: int = 256,
    batch: int = 4,
    coils: int = 0,
    repeats: int = 5,
    warmup: int = 1,
    device: str = "auto",
    channels_last: bool = False,
    threads: int | None = None,
    memory: bool = True,
    breakdown: bool = True,
    flower: bool = True,
    matmul_size: int = MATMUL_SIZE,
    out_md: Path | None = Path("docs/speed.md"),
    out_json: Path | None = None,
    on_model: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every model of ``models`` (see the module docstring) and write the report.

    ``out_md``: the Markdown report (table, breakdown, Flower overhead, machine, command), written
    atomically; ``out_json``: the same results as JSON. ``threads`` sets ``torch.set_num_threads`` during
    the run (None: keep the current count). ``on_model(name)`` is called before each model is measured.
    Returns ``{"command", "machine", "settings", "matmul", "models": [rows], "flower"}``.
    """
    models = list(models)
    _check_options(models, size, batch, coils, repeats, warmup, threads, matmul_size)
    resolved = resolve_device(device)
    built = {name: build_benchmark_model(name) for name in models}  # bad names fail before any timing
    command = speed_command(models, size, batch, coils, repeats, warmup, device, channels_last, threads, memory,
                            breakdown, flower, matmul_size, out_md)
    with _num_threads(threads):
        machine = machine_info(resolved)
        before = matmul_rate_gflops(matmul_size, repeats, warmup, resolved)
        rows = []
        for name, model in built.items():
            if on_model is not None:
                on_model(name)
            rows.append(_measure_model(name, model, size, batch, coils, repeats, warmup, resolved, channels_last,
                                       memory, breakdown))
        after = matmul_rate_gflops(matmul_size, repeats, warmup, resolved)
    reference = (before + after) / 2
    for row in rows:
        row["fraction_of_matmul"] = None if row["train_gflops"] is None else row["train_gflops"] / reference
    result = {
        "command": command,
        "machine": machine,
        "settings": {"size": size, "batch": batch, "coils": coils, "repeats": repeats, "warmup": warmup,
                     "channels_last": channels_last, "matmul_size": matmul_size},
        "matmul": {"gflops": reference, "before": before, "after": after},
        "models": rows,
        "flower": flower_round_overhead() if flower else {"measured": False, "reason": "skipped (--no-flower)"},
    }
    if out_md is not None:
        report.write_report(out_md, speed_report_sections(result), title=REPORT_TITLE)
    if out_json is not None:
        write_text_atomic(out_json, json.dumps(result, indent=2) + "\n")
    return result


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _results_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = ["model", "params", "GMACs/slice", "train slices/s", "inference ms/slice", "peak mem MiB",
               "train GFLOP/s", "% of matmul"]
    table = [
        {
            "model": row["model"],
            "params": f"{row['params']:,}",
            "GMACs/slice": _fmt(row["macs"] / 1e9, ".3f"),
            "train slices/s": _fmt(row["train_slices_per_s"], ".3g"),
            "inference ms/slice": _fmt(row["inference_ms"], ".3g"),
            "peak mem MiB": _fmt(row["peak_mem_mb"], ".0f"),
            "train GFLOP/s": _fmt(row["train_gflops"], ".1f"),
            "% of matmul": _fmt(None if row["fraction_of_matmul"] is None else 100 * row["fraction_of_matmul"], ".1f"),
        }
        for row in rows
    ]
    return report.markdown_table(table, columns)


def _target_lines(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        if row["model"] in CONV_HEAVY_MODELS and row["fraction_of_matmul"] is not None:
            verdict = "meets" if row["fraction_of_matmul"] >= TARGET_FRACTION else "is below"
            lines.append(f"- `{row['model']}` trains at {100 * row['fraction_of_matmul']:.1f} % of the matmul rate: "
                         f"{verdict} the {100 * TARGET_FRACTION:.0f} % target.")
    return "\n".join(lines) or "No conv-heavy model (" + ", ".join(CONV_HEAVY_MODELS) + ") was trained in this run."


def _breakdown_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = ["model", *BREAKDOWN_CATEGORIES, "DC share of forward", "profiled ms/step", "largest ops"]
    table = []
    for row in rows:
        breakdown = row["breakdown"]
        if breakdown is None:
            continue
        entry = {"model": row["model"]}
        entry.update({name: f"{100 * breakdown['fractions'][name]:.1f} %" for name in BREAKDOWN_CATEGORIES})
        entry["DC share of forward"] = f"{100 * breakdown['dc_forward_fraction']:.1f} %"
        entry["profiled ms/step"] = f"{breakdown['step_ms']:.1f}"
        entry["largest ops"] = ", ".join(f"{name} {100 * share:.0f} %" for name, _, share in breakdown["top_ops"][:3])
        table.append(entry)
    return report.markdown_table(table, columns) if table else "No breakdown was recorded (`--no-breakdown`).\n"


def _flower_text(flower: dict[str, Any]) -> str:
    if not flower["measured"]:
        return f"Not measured: {flower['reason']}."
    details = ", ".join(
        f"{key} = {value}" for key, value in flower.items() if key not in ("measured", "round_overhead_s")
    )
    return f"{flower['round_overhead_s']:.3f} s per round" + (f" ({details})" if details else "") + "."


def speed_report_sections(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``(heading, Markdown body)`` sections of the report of a :func:`run_speed_benchmark` result."""
    machine, settings, matmul = result["machine"], result["settings"], result["matmul"]
    run = (
        f"Command: `{result['command']}`\n\n"
        f"- Date: {machine['date']}\n"
        f"- CPU: {machine['cpu']}, {machine['cores']} logical cores; torch {machine['torch']} with "
        f"torch.get_num_threads() = {machine['torch_threads']}; "
        f"oneDNN (mkldnn) {'on' if machine['mkldnn'] else 'off'}\n"
        f"- Device: {machine['device']}" + (f" ({machine['gpu']}; TF32 {machine['tf32']})" if machine["gpu"] else "")
        + "\n"
        f"- Python {machine['python']} on {machine['platform']}\n"
        f"- Inputs: {settings['size']}x{settings['size']}, training batch {settings['batch']}, "
        f"{'single-coil' if settings['coils'] == 0 else str(settings['coils']) + ' coils'}, "
        f"channels_last {'on' if settings['channels_last'] else 'off'}; medians of {settings['repeats']} timed runs "
        f"after {settings['warmup']} warm-up run(s)\n"
        f"- fp32 matmul reference ({settings['matmul_size']}x{settings['matmul_size']} `torch.mm`): "
        f"{matmul['gflops']:.1f} GFLOP/s (before the models {matmul['before']:.1f}, after {matmul['after']:.1f})\n"
    )
    method = (
        "- train slices/s: forward + L1 loss + backward + Adam step on a batch, median step time.\n"
        "- inference ms/slice: one no-grad forward pass of one slice; peak mem: extra memory of that pass.\n"
        "- GMACs/slice: one forward pass of one slice by `torch.utils.flop_counter`, FFTs included "
        "(`5 N log2 N` real FLOPs per complex FFT of N points; see `automri.eval.profile`).\n"
        f"- train GFLOP/s = {TRAIN_FLOPS_PER_FORWARD_FLOP} x 2 x MACs x slices/s (backward ~ 2 x forward); "
        "% of matmul = train GFLOP/s / the matmul reference of this run.\n"
        "- Breakdown: `torch.profiler` self time of one training step by operator kind; *element-wise* = "
        "all other aten kernels (activations, normalisation, adds, copies, reductions: memory-bound), "
        "*overhead* = autograd engine, Python and profiler time outside kernels; *DC share of forward* = "
        "time inside data-consistency layers (FFTs, k-space replacement, CG) over the forward pass.\n"
        "- Compare ratios (% of matmul) within one run, not raw rates across runs or machines.\n"
    )
    return [
        ("Run", run),
        ("Results", _results_table(result["models"])),
        (f"Target: conv-heavy models at >= {100 * TARGET_FRACTION:.0f} % of the matmul rate",
         _target_lines(result["models"])),
        ("Where the training time goes", _breakdown_table(result["models"])),
        ("Flower round overhead", _flower_text(result["flower"])),
        ("Method", method),
    ]
