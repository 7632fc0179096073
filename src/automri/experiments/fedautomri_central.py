"""FedAutoMRI's cell space searched centrally, retrained, compared with MoDL; writes the evidence page.

What it runs (everything under ``--out RUN``):

1. ``RUN/search/``: :func:`automri.experiments.cell_search.run_cell_search` with MiLeNAS on the built-in
   dataset (search net: hidden 16, 3 cells of 3 nodes, K = 5), then the derived network retrained
   from scratch (``RUN/search/retrain/``). Writes ``genotype.json``, ``alpha.jsonl``, figures.
2. ``RUN/modl/``: MoDL trained with :func:`automri.train.engine.train` (what ``automri train``
   runs) from its shipped recipe ``configs/modl.yaml``, with K = 5 unrolled iterations (the
   FedAutoMRI setting) and the same dataset, size, mask, batch size, step cap and seed as the
   search; ``--modl-epochs`` defaults to ``--retrain-epochs``.
3. Both best checkpoints scored on the SAME test split (checked item by item): PSNR / SSIM on
   magnitudes, fastMRI per-volume and per-slice conventions, mean +- std.
4. Cost at ``--profile-size`` (256) with K = 5: parameters, MACs by ``torch.utils.flop_counter``
   (convolutions, FFTs; with the closed-form single-coil DC and with the CG DC of the official
   code), latency; for the found genotype, the official ``FedNAS_V1``, the trained MoDL and the
   FedAutoMRI authors' MoDL variant, next to the paper's numbers.
5. Peak memory of one MiLeNAS search step (``CellSearchNet``) against one training step of the
   derived ``CellNet`` (and of ``FedNAS_V1``) at ``--memory-size`` / ``--memory-batch``, each in a
   fresh process (:mod:`automri.eval.memory`).
6. ``RUN/results.json`` and the Markdown page ``--doc`` (command, machine, date; figures copied to
   ``<doc folder>/figures/``), both written atomically.

Full run (the evidence of docs/fedautomri-search.md)::

    python benchmarks/fedautomri_search.py --dataset colin27 --size 64 --epochs 10 --steps 10 \\
        --retrain-epochs 20 --modl-epochs 20 --seed 0 --out runs/fedautomri-search \\
        --doc docs/fedautomri-search.md --memory-size 256 --memory-batch 4

Smoke run::

    python benchmarks/fedautomri_search.py --size 16 --epochs 1 --steps 2 --retrain-epochs 1 \\
        --profile-size 32 --memory-size 32 --memory-batch 1 --out /tmp/fas --doc /tmp/fas/doc.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from automri.atomic import atomic_path, write_text_atomic
from automri.errors import AutoMRIError
from automri.eval.memory import available_memory_mib, in_fresh_process, measure_step, synthetic_batch
from automri.eval.profile import count_flops, example_inputs, measure_latency
from automri.eval.report import machine_info, markdown_table, write_report
from automri.experiments.cell_search import (
    RETRAIN_LR,
    RETRAIN_OPTIMIZER,
    STRATEGY_DEFAULTS,
    run_cell_search,
    search_datasets,
    space_settings,
    strategy_losses,
    strategy_settings,
)
from automri.experiments.experiment import now, read_jsonl
from automri.experiments.scales import AUTHORS_MODL
from automri.models.registry import build_model, count_params
from automri.nas.cell.genotype import FEDNAS_V1
from automri.nas.cell.space import CellSearchNet
from automri.nas.factory import build_network
from automri.nas.options import SearchOptions
from automri.nas.strategies import build_strategy
from automri.physics.dc import ProximalDC
from automri.train.checkpoint import load_checkpoint
from automri.train.config import apply_overrides, builtin_config
from automri.train.device import resolve_device
from automri.train.engine import build_split, load_trained, train
from automri.train.evaluate import evaluate_model
from automri.train.losses import build_loss
from automri.train.stepper import SupervisedStepper

PAPER = {
    "fedautomri": {"params": 0.016e6, "macs": 4.92e9},
    "modl": {"params": 0.26e6, "macs": 85.65e9},
}
"""FedAutoMRI paper, Table 2: Param/M and FLOPs/G (FLOPs there are MACs, see :data:`PAPER_COUNTING`)."""

PAPER_COUNTING = (
    "The paper's FLOPs/G column counts multiply-accumulates of the convolutions of one 256x256 slice "
    "over the 5 unrolled iterations (methods.md 1.5: 0.016M / 4.92G is about 15k MACs per pixel x "
    "256^2 pixels x 5 iterations; the authors' MoDL, 9 convolutions of 64 channels = 260,866 "
    "parameters, gives 260k MACs/pixel x 65,536 x 5 = 85.3G); FFTs and CG are not in that count."
)
DEFAULT_MASK = "random:rate=0.25,center=0.094"  # the official mask_1DRandom_4x_acs24 (configs/cell.yaml)
MODL_ITERATIONS = 5
MEMORY_CASES = ("search", "derived", "fednas_v1")
SCORES = ("psnr", "ssim")
DOC_TITLE = "FedAutoMRI cell search: centralised search, retraining and comparison with MoDL"


# --- options ---------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line flags (``argv``: without the program name; ``None``: ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="colin27", help="built-in dataset name or path")
    parser.add_argument("--size", type=int, default=64, help="image side for search and training (px)")
    parser.add_argument("--mask", default=DEFAULT_MASK, help="mask spec (default: 4x 1D random, 24/256 ACS)")
    parser.add_argument("--epochs", type=int, default=10, help="search epochs")
    parser.add_argument("--steps", type=int, default=None, help="cap on steps per epoch (search, retrain, MoDL)")
    parser.add_argument("--batch-size", type=int, default=4, help="slices per step (search, retrain, MoDL)")
    parser.add_argument("--retrain-epochs", type=int, default=20, help="epochs to retrain the derived net")
    parser.add_argument("--modl-epochs", type=int, default=None, help="MoDL epochs (default: --retrain-epochs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--out", type=Path, default=Path("runs/fedautomri-search"), help="run folder")
    parser.add_argument("--doc", type=Path, default=Path("docs/fedautomri-search.md"), help="Markdown page to write")
    parser.add_argument("--profile-size", type=int, default=256, help="image side of the cost table (paper: 256)")
    parser.add_argument("--latency-repeats", type=int, default=3, help="timed forward passes per model")
    parser.add_argument("--memory-size", type=int, default=256, help="image side of the memory cases")
    parser.add_argument("--memory-batch", type=int, default=4, help="batch size of the memory cases")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory cases")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--resume", action="store_true", help="continue the runs in --out")
    args = parser.parse_args(argv)
    if args.modl_epochs is None:
        args.modl_epochs = args.retrain_epochs
    _check(args)

    args.device = str(resolve_device(args.device))  # run_cell_search's retraining needs a concrete device
    return args


def _check(args: argparse.Namespace) -> None:
    positive = {"--size": args.size, "--epochs": args.epochs, "--batch-size": args.batch_size,
                "--retrain-epochs": args.retrain_epochs, "--modl-epochs": args.modl_epochs,
                "--profile-size": args.profile_size, "--latency-repeats": args.latency_repeats,
                "--memory-size": args.memory_size, "--memory-batch": args.memory_batch}
    if args.steps is not None:
        positive["--steps"] = args.steps
    if args.threads is not None:
        positive["--threads"] = args.threads
    for flag, value in positive.items():
        if value < 1:
            raise AutoMRIError(f"{flag} {value}: expected a positive integer (the comparison needs trained models)")
    for flag, value in {"--size": args.size, "--profile-size": args.profile_size, "--memory-size": args.memory_size}.items():
        if value < 8:
            raise AutoMRIError(f"{flag} {value}: expected at least 8 pixels")


def search_options(args: argparse.Namespace) -> Any:
    """The :class:`~automri.nas.options.SearchOptions` of the centralised MiLeNAS search (K = 5)."""

    return SearchOptions(
        space="cell", strategy="milenas", dataset=args.dataset, size=args.size, mask=args.mask, epochs=args.epochs,
        steps=args.steps, batch_size=args.batch_size, seed=args.seed, out=args.out / "search",
        resume=args.resume and (args.out / "search").is_dir(),
        device=args.device, retrain_epochs=args.retrain_epochs, space_options={"iterations": MODL_ITERATIONS},
    )


def modl_config(args: argparse.Namespace) -> Any:
    """MoDL's shipped recipe (``configs/modl.yaml``) with K = 5 and the search's data, batch, steps, seed."""

    config = builtin_config("modl")
    overrides = {
        "model.options": {**config.model.options, "iterations": MODL_ITERATIONS},
        "data.dataset": args.dataset, "data.size": args.size, "data.mask": args.mask,
        "train.epochs": args.modl_epochs, "train.steps": args.steps, "train.batch_size": args.batch_size,
        "seed": args.seed, "device": args.device,
    }
    return apply_overrides(config, overrides, source="benchmarks/fedautomri_search.py")


# --- training and testing --------------------------------------------------------------------
def split_signature(dataset: Any) -> tuple:
    """What defines a split's samples: items, size, mask, seed, coils, noise."""
    return (tuple(dataset.items), dataset.size, str(dataset.mask_spec), dataset.seed, dataset.coils, dataset.noise)


def trained_cell_net(genotype: dict[str, Any], run: Path) -> Any:
    """The derived network of ``genotype`` with the retrained weights of ``run`` (best, else last)."""

    model = build_network(genotype)
    path = next((p for p in (run / "checkpoint-best.pt", run / "checkpoint-last.pt") if p.is_file()), None)
    if path is None:
        raise AutoMRIError(f"{run}: no checkpoint of the retrained network")
    model.load_state_dict(load_checkpoint(path)["model"])
    return model.eval()


def score_split(model: Any, dataset: Any, batch_size: int, device: str) -> dict[str, Any]:
    """PSNR / SSIM of ``model`` on ``dataset``: ``{"volume": {metric: {mean, std, n}}, "slice": ...}``."""

    result = evaluate_model(model, dataset, batch_size, device, panels=0, progress=False)
    return {"volume": {m: result["volume_summary"][m] for m in SCORES},
            "slice": {m: result["slice_summary"][m] for m in SCORES}}


def run_experiment(args: argparse.Namespace) -> dict[str, Any]:
    """Search + retrain, train MoDL, test both on the same split; the ``search``/``quality`` results."""

    options = search_options(args)
    search = run_cell_search(options)
    config = modl_config(args)
    modl_run = args.out / "modl"
    modl = train(config, modl_run, resume=args.resume and modl_run.is_dir(), progress=True)
    test_set = build_split(config, "test")
    data = search_datasets(options)
    if split_signature(data["test"]) != split_signature(test_set):
        raise AutoMRIError("the search's test split and MoDL's differ (dataset/size/mask/seed mismatch)")
    cell = trained_cell_net(search["genotype"], options.out / "retrain")
    modl_model, _ = load_trained(modl_run, device=args.device)
    quality = {
        "found": {"params": count_params(cell), "epochs": args.retrain_epochs,
                  **score_split(cell, test_set, args.batch_size, args.device)},
        "modl": {"params": count_params(modl_model), "epochs": args.modl_epochs,
                 **score_split(modl_model, test_set, args.batch_size, args.device)},
    }
    return {
        "search": {
            "genotype": search["genotype"], "best_genotype": search["best_genotype"],
            "best_epoch": search["best_epoch"], "val": search["val"], "retrain": search.get("retrain"),
            "alpha_history": [r["weights"] for r in read_jsonl(options.out / "alpha.jsonl")],
            "slices": {name: len(d) for name, d in data.items()},
        },
        "modl": {"options": config.model.options, "train": {k: modl[k] for k in ("epochs", "best_epoch", "best_psnr")}},
        "recipes": {
            "found": {"optimizer": RETRAIN_OPTIMIZER, "lr": RETRAIN_LR, "loss": STRATEGY_DEFAULTS["loss"], "grad_clip": None},
            "modl": {k: getattr(config.train, k) for k in ("optimizer", "lr", "loss", "grad_clip")},
        },
        "quality": quality,
    }


# --- cost --------------------------------------------------------------------------------------
def use_cg(model: Any) -> Any:
    """``model`` with every :class:`~automri.physics.dc.ProximalDC` solving by CG (as the official
    code does) instead of the exact single-coil closed form."""

    for module in model.modules():
        if isinstance(module, ProximalDC):
            module.closed_form = False
    return model


def cost(model: Any, size: int, repeats: int) -> dict[str, Any]:
    """Parameters, MACs (total / convolutions / FFTs, closed-form DC; total with CG DC) and median
    no-grad latency of one slice ``size x size``."""

    model = model.eval()
    inputs = example_inputs(size)
    flops = count_flops(model, inputs)
    conv = sum(v for k, v in flops.items() if "convolution" in k) // 2
    fft = sum(v for k, v in flops.items() if "_fft_" in k) // 2
    row = {"params": count_params(model, trainable_only=False), "macs": sum(flops.values()) // 2, "conv_macs": conv, "fft_macs": fft,
           "latency_ms": measure_latency(model, inputs, repeats=repeats, warmup=1)}
    row["macs_cg"] = sum(count_flops(use_cg(model), inputs).values()) // 2
    return row


def profile_costs(genotype: dict[str, Any], modl_options: dict[str, Any], size: int, repeats: int) -> dict[str, Any]:
    """:func:`cost` of the found genotype, ``FedNAS_V1``, the trained MoDL and the authors' MoDL (K = 5)."""

    return {
        "found": cost(build_network(genotype, iterations=MODL_ITERATIONS), size, repeats),
        "fednas_v1": cost(build_network(FEDNAS_V1, iterations=MODL_ITERATIONS), size, repeats),
        "modl": cost(build_model("modl", **{**modl_options, "iterations": MODL_ITERATIONS}), size, repeats),
        "modl_authors": cost(build_model("modl", **AUTHORS_MODL), size, repeats),
    }


# --- memory ------------------------------------------------------------------------------------
def memory_case(case: str, size: int, batch_size: int, genotype: dict[str, Any], device: str) -> dict[str, Any]:
    """One step's memory (:func:`automri.eval.memory.measure_step`), run in a fresh process.

    ``search``: one MiLeNAS step (alpha step on a train and a val batch, then the w step) of
    ``CellSearchNet`` with the search's settings. ``derived`` / ``fednas_v1``: one training step
    (AdamW, magnitude MSE, as the retraining) of the ``CellNet`` of ``genotype`` / ``FedNAS_V1``.
    """
    torch.manual_seed(0)
    target = resolve_device(device)
    train_batch = synthetic_batch(size, batch_size, DEFAULT_MASK, seed=1).to(target)
    if case == "search":
        options = SearchOptions(space_options={"iterations": MODL_ITERATIONS})
        settings = strategy_settings(options)
        model = CellSearchNet(**space_settings(options)).to(target)
        loss, arch_loss = strategy_losses(settings)
        stepper: Any = build_strategy("milenas", model, loss, arch_loss=arch_loss, **settings)
        val_batch = synthetic_batch(size, batch_size, DEFAULT_MASK, seed=2).to(target)
        step = lambda: stepper.step(train_batch, val_batch)  # noqa: E731
    else:
        model = build_network(genotype if case == "derived" else FEDNAS_V1, iterations=MODL_ITERATIONS)
        stepper = SupervisedStepper(model, build_loss("mse_mag"), optimizer=RETRAIN_OPTIMIZER, lr=RETRAIN_LR,
                                    device=target)
        step = lambda: stepper.step(train_batch)  # noqa: E731
    return {**measure_step(step, target), "params": sum(p.numel() for p in model.parameters())}


def measure_memory(genotype: dict[str, Any], size: int, batch_size: int, device: str,
                   threads: int) -> dict[str, dict[str, Any]]:
    """:func:`memory_case` of every case in :data:`MEMORY_CASES`, each in a fresh process (on CPU
    capped at the memory available when it starts, so that a case too big fails alone)."""

    results = {}
    for case in MEMORY_CASES:
        cap = available_memory_mib() if device == "cpu" else None
        results[case] = {**in_fresh_process(memory_case, case, size, batch_size, genotype, device, threads=threads,
                                            max_memory_mib=cap), "cap_mib": cap}
    return results


# --- the page ----------------------------------------------------------------------------------
def _mean_std(summary: dict[str, Any], digits: int) -> str:
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"


def _genotype_lines(genotype: dict[str, Any]) -> list[str]:
    names = {0: "c_{k-2}", 1: "c_{k-1}"}
    return [f"- node {i}: " + ", ".join(f"`{op}` <- {names.get(j, f'node {j - 2}')}" for op, j in node)
            for i, node in enumerate(genotype["nodes"])]


def copy_figures(run: Path, doc: Path) -> dict[str, Path]:
    """Copy the search's ``alpha.png`` and ``genotype.png`` to ``<doc folder>/figures/`` (atomically)."""

    copied = {}
    for name in ("alpha", "genotype"):
        source = run / "search" / "figures" / f"{name}.png"
        target = doc.parent / "figures" / f"fedautomri-search-{name}.png"
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        copied[name] = target
    return copied


def _cost_section(costs: dict[str, Any], size: int) -> str:
    labels = {"found": "found genotype (this search)", "fednas_v1": "FedNAS_V1 (official genotype)",
              "modl": "MoDL (trained here)", "modl_authors": "MoDL, FedAutoMRI authors' variant"}
    paper = {"found": PAPER["fedautomri"], "fednas_v1": PAPER["fedautomri"], "modl": PAPER["modl"],
             "modl_authors": PAPER["modl"]}
    rows = [{
        "model": labels[name], "params (M)": f"{c['params'] / 1e6:.4f}", "paper params (M)": f"{paper[name]['params'] / 1e6:g}",
        "conv GMACs": f"{c['conv_macs'] / 1e9:.2f}", "paper FLOPs (G)": f"{paper[name]['macs'] / 1e9:g}",
        "FFT GMACs": f"{c['fft_macs'] / 1e9:.4f}", "total GMACs": f"{c['macs'] / 1e9:.3f}",
        "total GMACs, CG DC": f"{c['macs_cg'] / 1e9:.3f}", "latency (ms)": f"{c['latency_ms']:.0f}",
    } for name, c in costs.items()]
    return "\n".join([
        f"One slice of {size}x{size}, K = {MODL_ITERATIONS} unrolled iterations, batch 1, no gradients "
        "(`automri.eval.profile`: `torch.utils.flop_counter`, MACs = FLOPs / 2; a complex 2-D FFT of N points "
        "counts 2.5 N log2 N MACs). *conv GMACs* is the quantity the paper reports; *total* adds the FFTs of the "
        "closed-form single-coil data consistency used here, *CG DC* the FFTs of the conjugate-gradient solve "
        "of the official code (10 iterations at most, tolerance 1e-10).",
        "",
        markdown_table(rows),
        PAPER_COUNTING,
        "",
        "MoDL trained here is the baselines recipe (`configs/modl.yaml`: 5 conv+BN+ReLU layers of 64 "
        f"filters) with K = {MODL_ITERATIONS}; the authors' variant is 9 biased 3x3 convolutions of 64 "
        "channels without BN (`n_layers=9, batch_norm=False`), their SLAM attention block left out.",
    ])


def _recipe(recipe: dict[str, Any]) -> str:
    clip = f", gradient norm clipped at {recipe['grad_clip']:g}" if recipe["grad_clip"] else ""
    return f"{recipe['optimizer']} lr {recipe['lr']:g}, loss `{recipe['loss']}`{clip}"


def _quality_section(quality: dict[str, Any], slices: dict[str, int], recipes: dict[str, Any]) -> str:
    labels = {"found": "found genotype, retrained", "modl": f"MoDL (K = {MODL_ITERATIONS})"}
    rows = []
    for name, q in quality.items():
        rows.append({
            "model": labels[name], "params": f"{q['params']:,}", "epochs": q["epochs"],
            "PSNR (dB), per volume": _mean_std(q["volume"]["psnr"], 2), "SSIM, per volume": _mean_std(q["volume"]["ssim"], 4),
            "PSNR (dB), per slice": _mean_std(q["slice"]["psnr"], 2), "SSIM, per slice": _mean_std(q["slice"]["ssim"], 4),
        })
    volumes = quality["found"]["volume"]["psnr"]["n"]
    return "\n".join([
        f"Both models' best checkpoints (highest validation PSNR) scored on the same test split ({slices['test']} "
        f"slices, {volumes} volume(s); checked item by item). Magnitude images; *per volume*: fastMRI convention "
        "(data range = the volume's maximum, SSIM 7x7 window), mean ± std over volumes; *per slice*: FedAutoMRI's "
        "convention (data range = the slice's maximum), mean ± std over slices.",
        "",
        markdown_table(rows),
        f"Training: both from scratch on the whole train split ({slices['train']} slices) with the same batch "
        "size, step cap and seed, the checkpoint kept by validation PSNR; the searched net with the official "
        f"training phase ({_recipe(recipes['found'])}), MoDL with its baselines recipe "
        f"({_recipe(recipes['modl'])}).",
        "",
        *(["With a single test volume the per-volume std is 0 by construction; the per-slice spread is the "
           "informative one.", ""] if volumes == 1 else []),
    ])


def _memory_section(memory: dict[str, Any], size: int, batch: int, device: str) -> str:
    labels = {"search": "MiLeNAS search step (CellSearchNet)", "derived": "training step, found genotype (CellNet)",
              "fednas_v1": "training step, FedNAS_V1 (CellNet)"}
    rows, cuda = [], any("cuda_step_mib" in r for r in memory.values())
    for case, r in memory.items():
        cap = "" if r["cap_mib"] is None else f"{r['cap_mib']:.0f}"
        if "error" in r:
            rows.append({"case": labels[case], "cap (MiB)": cap, "params": f"failed: {r['error']}"})
            continue
        row = {"case": labels[case], "cap (MiB)": cap, "params": f"{r['params']:,}",
               "RSS before (MiB)": f"{r['rss_before_mib']:.0f}", "peak RSS (MiB)": f"{r['peak_rss_mib']:.0f}",
               "step (MiB)": f"{r['step_mib']:.0f}"}
        if cuda:
            row["CUDA step (MiB)"] = f"{r['cuda_step_mib']:.0f}"
        rows.append(row)
    key = "cuda_step_mib" if cuda else "step_mib"
    ratios = [f"- search step / training step of the {'found net' if case == 'derived' else 'FedNAS_V1 net'}: "
              f"**{memory['search'][key] / memory[case][key]:.1f}x**"
              for case in ("derived", "fednas_v1")
              if all("error" not in memory[c] and memory[c][key] > 0 for c in ("search", case))]
    return "\n".join([
        f"{size}x{size}, batch {batch}, device {device}; each case built and stepped once in a fresh Python process "
        "(`automri.eval.memory`). *step* = peak RSS during the step minus RSS before it (model, optimiser and "
        "batches built): the activations kept for the backward passes, gradients and the first optimiser "
        "moments. The search step runs the alpha step (MiLeNAS: gradients of the train and val losses) and "
        "then the w step, all 8 candidate ops on each of the 9 edges of every cell. On CPU a case may grow by "
        "at most *cap*, the memory the machine had available when it started; a case that needs more fails "
        "alone with an allocation error.",
        "",
        markdown_table(rows),
        *ratios,
    ])


def render(results: dict[str, Any], figures: dict[str, Path], doc: Path) -> list[tuple[str, str]]:
    """The page's sections from ``results`` (``figures`` linked relative to ``doc``'s folder)."""

    args, search, run = results["args"], results["search"], results["run"]
    machine = run["machine"]
    genotype = search["genotype"]
    link = {name: path.relative_to(doc.parent).as_posix() for name, path in figures.items()}
    settings = [{"setting": k, "value": v} for k, v in args.items()]
    sections = [
        ("How this was produced", "\n".join([
            f"Command: `{run['command']}`", "",
            f"Date: started {run['started']}, finished {run['finished']} ("
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in run["seconds"].items()) + ").", "",
            f"Machine: {machine['cpu']}, {machine['cores']} cores ({machine['torch_threads']} torch threads), "
            f"GPU: {machine['gpu'] or 'none'}; torch {machine['torch']}, Python {machine['python']}, "
            f"{machine['platform']}.", "",
            markdown_table(settings, ["setting", "value"]),
            f"Runs: `{args['out']}/search` (search, `genotype.json`, `alpha.jsonl`), `{args['out']}/search/retrain`, "
            f"`{args['out']}/modl`; all numbers in `{args['out']}/results.json`.",
        ])),
        ("Search", "\n".join([
            f"MiLeNAS (first order, beta = 1; Adam on alpha lr 3e-3, on w lr 1e-3) on `{args['dataset']}` at "
            f"{args['size']}x{args['size']}, mask `{args['mask']}`, {args['epochs']} epochs of at most "
            f"{args['steps'] or 'all'} steps, batch {args['batch_size']}. Slices: "
            + ", ".join(f"{k} {v}" for k, v in search["slices"].items())
            + " (the train split is cut into the weight part and the alpha part; val scores each epoch; test "
              "scores only the final models).", "",
            f"Genotype found (final alphas, DARTS rule on softmax weights: 2 strongest incoming edges per node), "
            f"hidden {genotype['hidden']}, {genotype['cells']} cells, K = {genotype['iterations']}:", "",
            *_genotype_lines(genotype), "",
            "```json", json.dumps(genotype["nodes"]), "```", "",
            f"Genotype of the epoch with the best validation PSNR (epoch {search['best_epoch']}): "
            f"`{json.dumps(search['best_genotype']['nodes'])}`. Search network at the last epoch: val PSNR "
            f"{search['val']['psnr']:.2f} dB, SSIM {search['val']['ssim']:.4f}.", "",
            f"![softmax weights of every edge's 8 ops over the search epochs]({link['alpha']})", "",
            f"![the derived cell]({link['genotype']})",
        ])),
        (f"Cost at {args['profile_size']}x{args['profile_size']}, K = {MODL_ITERATIONS}",
         _cost_section(results["costs"], args["profile_size"])),
        ("Quality against MoDL on the same split", _quality_section(results["quality"], search["slices"], results["recipes"])),
    ]
    if results.get("memory"):
        sections.append(("Peak memory: search step vs training step",
                         _memory_section(results["memory"], args["memory_size"], args["memory_batch"], args["device"])))
    return sections


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run everything (module docstring) and write ``--out/results.json`` and ``--doc``; return the results."""


    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    started, clock = now(), time.perf_counter()
    results = run_experiment(args)
    seconds = {"search, retrain, MoDL, test": time.perf_counter() - clock}
    clock = time.perf_counter()
    results["costs"] = profile_costs(results["search"]["genotype"], results["modl"]["options"], args.profile_size,
                                     args.latency_repeats)
    seconds["cost"] = time.perf_counter() - clock
    if not args.no_memory:
        clock = time.perf_counter()
        results["memory"] = measure_memory(results["search"]["genotype"], args.memory_size, args.memory_batch,
                                           args.device, torch.get_num_threads())
        seconds["memory"] = time.perf_counter() - clock
    results["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    results["run"] = {"command": shlex.join(["python", "benchmarks/fedautomri_search.py", *argv]),
                      "machine": machine_info(), "started": started, "finished": now(), "seconds": seconds}
    write_text_atomic(args.out / "results.json", json.dumps(results, indent=2, default=str) + "\n")
    figures = copy_figures(args.out, args.doc)
    write_report(args.doc, render(results, figures, args.doc), title=DOC_TITLE)
    print(f"wrote {args.doc} and {args.out / 'results.json'}")
    return results
