"""The prepared GPU check behind ``benchmarks/gpu_check.sh`` (one device run, under 8 minutes).

``python -m automri.experiments.gpu_check --out docs/speed-gpu.md`` measures, on the first CUDA device:

1. CUDA vs CPU agreement of every benchmark model's forward pass (:data:`automri.experiments.speed.
   DEFAULT_MODELS`, seeded inputs at ``--check-size``, TF32 off): max |cuda - cpu| / max |cpu|;
2. training throughput (slices/s, median of ``--repeats`` timed steps after one warm-up) of every
   trainable model at ``--size`` (256) in fp32 and under bf16 autocast, by the one
   :class:`~automri.train.stepper.SupervisedStepper` (``bf16=True``), CUDA-synchronised;

and writes the Markdown page (the shell script appends the memory and DDP sections). Without
CUDA it stops at once with one line and exit status 3.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from automri.atomic import write_text_atomic
from automri.eval.memory import synthetic_batch
from automri.eval.profile import example_inputs
from automri.eval.report import machine_info, markdown_table
from automri.experiments.speed import DEFAULT_MODELS, build_benchmark_model
from automri.train.losses import build_loss
from automri.train.stepper import SupervisedStepper

NO_CUDA = ("gpu_check: CUDA is not available (torch.cuda.is_available() is False); run this on a machine with "
           "an NVIDIA GPU and a CUDA build of torch")
NO_CUDA_EXIT = 3
MASK = "random:rate=0.25,center=0.08"


def require_cuda() -> None:
    """Exit with :data:`NO_CUDA` (status 3) when there is no CUDA device."""
    if not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        raise SystemExit(NO_CUDA_EXIT)


def forward_agreement(name: str, size: int) -> dict[str, Any]:
    """``{"model", "max_abs", "rel"}``: the forward pass on CPU and on CUDA from the same weights and
    inputs (``[1, size, size]``), ``rel = max|cuda - cpu| / max|cpu|``."""
    torch.manual_seed(0)
    model = build_benchmark_model(name).eval()
    kspace, mask, sens = example_inputs(size, 1)
    with torch.no_grad():
        cpu = model(kspace, mask, sens)
        gpu = model.to("cuda")(kspace.cuda(), mask.cuda(), None if sens is None else sens.cuda()).cpu()
    diff = float((gpu - cpu).abs().max())
    return {"model": name, "max_abs": diff, "rel": diff / max(float(cpu.abs().max()), 1e-30)}


def train_rate(name: str, size: int, batch: int, repeats: int, bf16: bool) -> float | None:
    """Training slices/s of ``name`` (one SupervisedStepper step per timing; ``None``: no weights)."""
    torch.manual_seed(0)
    model = build_benchmark_model(name)
    if not any(p.requires_grad for p in model.parameters()):
        return None
    stepper = SupervisedStepper(model, build_loss("l1"), bf16=bf16, device="cuda")
    data = synthetic_batch(size, batch, MASK, seed=0)
    stepper.step(data)  # warm-up (cuDNN autotuning, allocator)
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        stepper.step(data)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def run(models: list[str], size: int, check_size: int, batch: int, repeats: int) -> dict[str, Any]:
    """Both measurements for every model: ``{"machine", "agreement": [...], "throughput": [...]}``."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    agreement = [forward_agreement(name, check_size) for name in models]
    torch.backends.cudnn.benchmark = True
    throughput = []
    for name in models:
        fp32 = train_rate(name, size, batch, repeats, bf16=False)
        if fp32 is None:
            continue
        bf16 = train_rate(name, size, batch, repeats, bf16=True)
        throughput.append({"model": name, "fp32 slices/s": fp32, "bf16 slices/s": bf16, "bf16 / fp32": bf16 / fp32})
    return {"machine": machine_info(), "agreement": agreement, "throughput": throughput}


def markdown(result: dict[str, Any], command: str) -> str:
    """The page: machine, command, the agreement and throughput tables."""
    machine = result["machine"]
    lines = ["# GPU check", "", f"Command: `{command}`  ", f"Date: {machine.get('date')}  ",
             f"GPU: {machine.get('gpu')}; torch {torch.__version__}, CUDA {torch.version.cuda}", "",
             "## CUDA vs CPU forward pass (fp32, TF32 off)", "",
             markdown_table(result["agreement"], ["model", "max_abs", "rel"], floatfmt=".2e"), "",
             "## Training throughput (SupervisedStepper, L1 loss, Adam)", "",
             markdown_table(result["throughput"], floatfmt=".3g"), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line of the check (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/speed-gpu.md"))
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--check-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    require_cuda()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    result = run(models, args.size, args.check_size, args.batch_size, args.repeats)
    command = "bash benchmarks/gpu_check.sh"
    write_text_atomic(args.out, markdown(result, command))
    print(f"gpu_check: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
