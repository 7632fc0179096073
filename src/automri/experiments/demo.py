"""``automri demo``: the whole system at small scale on built-in data, with one report.

Stages (all by default, in this order; ``stages`` picks a subset):

``shipped``     the shipped models trained on the dataset (``automri predict --list``) on their
                held-out test slices, next to zero-filled and CS-TV, with error maps and scores
                (:mod:`automri.experiments.demo_shipped`; at each model's own size and mask; seconds).
``overview``    a built-in dataset seen through an undersampling mask: zero-filled and CS-TV
                reconstructions of the test slices, their scores, a mask figure and a panel
                (issue 2's first demo; seconds).
``fedautomri``  :func:`automri.experiments.fedautomri.run_fedautomri_experiment` on the
                built-in 3-site federation: federated search, derived genotype, federated training
                with EMA, Non-Fed / FedAvg / FedProx / FedMRI, the EMA ablation and the MoDL baseline.
``emrnas``      :func:`automri.experiments.emrnas.run_emrnas_experiment` on the dataset:
                3-fold search, ensemble, retraining, U-Net / DC-CNN / RDN / CDDN-TDC at matched size.

``OUT/report.md`` gathers the overview and the tables and figures of both experiments, whose own
directories (``OUT/fedautomri``, ``OUT/emrnas``) hold their full reports and sub-runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from automri.data.datasets import build_dataset
from automri.errors import AutoMRIError
from automri.eval.figures import mask_figure, reconstruction_panel
from automri.eval.report import markdown_table
from automri.eval.report import write_report as write_markdown
from automri.experiments import emrnas, fedautomri
from automri.experiments.baselines import LABELS
from automri.experiments.demo_shipped import applicable, run_shipped, shipped_sections
from automri.experiments.emrnas import run_emrnas_experiment
from automri.experiments.experiment import (
    EXAMPLES,
    REPORT,
    SUMMARY,
    Say,
    command_line,
    image,
    now,
    open_experiment,
    read_json,
    run_section,
    write_examples,
    write_summary,
)
from automri.experiments.fedautomri import run_fedautomri_experiment
from automri.experiments.scales import PRESETS, get_scale
from automri.models.registry import build_model
from automri.train.evaluate import evaluate_model

EXPERIMENT = "demo"
STAGES = ("shipped", "overview", "fedautomri", "emrnas")
OVERVIEW_MASK = "fastmri-random:cf=0.08,acc=4"
OVERVIEW_SLICES = {"test": 4, "demo": 16, "small": 32, "paper": None}
OVERVIEW_SIZE = {"test": 32, "demo": 64, "small": 64, "paper": 256}
CS_ITERATIONS = 50


def run_overview(out: Path, dataset: str, size: int, mask: str, max_slices: int | None, seed: int) -> dict[str, Any]:
    """Zero-filled and CS-TV on the test slices of ``dataset``: scores, mask, first-slice images.

    Writes ``out/<method>/`` (``automri evaluate`` files: metrics.json, CSVs, panel) and
    ``out/examples.npz``; returns ``{"dataset", "mask", "size", "slices", "rows"}``.
    """

    data = build_dataset(dataset, "test", size=size, mask=mask, seed=seed, max_slices=max_slices)
    rows, examples = [], {}
    for name, model in (("zero_filled", build_model("zero_filled")),
                        ("cs_tv", build_model("cs_tv", n_iter=CS_ITERATIONS))):
        result = evaluate_model(model, data, batch_size=4, device="cpu", out=out / name, panels=1, progress=False)
        first = result["predictions"][0]
        examples.setdefault("target", first["target"])
        examples.setdefault("mask", first["mask"])
        examples[name] = first["reconstruction"]
        rows.append({"model": name, "volume": result["volume_summary"], "slice": result["slice_summary"]})
    write_examples(out / EXAMPLES, examples)
    return {"dataset": dataset, "mask": mask, "size": size, "slices": len(data), "rows": rows}


def run_demo(
    out: str | os.PathLike,
    preset: str = "demo",
    stages: tuple[str, ...] = STAGES,
    dataset: str = "colin27",
    size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    command: str | None = None,
    say: Say = lambda message: None,
) -> dict[str, Any]:
    """Run the demo ``stages`` at ``preset`` scale into ``out``; returns ``summary.json``'s results.

    ``size`` replaces every stage's image side. ``dataset`` is the overview's and EMR-NAS's data
    (the federation is the built-in one).
    """

    if preset not in PRESETS:
        raise AutoMRIError(f"--scale {preset!r}: expected one of {', '.join(PRESETS)}")
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise AutoMRIError(f"--stages {','.join(stages)!r}: expected a comma-separated subset of {','.join(STAGES)}")
    stages = tuple(s for s in STAGES if s in stages)
    if size is not None and size < 8:
        raise AutoMRIError(f"--size {size}: expected an image side of at least 8 pixels")
    scale = {"name": preset, "stages": list(stages), "dataset": dataset, "size": size}
    started = now()
    command = command or command_line()
    run = open_experiment(out, EXPERIMENT, {"scale": scale, "seed": seed}, resume, overwrite)
    results: dict[str, Any] = {"stages": list(stages)}
    position = 1
    if "shipped" in stages:
        entries = applicable(dataset)
        names = ", ".join(e["name"] for e in entries) or f"none trained on {dataset}, skipped"
        say(f"demo {position}/{len(stages)}: shipped models on held-out {dataset} slices ({names})")
        results["shipped"] = [run_shipped(run.path / "shipped", entry) for entry in entries]
        position += 1
    if "overview" in stages:
        side = size or OVERVIEW_SIZE[preset]
        say(f"demo {position}/{len(stages)}: {dataset} at {side} px, mask {OVERVIEW_MASK}: zero-filled and CS reconstructions")
        results["overview"] = run_overview(run.path / "overview", dataset, side, OVERVIEW_MASK,
                                           OVERVIEW_SLICES[preset], seed)
        position += 1
    if "fedautomri" in stages:
        say(f"demo {position}/{len(stages)}: FedAutoMRI on the built-in federation (Flower simulation)")
        run_fedautomri_experiment(run.path / "fedautomri", ("default",), get_scale("fedautomri", preset, size),
                                  seed=seed, resume=resume, command=command, say=say)
        position += 1
    if "emrnas" in stages:
        say(f"demo {position}/{len(stages)}: EMR-NAS on {dataset}")
        run_emrnas_experiment(run.path / "emrnas", dataset, get_scale("emrnas", preset, size), seed=seed,
                              device=device, resume=resume, command=command, say=say)
    summary = write_summary(run, EXPERIMENT, scale, command, started, results)
    path = write_report(run.path, summary)
    say(f"demo: report written to {path}")
    return results


def _overview_sections(out: Path, overview: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [{"Method": LABELS[r["model"]], "PSNR/dB": f"{r['volume']['psnr']['mean']:.4f}",
             "SSIM": f"{r['volume']['ssim']['mean']:.4f}", "NMSE": f"{r['volume']['nmse']['mean']:.4g}",
             "PSNR/dB per slice": f"{r['slice']['psnr']['mean']:.2f} ± {r['slice']['psnr']['std']:.2f}"}
            for r in overview["rows"]]
    body = [f"{overview['slices']} test slices of `{overview['dataset']}` at {overview['size']} px, mask "
            f"`{overview['mask']}`, reconstructed without learning (fastMRI per-volume scores).", "",
            markdown_table(rows)]
    with np.load(out / "overview" / EXAMPLES) as data:
        panel = reconstruction_panel(data["target"], {LABELS[k]: data[k] for k in ("zero_filled", "cs_tv")},
                                     data["mask"], path=out / "figures" / "overview-reconstruction.png",
                                     title=f"{overview['dataset']}: first test slice")
        mask = mask_figure(data["mask"], out / "figures" / "overview-mask.png", title=overview["mask"])
    body += [image(mask, out, "sampling mask"), image(panel, out, "zero-filled and CS with error maps")]
    return [("Data, mask and classical reconstructions", "\n".join(body))]


def write_report(out: Path, summary: dict[str, Any]) -> Path:
    """Write ``out/report.md`` (and figures) from the demo's and its experiments' summaries."""

    results = summary["results"]
    sections = shipped_sections(out, results.get("shipped", []))
    sections += _overview_sections(out, results["overview"]) if "overview" in results else []
    for stage, module in (("fedautomri", fedautomri), ("emrnas", emrnas)):
        if stage in results["stages"]:
            sub = out / stage
            sub_summary = read_json(sub / SUMMARY)
            module.write_report(sub, sub_summary)
            parts = module.report_sections(sub, sub_summary, out)
            prefix = "FedAutoMRI" if stage == "fedautomri" else "EMR-NAS"
            sections += [(f"{prefix}: {heading}", body) for heading, body in parts]
            sections.append((f"{prefix}: details", f"Full report: [{stage}/{REPORT}]({stage}/{REPORT})."))
    sections.append(run_section(summary))
    return write_markdown(out / REPORT, sections, title="AutoMRI demo")


__all__ = ["STAGES", "run_demo", "run_overview", "write_report"]
