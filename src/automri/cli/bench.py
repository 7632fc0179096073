"""CLI group ``automri bench``: benchmarks. ``automri bench speed`` wraps
:func:`automri.experiments.speed.run_speed_benchmark` (``python benchmarks/speed.py`` runs the same command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from automri.cli.aliases import either, old_name

bench_app = typer.Typer(help="Benchmarks of the reconstruction models.", no_args_is_help=True)


def _model_list(models: str | None) -> list[str]:
    from automri.experiments.speed import DEFAULT_MODELS

    if models is None:
        return list(DEFAULT_MODELS)
    return [name.strip() for name in models.split(",") if name.strip()]


@bench_app.command("speed")
def speed(
    models: Annotated[str | None, typer.Option(
        "--models", help="Comma-separated models: registry names, fedautomri_v1, emrnas_cardiac or genotype .json "
        "files (default: every baseline and both searched nets).")] = None,
    size: Annotated[int, typer.Option("--size", help="Image side in pixels.")] = 256,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Training batch size (slices per step; default 4).")] = None,
    batch: Annotated[int | None, old_name("--batch")] = None,
    coils: Annotated[int, typer.Option("--coils", help="0: single-coil; N: N-coil k-space with sens maps.")] = 0,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed runs per measurement (the median is kept).")] = 5,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs before each measurement.")] = 1,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu, cuda or cuda:N.")] = "auto",
    threads: Annotated[int | None, typer.Option("--threads", help="torch.set_num_threads (default: torch's).")] = None,
    channels_last: Annotated[bool, typer.Option(
        "--channels-last", help="Train with NHWC (channels_last) weights and activations.")] = False,
    memory: Annotated[bool, typer.Option(
        "--memory/--no-memory", help="Measure peak memory (a subprocess per model).")] = True,
    breakdown: Annotated[bool, typer.Option(
        "--breakdown/--no-breakdown", help="Profile where a training step's time goes.")] = True,
    flower: Annotated[bool, typer.Option(
        "--flower/--no-flower", help="Measure the Flower round overhead (if the federated code provides it).")] = True,
    matmul_size: Annotated[int | None, typer.Option(
        "--matmul-size", help="Side n of the n x n fp32 matmul giving the reference rate (default 2048: "
        "automri.experiments.timing.MATMUL_SIZE).")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Markdown report; the raw results go next to it as .json.")] = Path("docs/speed.md"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Speed of every model against the fp32 matmul rate of the same run; report to docs/speed.md.

    Measures training slices/s, inference ms/slice, peak memory, MACs, achieved training GFLOP/s as
    a fraction of the fp32 matrix-multiply rate, where a training step's time goes, and the Flower
    round overhead. Timings are medians of --repeats runs. Keep the machine otherwise idle.

    Example: automri bench speed --models unet,modl,dccnn --size 256 --batch-size 4 --repeats 5 --threads 2
    """
    from automri.experiments.speed import run_speed_benchmark
    from automri.experiments.timing import MATMUL_SIZE

    batch = either(batch_size, batch, "--batch", 4)
    matmul_size = MATMUL_SIZE if matmul_size is None else matmul_size
    names = _model_list(models)
    with Progress(console=Console(stderr=True), transient=True, disable=as_json) as progress:
        task = progress.add_task("matmul reference", total=len(names))

        def on_model(name: str) -> None:
            progress.update(task, description=f"measuring {name}", completed=names.index(name))

        result = run_speed_benchmark(
            names, size=size, batch=batch, coils=coils, repeats=repeats, warmup=warmup, device=device,
            channels_last=channels_last, threads=threads, memory=memory, breakdown=breakdown, flower=flower,
            matmul_size=matmul_size, out_md=out, out_json=out.with_suffix(".json"), on_model=on_model,
        )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    Console().print(_summary_table(result))
    typer.echo(f"report: {out}")


def _summary_table(result: dict) -> Table:
    """The main columns of the report as a Rich table."""
    table = Table(title=f"speed at {result['settings']['size']}x{result['settings']['size']} "
                        f"(matmul {result['matmul']['gflops']:.1f} GFLOP/s)")
    for column in ("model", "train slices/s", "inference ms", "GMACs", "% of matmul"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in result["models"]:
        fraction = row["fraction_of_matmul"]
        rate = row["train_slices_per_s"]
        table.add_row(row["model"], "n/a" if rate is None else f"{rate:.3g}", f"{row['inference_ms']:.3g}",
                      f"{row['macs'] / 1e9:.3f}", "n/a" if fraction is None else f"{100 * fraction:.1f}")
    return table


def register(app: typer.Typer) -> None:
    """Add the ``bench`` group (``automri bench speed``) to ``app``."""
    app.add_typer(bench_app, name="bench")
