"""``automri bench quality``: the papers' tables (and the baselines study) on any supported dataset;
``automri bench results``: the claims page (docs/results.md) from those experiments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from automri.atomic import write_text_atomic
from automri.cli.bench import bench_app
from automri.errors import AutoMRIError

EXPERIMENTS = ("baselines", "fedautomri", "emrnas")
DEFAULT_DATASET = {"baselines": "colin27", "fedautomri": "default", "emrnas": "colin27"}


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(name.strip() for name in text.split(",") if name.strip())


@bench_app.command("quality")
def quality(
    experiment: Annotated[str, typer.Option(
        "--experiment", help="baselines (U-Net, DC-CNN, MoDL, RDN, CDDN-TDC vs zero-filled and CS), fedautomri "
        "(Table 1 + Table 2 of FedAutoMRI) or emrnas (Table 2 of EMR-NAS).")],
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", help="Built-in name or path; fedautomri: 'default' (built-in federation), a federation YAML, "
        "or datasets (repeat the flag), one client each.")] = None,
    scale: Annotated[str, typer.Option("--scale", help="test, demo, small (laptop) or paper (the papers' settings).")] = "small",
    size: Annotated[int | None, typer.Option("--size", help="Image side in pixels (default: the scale's).")] = None,
    models: Annotated[str | None, typer.Option(
        "--models", help="Comma-separated subset: baselines models, emrnas baselines, or fedautomri comparisons.")] = None,
    mask: Annotated[str | None, typer.Option("--mask", help="emrnas: mask spec (default random:rate=0.15,center=0.04).")] = None,
    ablations: Annotated[str | None, typer.Option(
        "--ablations", help="emrnas: Table 3 variants (A..G, comma-separated, or 'all'); fedautomri: 'none' drops "
        "the EMA ablation and the baseline row.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N (centralised experiments).")] = "auto",
    out: Annotated[Path | None, typer.Option("--out", help="Experiment directory (default runs/bench-quality/EXPERIMENT).")] = None,
    doc: Annotated[Path | None, typer.Option(
        "--doc", help="Also export the report to this Markdown file, figures copied next to it (e.g. docs/baselines.md).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the experiment in --out (finished sub-runs are kept).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run one of the papers' experiments and write OUT/report.md with its tables and figures.

    Example: automri bench quality --experiment baselines --dataset colin27 --scale small --out runs/baselines --doc docs/baselines.md
    """
    from automri.experiments.experiment import REPORT, console_say
    from automri.experiments.rebuild_report import export_report
    from automri.experiments.scales import get_scale

    if experiment not in EXPERIMENTS:
        raise AutoMRIError(f"--experiment {experiment!r}: expected one of {', '.join(EXPERIMENTS)}")
    datasets = tuple(dataset or [DEFAULT_DATASET[experiment]])
    if experiment != "fedautomri" and len(datasets) != 1:
        raise AutoMRIError(f"--dataset: {experiment} runs on one dataset, got {len(datasets)}")
    if mask is not None and experiment != "emrnas":
        raise AutoMRIError("--mask: only the emrnas experiment takes a mask (baselines and fedautomri fix theirs)")
    if ablations is not None and experiment == "baselines":
        raise AutoMRIError("--ablations: the baselines experiment has no ablations")
    out = out or Path("runs") / "bench-quality" / experiment
    say = console_say(not as_json)
    chosen = _names(models)
    common = {"scale": get_scale(experiment, scale, size), "seed": seed, "resume": resume, "say": say}
    if experiment == "baselines":
        from automri.experiments.baselines import MODELS, run_baselines_experiment

        results = run_baselines_experiment(out, datasets[0], models=chosen or MODELS, device=device, **common)
    elif experiment == "fedautomri":
        from automri.experiments.fedautomri import COMPARISONS, run_fedautomri_experiment

        if ablations not in (None, "none", "ema"):
            raise AutoMRIError(f"--ablations {ablations!r}: fedautomri takes 'ema' (default) or 'none'")
        results = run_fedautomri_experiment(out, datasets, comparisons=COMPARISONS if chosen is None else chosen,
                                            ablation=ablations != "none", **common)
    else:
        from automri.experiments.emrnas import BASELINES, DEFAULT_MASK, run_emrnas_experiment
        from automri.experiments.rir_ablations import ABLATIONS

        variants = tuple(ABLATIONS) if ablations == "all" else (_names(ablations) or ())
        results = run_emrnas_experiment(out, datasets[0], mask=mask or DEFAULT_MASK,
                                        baselines=BASELINES if chosen is None else chosen, ablations=variants,
                                        device=device, **common)
    report = out / REPORT
    exported = export_report(out, doc) if doc is not None else None
    if as_json:
        typer.echo(json.dumps({"report": str(report), "doc": exported and str(exported), "results": results},
                              indent=2, default=str))
    else:
        typer.echo(f"report: {report}" + (f"\ndoc: {exported}" if exported else ""))


@bench_app.command("results")
def results(
    baselines: Annotated[Path | None, typer.Option("--baselines", help="Baselines experiment directory.")] = None,
    emrnas: Annotated[Path | None, typer.Option("--emrnas", help="EMR-NAS experiment directory.")] = None,
    fedautomri: Annotated[Path | None, typer.Option("--fedautomri", help="FedAutoMRI experiment directory.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Markdown file to write.")] = Path("docs/results.md"),
) -> None:
    """Every claim of both papers with our numbers and a verdict, from finished experiments.

    Example: automri bench results --baselines runs/study/baselines --emrnas runs/study/emrnas --fedautomri runs/study/fedautomri --out docs/results.md
    """
    from automri.experiments.results import results_page

    runs = {"baselines": baselines, "emrnas": emrnas, "fedautomri": fedautomri}
    for flag, path in runs.items():
        if path is not None and not (path / "summary.json").is_file():
            raise AutoMRIError(f"--{flag} {path}: no summary.json (expected a finished bench quality experiment)")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, results_page(runs))
    typer.echo(f"results: {out}")


def register(app: typer.Typer) -> None:
    """Nothing to add: ``quality`` joins the ``bench`` group (registered by :mod:`automri.cli.bench`)."""
