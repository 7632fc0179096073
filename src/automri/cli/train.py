"""CLI commands ``automri train``, ``automri evaluate`` and ``automri profile`` (thin wrappers over
:mod:`automri.train.engine`, :mod:`automri.train.evaluate` and :mod:`automri.eval.profile`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from automri.atomic import dumps_strict
from automri.cli.aliases import either, old_name
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

DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Built-in dataset name or path (default: the config's).")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto (CUDA when present), cpu, cuda or cuda:N.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
TensorboardOpt = Annotated[Path | None, typer.Option("--tensorboard", help="Write TensorBoard logs to DIR (scalars, first validation slice, alpha histograms; needs pip install 'automri[tensorboard]').")]


def _base_config(model: str | None, genotype: Path | None, config: Path | None, resume: bool, out: Path) -> Any:
    """The configuration flags are applied to: the run's own (``--resume``), ``--config``, or the
    built-in configuration of ``--model`` / the genotype's space."""
    from automri.train.config import (
        ModelConfig,
        RunConfig,
        builtin_config,
        builtin_config_names,
        config_from_dict,
        load_config,
    )
    from automri.train.runs import RunDir

    if resume and (out / "config.yaml").is_file():
        if config is not None:
            raise AutoMRIError("--config: not allowed with --resume (the run keeps its own config.yaml)")
        base = config_from_dict(RunDir(out, resume=True).read_config(), str(out / "config.yaml"))
    elif config is not None:
        base = load_config(config)
    elif model is not None:
        base = builtin_config(model) if model in builtin_config_names() else RunConfig(model=ModelConfig(name=model))
    elif genotype is not None:
        from automri.nas.genotype import load_genotype

        base = builtin_config(load_genotype(genotype)["space"])
    else:
        raise AutoMRIError("give --model NAME, --genotype FILE or --config YAML (or --resume an existing run)")
    if model is not None and genotype is not None:
        raise AutoMRIError("--model and --genotype: give only one")
    if model is not None:
        base.model = ModelConfig(name=model, options=base.model.options if base.model.name == model else {})
    elif genotype is not None:
        base.model = ModelConfig(genotype=str(genotype))
    return base


def _print(result: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(dumps_strict(result, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in result.items():
        table.add_row(key, _format(value))
    Console().print(table)


def _format(value: Any) -> str:
    if isinstance(value, dict) and {"mean", "std"} <= set(value):
        return f"{value['mean']:.4g} +- {value['std']:.2g} (n={value.get('n', '?')})"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_format(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def train_command(
    out: Annotated[Path, typer.Option("--out", help="Run directory to create (or to continue with --resume).")],
    model: Annotated[str | None, typer.Option("--model", help="Model name: zero_filled, cs_tv, unet, dccnn, modl, rdn, cddn_tdc.")] = None,
    genotype: Annotated[Path | None, typer.Option("--genotype", help="Genotype JSON of a searched network.")] = None,
    dataset: DatasetOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML configuration (default: configs/<model>.yaml).")] = None,
    size: SizeOpt = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Number of epochs.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Cap on steps per epoch.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Slices per step.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    loss: Annotated[str | None, typer.Option("--loss", help="mse, l1, mse_mag, l1_mag, ssim or mse+ssim.")] = None,
    params: Annotated[int | None, typer.Option("--params", help="Parameter budget: picks the model width that matches it.")] = None,
    mask: Annotated[str | None, typer.Option("--mask", help="Mask spec, e.g. 'random:rate=0.25,center=0.08'.")] = None,
    mask_type: MaskTypeOpt = None,
    center_fractions: CenterFractionsOpt = None,
    accelerations: AccelerationsOpt = None,
    challenge: ChallengeOpt = None,
    outer_slices: OuterSlicesOpt = None,
    sens_maps: SensMapsOpt = None,
    val_slices: Annotated[int | None, typer.Option("--val-slices", help="Validate on at most this many slices per epoch.")] = None,
    augment: Annotated[str | None, typer.Option("--augment", help="Training augmentation, 'none' or e.g. 'flip=0.5,rotate=180,scale=0.15,translate=0.1'.")] = None,
    phase: Annotated[float | None, typer.Option("--phase", help="Largest synthetic phase (radians) of magnitude images; 0 = real-valued.")] = None,
    bf16: Annotated[bool | None, typer.Option("--bf16/--fp32", help="Forward pass under bfloat16 autocast (CPU or CUDA; the loss stays float32).")] = None,
    channels_last: Annotated[bool | None, typer.Option("--channels-last/--channels-first", help="NHWC weights and activations (faster convolutions on some CPUs and GPUs; measure with automri bench speed --channels-last).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of every random choice.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from checkpoint-last.pt.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --out.")] = False,
    device: DeviceOpt = None,
    tensorboard: TensorboardOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a reconstruction model; writes config.yaml, metrics.jsonl, checkpoints, summary.json, figures/.

    Example: automri train --model unet --dataset phantom --size 64 --epochs 5 --out runs/unet

    fastMRI layout (README): automri train --model unet --dataset knee --challenge singlecoil --size 0 --mask-type random --center-fractions 0.08 --accelerations 4 --out runs/knee
    """
    from automri.train.config import apply_overrides
    from automri.train.distributed import init_from_env, is_main, rank_out
    from automri.train.engine import train
    from automri.train.preflight import check_run_fits
    from automri.train.runs import require_resumable

    if resume:
        require_resumable(out)
    device = init_from_env(device)  # torchrun: join the process group; else a no-op
    if not is_main():
        tensorboard = None
    if tensorboard is not None:
        from automri.train.tensorboard import require_tensorboard

        require_tensorboard()
    base = _base_config(model, genotype, config, resume, out)
    overrides = {
        "data.dataset": dataset, "data.size": size, "data.challenge": challenge, "data.outer_slices": outer_slices,
        "data.sens_maps": sens_maps,
        "data.mask": mask_from_flags(mask, mask_type, center_fractions, accelerations), "train.epochs": epochs, "train.steps": steps,
        "train.batch_size": batch_size, "train.lr": lr, "train.loss": loss, "model.params": params,
        "data.val_max_slices": val_slices, "data.augment": augment, "data.phase": phase, "seed": seed,
        "train.bf16": bf16, "train.channels_last": channels_last,
        "device": device, "train.tensorboard": None if tensorboard is None else str(tensorboard),
    }
    resolved = apply_overrides(base, overrides, source="flags")
    check_run_fits(resolved)
    summary = train(resolved, rank_out(out, resume), resume=resume, overwrite=overwrite, progress=not as_json and is_main())
    if is_main():
        _print(summary, as_json, f"automri train: {summary['model']}")


def evaluate_command(
    path: Annotated[Path, typer.Argument(help="Run directory (train, search, fed, bench quality) or checkpoint file.")],
    dataset: DatasetOpt = None,
    split: Annotated[str, typer.Option("--split", help="train, val, test or all.")] = "test",
    out: Annotated[Path | None, typer.Option("--out", help="Folder for metrics.json, CSVs and PNG panels (default RUN/eval-<split>).")] = None,
    size: SizeOpt = None,
    mask: Annotated[str | None, typer.Option("--mask", help="Mask spec (default: the run's).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Slices per forward pass.")] = 4,
    max_slices: Annotated[int | None, typer.Option("--max-slices", help="Score at most this many slices.")] = None,
    panels: Annotated[int, typer.Option("--panels", help="Number of PNG reconstruction panels.")] = 3,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Score the model of any run directory: per-slice and per-volume PSNR/SSIM/NMSE (mean +- std), CSV + JSON, PNG panels.

    Train runs (or a checkpoint file): the best weights. Search runs: the retrained derived network
    (retrain/ sub-run, else the untrained network of genotype.json) on the dataset in its config.
    Federated runs: the final global model (server checkpoint) on each site's split. Experiment
    runs (bench quality, demo): every train and search sub-run.

    Example: automri evaluate runs/unet --split test --json
    """
    from automri.experiments.run_kinds import evaluate_run

    result = evaluate_run(path, split, out, {"dataset": dataset, "size": size, "mask": mask}, batch_size, max_slices,
                          panels, device, progress=not as_json)
    if as_json:
        _print(result, True, "")
        return
    _print({"model path": str(path), "kind": result["kind"], "model": result["model"], "split": split,
            **_scores_rows(result), "written to": result["out"]}, False, "automri evaluate")


def _scores_rows(result: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Table rows of an :func:`evaluate_run` result (one block per site or sub-run)."""
    if "clients" in result or "runs" in result:
        rows: dict[str, Any] = {}
        for name, sub in (result.get("clients") or result["runs"]).items():
            rows.update(_scores_rows(sub, f"{prefix}{name}: "))
        return rows
    return {f"{prefix}slices": len(result["slices"]), f"{prefix}volumes": len(result["volumes"]),
            f"{prefix}per volume (fastMRI)": result["volume_summary"], f"{prefix}per slice": result["slice_summary"]}


def profile_command(
    model: Annotated[str | None, typer.Option("--model", help="Model name (built with its configs/<model>.yaml options).")] = None,
    genotype: Annotated[Path | None, typer.Option("--genotype", help="Genotype JSON of a searched network.")] = None,
    size: Annotated[int, typer.Option("--size", help="Image side in pixels.")] = 256,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Slices per forward pass (default 1).")] = None,
    batch: Annotated[int | None, old_name("--batch")] = None,
    coils: Annotated[int, typer.Option("--coils", help="Coils (0: single-coil).")] = 0,
    params: Annotated[int | None, typer.Option("--params", help="Parameter budget: picks the width that matches it.")] = None,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed forward passes (median reported).")] = 10,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Measure peak memory.")] = True,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Parameters, MACs (torch flop counter, every unrolled iteration and FFT), median latency, peak memory.

    Example: automri profile --model modl --size 256 --json
    """
    from automri.eval.profile import profile_model
    from automri.train.config import apply_overrides
    from automri.train.device import resolve_device
    from automri.train.engine import build_from_config, resolve_config
    from automri.train.preflight import check_run_fits

    batch = either(batch_size, batch, "--batch", 1)
    if batch < 1 or size < 8 or coils < 0 or repeats < 1:
        raise AutoMRIError("--batch-size and --repeats must be >= 1, --size >= 8 and --coils >= 0")
    config = apply_overrides(_base_config(model, genotype, None, False, Path(".")), {"model.params": params})
    check_run_fits(apply_overrides(config, {"data.size": size, "train.batch_size": batch}))
    network = build_from_config(resolve_config(config))
    result = profile_model(network, size, batch=batch, coils=coils, device=resolve_device(device),
                           repeats=repeats, memory=memory)
    label = model if model is not None else str(genotype)
    _print({"model": label, **result}, as_json, f"automri profile: {label}")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and ``profile`` to ``app``."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("profile")(profile_command)
