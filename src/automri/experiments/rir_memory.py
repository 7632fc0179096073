"""Peak memory of EMR-NAS search steps versus training the derived network.

Three cases, each measured in a FRESH Python subprocess so that no allocator cache or high-water
mark leaks between them:

* ``binarized``: one Algorithm 1 step of :class:`automri.nas.proxyless.ProxylessStrategy` on the
  supernet with ProxylessNAS ``full_v2`` edges (weight step on a train batch + alpha step on a val
  batch);
* ``softmax``: the same step with DARTS softmax mixing (every candidate's activations kept);
* ``derived``: one supervised training step (Adam) of the derived network (the paper's Cardiac
  architecture ``[O5 O8 O8|O8 O8 O8|O4 O1 O2|O8 O8 O8|O6 O8 O8]``).

Reported (:mod:`automri.eval.memory`): the RSS before the step (model, optimiser and batch built),
the peak RSS during the step (Linux ``VmHWM``, reset just before the step) and their difference,
and with CUDA ``torch.cuda.max_memory_allocated`` over the step. Target of the ProxylessNAS
design: binarized <= 1.5 x derived.

Paper scale (writes docs/emrnas-memory.md)::

    python benchmarks/memory_rir_search.py --size 256 --batch 8 --device cuda

Quick check (no report)::

    python benchmarks/memory_rir_search.py --size 32 --batch 2 --width 8 --no-report
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys

import torch

from automri.atomic import write_text_atomic
from automri.eval.memory import available_memory_mib, in_fresh_process, measure_step, synthetic_batch
from automri.eval.report import machine_info
from automri.nas.proxyless import ProxylessStrategy
from automri.nas.rir.genotype import DEFAULT_WIDTH, PAPER_CARDIAC_OPS
from automri.nas.rir.network import RIRNet
from automri.nas.rir.space import RIRSearchNet
from automri.train.losses import build_loss
from automri.train.stepper import SupervisedStepper

CASES = ("binarized", "softmax", "derived")
MASK = "random:rate=0.15,center=0.04"


def measure(
    case: str, size: int, batch_size: int, width: int, components: int, device: str, threads: int
) -> dict[str, float]:
    """Build the case's model and a batch, run one step, return memory figures in MiB."""


    torch.manual_seed(0)
    torch.set_num_threads(threads)
    target_device = torch.device(device)
    loss = build_loss("mse")
    if case == "derived":
        ops = (list(PAPER_CARDIAC_OPS) * components)[: 3 * components]  # the paper's net when components = 5
        model = RIRNet(ops, width=width, components=components)
        stepper = SupervisedStepper(model, loss, device=target_device)
    else:
        mode = "full" if case == "binarized" else "softmax"
        model = RIRSearchNet(width=width, components=components, mode=mode).to(target_device)
        stepper = ProxylessStrategy(model, loss, mode=mode, warmup_epochs=0)
    train_batch = synthetic_batch(size, batch_size, MASK, seed=1).to(target_device)
    val_batch = synthetic_batch(size, batch_size, MASK, seed=2).to(target_device)
    result = measure_step(lambda: stepper.step(train_batch, val_batch), target_device)
    result["params"] = float(sum(p.numel() for p in model.parameters()))
    return result


def run_case_in_subprocess(case: str, args: argparse.Namespace) -> dict[str, float]:
    """:func:`measure` of ``case`` in a fresh Python process."""

    cap = available_memory_mib() if args.device == "cpu" else None  # a case too big fails alone
    return in_fresh_process(measure, case, args.size, args.batch, args.width, args.components, args.device,
                            args.threads, threads=args.threads, max_memory_mib=cap)


def machine() -> str:
    """One line from :func:`automri.eval.report.machine_info`."""

    info = machine_info()
    return (f"{info['cpu']}, {info['cores']} CPUs, {info['gpu'] or 'no CUDA'}, torch {info['torch']}, "
            f"python {info['python']}")


def table(results: dict[str, dict[str, float]], cuda: bool) -> str:
    head = "| case | params | RSS before step (MiB) | peak RSS (MiB) | peak RSS - before (MiB) |"
    sep = "|---|---:|---:|---:|---:|"
    if cuda:
        head += " CUDA peak allocated (MiB) |"
        sep += "---:|"
    lines = [head, sep]
    for case, r in results.items():
        if "error" in r:
            lines.append(f"| {case} | failed: {r['error']} |")
            continue
        row = (f"| {case} | {int(r['params']):,} | {r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} | "
               f"{r['step_mib']:.0f} |")
        if cuda:
            row += f" {r.get('cuda_peak_mib', float('nan')):.0f} |"
        lines.append(row)
    return "\n".join(lines)


def ratios(results: dict[str, dict[str, float]], cuda: bool) -> str:
    key = "cuda_peak_mib" if cuda else None
    lines = []
    derived = results.get("derived", {})
    for case in ("binarized", "softmax"):
        r = results.get(case, {})
        if "error" in r or "error" in derived or not r or not derived:
            continue
        if key:
            value = r[key] / derived[key]
            what = "CUDA peak"
        else:
            value = r["step_mib"] / max(1e-9, derived["step_mib"])
            what = "step RSS growth"
        lines.append(f"- {case} / derived ({what}): **{value:.2f}x**" + (" (target <= 1.5x)" if case == "binarized" else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the cases (``argv``: the command-line flags; default ``sys.argv[1:]``) and write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (paper: 256)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (paper: 8)")
    parser.add_argument("--width", type=int, default=None, help="channels F (default: nas.rir.genotype.DEFAULT_WIDTH)")
    parser.add_argument("--components", type=int, default=5, help="cascaded components N (paper: 5)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per case")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--report", default="docs/emrnas-memory.md", help="Markdown report path")
    parser.add_argument("--no-report", action="store_true", help="print only, write no report")
    args = parser.parse_args(argv)
    if args.width is None:
        args.width = DEFAULT_WIDTH
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.case:
        print(json.dumps(measure(args.case, args.size, args.batch, args.width, args.components, args.device, args.threads)))
        return
    results = {case: run_case_in_subprocess(case, args) for case in CASES}
    cuda = args.device.startswith("cuda")
    body = table(results, cuda) + "\n\n" + ratios(results, cuda)
    print(body)
    if not args.no_report:
        command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
        text = (
            "# EMR-NAS search memory (ProxylessNAS binarisation vs softmax mixing vs derived net)\n\n"
            f"Command: `{command}`  \nMachine: {machine()}  \n"
            f"Date: {dt.datetime.now().isoformat(timespec='seconds')}  \n"
            f"Setting: {args.size}x{args.size}, batch {args.batch}, width {args.width}, "
            f"{args.components} components, device {args.device}. Each case runs in a fresh process.\n\n"
            + body + "\n"
        )

        path = write_text_atomic(args.report, text)
        print(f"wrote {path}")
