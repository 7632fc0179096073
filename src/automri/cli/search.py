"""CLI command ``automri search``: architecture search in the FedAutoMRI ``cell`` space
(:func:`automri.experiments.cell_search.run_cell_search`) or the EMR-NAS ``rir`` space
(:func:`automri.experiments.rir_search.run_rir_search`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from automri.cli.dataset_flags import (
    AccelerationsOpt,
    CenterFractionsOpt,
    ChallengeOpt,
    MaskTypeOpt,
    OuterSlicesOpt,
    SensMapsOpt,
    SizeOpt,
    mask_from_flags,
)
from automri.errors import AutoMRIError

SPACE_STRATEGIES: dict[str, tuple[str, ...]] = {
    "cell": ("milenas", "darts1", "darts2"),
    "rir": ("proxyless", "proxyless2", "darts"),
}
SPACE_FLAGS: dict[str, dict[str, str]] = {
    "cell": {"--hidden": "hidden", "--cells": "cells", "--iterations": "iterations"},
    "rir": {"--width": "width"},
}


def build_options(
    space: str,
    strategy: str | None,
    dataset: str | None,
    out: Path,
    flags: dict[str, Any],
    space_flags: dict[str, int | None],
    beta: float | None,
    learning_rates: dict[str, float | None] | None = None,
) -> Any:
    """A :class:`~automri.nas.options.SearchOptions` from the command-line flags.

    ``flags`` are the shared flags (``None`` keeps the :class:`SearchOptions` default);
    ``space_flags`` maps ``--hidden``/``--cells``/``--iterations``/``--width`` to their values.
    Flags that do not belong to ``space`` / ``strategy`` raise :class:`AutoMRIError` naming them.
    """
    from automri.nas.options import SearchOptions

    if space not in SPACE_STRATEGIES:
        raise AutoMRIError(f"--space {space!r}: expected one of {', '.join(SPACE_STRATEGIES)}")
    strategy = strategy or SPACE_STRATEGIES[space][0]
    if strategy not in SPACE_STRATEGIES[space]:
        raise AutoMRIError(
            f"--strategy {strategy!r}: not valid with --space {space} "
            f"(expected one of {', '.join(SPACE_STRATEGIES[space])})"
        )
    space_options = {}
    for flag, value in space_flags.items():
        if value is None:
            continue
        if flag not in SPACE_FLAGS[space]:
            owner = next(name for name, owned in SPACE_FLAGS.items() if flag in owned)
            raise AutoMRIError(f"{flag}: only used with --space {owner}, not {space}")
        space_options[SPACE_FLAGS[space][flag]] = value
    strategy_options = {key: value for key, value in (learning_rates or {}).items() if value is not None}
    if beta is not None:
        if strategy != "milenas":
            raise AutoMRIError(f"--beta: only used by --strategy milenas, not {strategy}")
        strategy_options["beta"] = beta
    given = {name: value for name, value in flags.items() if value is not None}
    if dataset is not None:
        given["dataset"] = dataset
    return SearchOptions(
        space=space,
        strategy=strategy,
        out=out,
        space_options=space_options,
        strategy_options=strategy_options,
        **given,
    )


def _print_summary(summary: dict[str, Any], out: Path, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"automri search ({summary.get('space')}, {summary.get('strategy', '')})", show_header=False)
    genotype = summary.get("genotype", {})
    if "nodes" in genotype:
        for i, node in enumerate(genotype["nodes"]):
            table.add_row(f"node {i}", ", ".join(f"{op} <- {j}" for op, j in node))
    elif "display" in summary:
        table.add_row("genotype", str(summary["display"]))
    for key in ("params", "macs"):
        if key in summary:
            table.add_row(key, f"{summary[key]:,}")
    if summary.get("val"):
        table.add_row("val (search net)", ", ".join(f"{k} {v:.4g}" for k, v in summary["val"].items() if v is not None))
    test = summary.get("retrain", {}).get("test")
    if test:
        table.add_row("test (retrained)", ", ".join(f"{k} {v:.4g}" for k, v in test.items()))
    table.add_row("run directory", str(out))
    Console().print(table)


def search_command(
    out: Annotated[Path, typer.Option("--out", help="Run directory to create (or to continue with --resume).")],
    space: Annotated[str, typer.Option("--space", help="cell (FedAutoMRI) or rir (EMR-NAS).")] = "cell",
    strategy: Annotated[
        str | None,
        typer.Option("--strategy", help="cell: milenas (default), darts1, darts2; rir: proxyless (default), proxyless2, darts."),
    ] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Built-in dataset name or path.")] = None,
    size: SizeOpt = None,
    mask: Annotated[str | None, typer.Option("--mask", help="Mask spec, e.g. 'random:rate=0.25,center=0.08'.")] = None,
    mask_type: MaskTypeOpt = None,
    center_fractions: CenterFractionsOpt = None,
    accelerations: AccelerationsOpt = None,
    challenge: ChallengeOpt = None,
    outer_slices: OuterSlicesOpt = None,
    sens_maps: SensMapsOpt = None,
    phase: Annotated[float | None, typer.Option("--phase", help="Largest synthetic phase (radians) of magnitude images; 0 = real-valued.")] = None,
    augment: Annotated[
        str | None,
        typer.Option("--augment", help="Augmentation of the slices that train weights, 'none' or e.g. 'flip=0.5,rotate=180,scale=0.15,translate=0.1'."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Search epochs (after the warm-up for rir).")] = None,
    warmup_epochs: Annotated[int | None, typer.Option("--warmup-epochs", help="rir: weight-only warm-up epochs.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Cap on steps per epoch.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Slices per step.")] = None,
    folds: Annotated[int | None, typer.Option("--folds", help="rir: cross-validation folds (1 = one split).")] = None,
    train_portion: Annotated[
        float | None, typer.Option("--train-portion", help="cell: fraction of the train split for the weights; the rest updates alpha.")
    ] = None,
    retrain_epochs: Annotated[
        int | None, typer.Option("--retrain-epochs", help="Train the derived network from scratch for this many epochs (0: skip).")
    ] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", help="cell: channels C of the cells (default 16).")] = None,
    cells: Annotated[int | None, typer.Option("--cells", help="cell: number of stacked cells L (default 3).")] = None,
    iterations: Annotated[int | None, typer.Option("--iterations", help="cell: unrolled MoDL iterations K (default 5).")] = None,
    width: Annotated[int | None, typer.Option("--width", help="rir: feature width of the RIR network.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate of the weights (Adam; default 1e-3).")] = None,
    arch_lr: Annotated[float | None, typer.Option("--arch-lr", help="Learning rate of the alphas (Adam; default: the strategy's).")] = None,
    beta: Annotated[float | None, typer.Option("--beta", help="milenas: weight of the validation gradient (default 1).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of every random choice.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
    device: Annotated[str | None, typer.Option("--device", help="auto (CUDA when present), cpu, cuda or cuda:N.")] = None,
    tensorboard: Annotated[Path | None, typer.Option("--tensorboard", help="Write TensorBoard logs to DIR (scalars, first validation slice, alpha histograms; needs pip install 'automri[tensorboard]').")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Search an architecture; writes genotype.json, alpha.jsonl, metrics.jsonl, summary.json, figures/.

    Example: automri search --space cell --strategy milenas --dataset phantom --size 64 --epochs 5 --out runs/search
    """
    from automri.train.distributed import init_from_env, is_main, rank_out

    device = init_from_env(device)  # torchrun: join the process group; else a no-op
    run_out = rank_out(out, resume)
    if not is_main():
        tensorboard = None
    flags = {
        "size": size, "mask": mask_from_flags(mask, mask_type, center_fractions, accelerations),
        "challenge": challenge, "outer_slices": outer_slices, "sens_maps": sens_maps, "phase": phase, "augment": augment,
        "epochs": epochs,
        "warmup_epochs": warmup_epochs, "steps": steps, "batch_size": batch_size, "folds": folds, "train_portion": train_portion,
        "retrain_epochs": retrain_epochs, "seed": seed, "resume": resume, "device": device,
        "tensorboard": None if tensorboard is None else str(tensorboard),
    }
    space_flags = {"--hidden": hidden, "--cells": cells, "--iterations": iterations, "--width": width}
    options = build_options(space, strategy, dataset, run_out, flags, space_flags, beta,
                            {"w_lr": lr, "arch_lr": arch_lr})
    if tensorboard is not None:
        from automri.train.tensorboard import require_tensorboard

        require_tensorboard()
    if resume:
        from automri.train.runs import require_resumable

        require_resumable(run_out, nested=space == "rir")
    if space == "cell":
        from automri.experiments.cell_search import run_cell_search

        summary = run_cell_search(options)
    else:
        from automri.experiments.rir_search import run_rir_search

        summary = run_rir_search(options)
    if is_main():
        _print_summary(summary, out, as_json)


def register(app: typer.Typer) -> None:
    """Add ``automri search`` to ``app``."""
    app.command("search")(search_command)
