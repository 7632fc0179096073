"""EMR-NAS path binarization: ``sample`` (ProxylessNAS) against ``argmax`` (EMR-NAS Eq. 2) on the same search.

Both runs share everything (dataset, folds, seed, warm-up, search and retraining budgets); only
the rule that picks each cell's active op differs (:data:`automri.nas.rir.space.BINARIZE_RULES`).
For each rule the page reports, per search epoch, the mean margin of the chosen op over the
runner-up (how fast alpha separates, :mod:`automri.nas.diagnostics`), and the test PSNR/SSIM of the
derived ensemble architecture retrained on every fold (which rule finds the better architecture),
with a paired comparison over the folds' test volumes.

Run (writes ``docs/binarization.md``)::

    python benchmarks/binarization.py --dataset colin27 --out runs/binarization --doc docs/binarization.md
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path
from typing import Any

from automri.eval.report import machine_info, markdown_table, write_report
from automri.experiments.rir_search import run_rir_search
from automri.nas.diagnostics import SEPARATION_MARGIN
from automri.nas.options import SearchOptions
from automri.nas.rir.space import BINARIZE_RULES
from automri.train.runs import RunDir

TITLE = "EMR-NAS path binarization: sample (ProxylessNAS) vs argmax (Eq. 2)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="colin27")
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--components", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="steps per epoch")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--warmup-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8, help="search epochs after the warm-up")
    parser.add_argument("--retrain-epochs", type=int, default=8)
    parser.add_argument("--mask", default="random:rate=0.15,center=0.04")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/binarization"))
    parser.add_argument("--doc", type=Path, default=Path("docs/binarization.md"))
    return parser.parse_args(argv)


def options_for(args: argparse.Namespace, rule: str) -> SearchOptions:
    """The search of ``rule``: identical for both rules except ``strategy_options["binarize"]``."""
    return SearchOptions(
        space="rir", strategy="proxyless", dataset=args.dataset, size=args.size, mask=args.mask, phase=0.0,
        epochs=args.epochs, warmup_epochs=args.warmup_epochs, steps=args.steps, batch_size=args.batch_size,
        folds=args.folds, seed=args.seed, out=args.out / rule, resume=(args.out / rule).is_dir(),
        retrain_epochs=args.retrain_epochs, space_options={"width": args.width, "components": args.components},
        strategy_options={"binarize": rule},
    )


def margins_per_epoch(out: Path, folds: int) -> list[list[float]]:
    """Per fold, the mean margin of each search epoch (warm-up epochs left out) from ``alpha.jsonl``."""
    curves = []
    for fold in range(folds):
        records = RunDir(out / f"fold-{fold}" / "search", resume=True).read_jsonl("alpha.jsonl")
        curves.append([r["separation"]["mean_margin"] for r in records if r.get("phase") != "warmup"])
    return curves


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both searches (resumable), their retrained test scores and separation curves."""
    results: dict[str, Any] = {}
    for rule in BINARIZE_RULES:
        started = time.perf_counter()
        summary = run_rir_search(options_for(args, rule), figures=False)
        results[rule] = {
            "display": summary["display"],
            "test": summary["test"]["mean_std"],
            "fold_test": [fold["test"] for fold in summary["folds"]],
            "margins": margins_per_epoch(args.out / rule, args.folds),
            "seconds": time.perf_counter() - started,
        }
    return results


def _first_separated(curve: list[float]) -> str:
    epoch = next((i + 1 for i, m in enumerate(curve) if m >= SEPARATION_MARGIN), None)
    return "never" if epoch is None else f"epoch {epoch}"


def render(results: dict[str, Any], args: argparse.Namespace, command: str) -> list[tuple[str, str]]:
    """The page's sections."""
    rows = []
    for rule, entry in results.items():
        finals = [curve[-1] for curve in entry["margins"] if curve]
        rows.append({
            "rule": rule,
            "architecture": f"`{entry['display']}`",
            "test PSNR": f"{entry['test']['psnr']['mean']:.3f} ± {entry['test']['psnr']['std']:.3f}",
            "test SSIM": f"{entry['test']['ssim']['mean']:.4f} ± {entry['test']['ssim']['std']:.4f}",
            "final mean margin (per fold)": ", ".join(f"{m:.3f}" for m in finals),
            "separated (margin >= 0.02)": ", ".join(_first_separated(c) for c in entry["margins"]),
        })
    deltas = [a["psnr"] - s["psnr"] for a, s in zip(results["argmax"]["fold_test"], results["sample"]["fold_test"])]
    curve_rows = []
    for rule, entry in results.items():
        for fold, curve in enumerate(entry["margins"]):
            curve_rows.append({"rule": rule, "fold": fold, **{f"e{i + 1}": f"{m:.3f}" for i, m in enumerate(curve)}})
    machine = machine_info()
    return [
        ("Setting", f"Command: `{command}`  \nMachine: {machine['cpu']}, {machine['cores']} cores, torch "
                    f"{machine['torch']}; date {machine['date']}.  \n{args.folds} folds of `{args.dataset}`, "
                    f"{args.size} px, mask `{args.mask}`, width {args.width}, {args.components} components; "
                    f"{args.warmup_epochs} warm-up + {args.epochs} search epochs of {args.steps} steps, "
                    f"{args.retrain_epochs} retraining epochs. Both rules use the same folds, seed and budgets."),
        ("Result", markdown_table(rows) + "\n\nPer-fold test PSNR difference argmax − sample: "
         + ", ".join(f"{d:+.3f} dB" for d in deltas) + ". A difference within 0.3 dB is a tie."),
        ("Separation over the search epochs (mean margin per epoch)", markdown_table(curve_rows)),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both searches and write the page ``--doc``."""
    args = parse_args(argv)
    command = shlex.join(["python", "benchmarks/binarization.py", *(argv or [])])
    results = run(args)
    write_report(args.doc, render(results, args, command), title=TITLE)
    print(f"wrote {args.doc}")
    return results
