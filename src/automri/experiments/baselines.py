"""Issue 3: the reconstruction baselines against zero-filled and compressed sensing.

For every sampling setting (default: 4x random 1D with 8 % centre columns, and 15 % random
Cartesian lines) and every model, one ``automri train`` run (:func:`automri.train.engine.train`,
with the model's recipe ``automri/configs/<name>.yaml`` and the scale's overrides) in
``OUT/<setting>/<model>/``, then a test of its best weights on the test split
(``OUT/<setting>/<model>/test/``: ``metrics.json``, CSVs, a panel). Zero-filled and CS-TV have no
weights, so their runs only score. The comparison figure of a setting is drawn from
``OUT/<setting>/examples.npz`` (the first test slice of every model).

The report says, per setting, whether every learned model beats both zero-filled and CS in PSNR
and in SSIM (issue 3's acceptance criterion).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from automri.errors import AutoMRIError
from automri.eval.figures import reconstruction_panel
from automri.eval.profile import count_macs, example_inputs
from automri.eval.report import markdown_table
from automri.eval.report import write_report as write_markdown
from automri.experiments.experiment import (
    EXAMPLES,
    REPORT,
    Say,
    augment_sentence,
    command_line,
    finished,
    image,
    images_sentence,
    now,
    open_experiment,
    run_section,
    write_examples,
    write_summary,
)
from automri.experiments.scales import BaselinesScale, get_scale, scale_dict
from automri.models.registry import count_params
from automri.train.config import apply_overrides, builtin_config
from automri.train.engine import build_split, load_trained, train
from automri.train.evaluate import evaluate_model

EXPERIMENT = "baselines"
SETTINGS: dict[str, tuple[str, str]] = {
    "random1d-4x": ("fastmri-random:cf=0.08,acc=4", "4x random 1D, 8% centre"),
    "random-15pct": ("random:rate=0.15,center=0.04", "15% random Cartesian"),
}
CLASSICAL = ("zero_filled", "cs_tv")
LEARNED = ("unet", "dccnn", "modl", "rdn", "cddn_tdc")
MODELS = CLASSICAL + LEARNED
LABELS = {"zero_filled": "Zero-filled", "cs_tv": "CS (TV)", "unet": "U-Net", "dccnn": "DC-CNN", "modl": "MoDL",
          "rdn": "RDN", "cddn_tdc": "CDDN-TDC"}


def model_config(name: str, dataset: str, mask: str, scale: BaselinesScale, seed: int, device: str) -> Any:
    """The :class:`~automri.train.config.RunConfig` of ``name``: its shipped recipe with the scale's overrides."""

    config = builtin_config(name)
    options = {**config.model.options, **scale.model_options.get(name, {})}
    overrides = {
        "model.options": options, "data.dataset": dataset, "data.size": scale.size, "data.mask": mask,
        "data.max_slices": scale.train_slices, "data.val_max_slices": scale.eval_slices,
        "data.augment": scale.augment, "data.phase": scale.phase,
        "train.epochs": scale.epochs, "train.steps": scale.steps, "train.batch_size": scale.batch_size,
        "train.lr": scale.lr, "seed": seed, "device": device,
    }
    if scale.epochs is not None and config.train.milestones:  # keep multistep milestones inside the run
        overrides["train.milestones"] = [m for m in config.train.milestones if m <= scale.epochs] or [scale.epochs]
    if scale.lr is not None and name in CLASSICAL:
        overrides.pop("train.lr")
    if scale.schedule is not None and name not in CLASSICAL:
        overrides["train.schedule"] = scale.schedule
    return apply_overrides(config, overrides, source=f"baselines scale {scale.name!r} ({name})")


def train_recipe_and_test(name: str, config: Any, path: Path, eval_slices: int | None, resume: bool) -> dict[str, Any]:
    """Train ``config`` in ``path`` (skipped when finished and ``resume``), test its best weights.

    Returns the model's row: test scores in both conventions, parameters, MACs and the first test
    slice's images (``example``: target, mask, zero-filled, reconstruction; magnitudes ``[H, W]``).
    """

    if not (resume and finished(path)):
        train(config, path, resume=resume and path.is_dir(), progress=False)
    model, config = load_trained(path, device=config.device)
    test_set = build_split(config, "test", eval_slices)
    result = evaluate_model(model, test_set, config.train.batch_size, config.device, out=path / "test", panels=1,
                            progress=False)
    device = next(iter(model.parameters()), None)
    inputs = example_inputs(config.data.size, device=device.device if device is not None else "cpu")
    return {
        "model": name,
        "params": count_params(model),
        "macs": count_macs(model, inputs),
        "epochs": config.train.epochs,
        "volume": result["volume_summary"],
        "slice": result["slice_summary"],
        "run": str(path),
        "example": result["predictions"][0],
    }


def run_baselines_experiment(
    out: str | os.PathLike,
    dataset: str = "colin27",
    scale: str | BaselinesScale = "small",
    models: tuple[str, ...] = MODELS,
    settings: tuple[str, ...] | None = None,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    command: str | None = None,
    say: Say = lambda message: None,
) -> dict[str, Any]:
    """Train and test ``models`` under every sampling setting (``None``: the scale's, else all);
    write the run directory and report.

    Returns ``summary.json``'s ``results``: ``{"dataset", "settings": {setting: {"mask", "label",
    "rows": [...], "beats_classical": {model: bool}}}}``.
    """
    scale = get_scale(EXPERIMENT, scale) if isinstance(scale, str) else scale
    settings = settings or scale.settings or tuple(SETTINGS)
    bad = [m for m in models if m not in MODELS] + [s for s in settings if s not in SETTINGS]
    if bad:
        raise AutoMRIError(f"--models/--settings: unknown {bad[0]!r} (models: {', '.join(MODELS)}; "
                           f"settings: {', '.join(SETTINGS)})")
    if not models or not settings:
        raise AutoMRIError("--models/--settings: expected at least one model and one setting")
    started = now()
    run = open_experiment(out, EXPERIMENT, {"dataset": dataset, "scale": scale_dict(scale), "models": list(models),
                                            "settings": list(settings), "seed": seed}, resume, overwrite)
    results: dict[str, Any] = {"dataset": dataset, "settings": {}}
    for setting in settings:
        mask, label = SETTINGS[setting]
        rows, examples = [], {}
        for name in models:
            say(f"baselines: {label}: {LABELS[name]} ({scale.name} scale, {dataset}, {scale.size} px)")
            config = model_config(name, dataset, mask, scale, seed, device)
            row = train_recipe_and_test(name, config, run.path / setting / name, scale.eval_slices, resume)
            example = row.pop("example")
            examples.setdefault("target", example["target"])
            examples.setdefault("mask", example["mask"])
            examples[name] = example["reconstruction"]
            rows.append(row)
        write_examples(run.path / setting / EXAMPLES, examples)
        results["settings"][setting] = {"mask": mask, "label": label, "rows": rows,
                                        "beats_classical": beats_classical(rows)}
    summary = write_summary(run, EXPERIMENT, scale_dict(scale), command or command_line(), started, results)
    path = write_report(run.path, summary)
    say(f"baselines: report written to {path}")
    return results


def beats_classical(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """For every learned model of ``rows``: whether its mean test PSNR and SSIM (fastMRI per-volume)
    are above those of every classical model (zero-filled, CS) present in ``rows``."""
    classical = [r for r in rows if r["model"] in CLASSICAL]
    return {
        row["model"]: all(row["volume"][m]["mean"] > c["volume"][m]["mean"]
                          for c in classical for m in ("psnr", "ssim"))
        for row in rows if row["model"] not in CLASSICAL
    }


def _data_sentence(scale: dict[str, Any]) -> str:
    """How the images were simulated and augmented (from the scale recorded in ``summary.json``)."""
    images = images_sentence(scale, "the magnitude volume's k-space, as in CDDN and EMR-NAS: CDDN-TDC's two-step "
                                    "data consistency assumes a real image")
    return f"{images} {augment_sentence(scale)}"


def _table(rows: list[dict[str, Any]]) -> str:
    table = []
    for row in rows:
        volume, slices = row["volume"], row["slice"]
        table.append({
            "Method": LABELS[row["model"]],
            "PSNR/dB": f"{volume['psnr']['mean']:.4f}",
            "SSIM": f"{volume['ssim']['mean']:.4f}",
            "NMSE": f"{volume['nmse']['mean']:.4g}",
            "PSNR/dB per slice": f"{slices['psnr']['mean']:.2f} ± {slices['psnr']['std']:.2f}",
            "SSIM per slice": f"{slices['ssim']['mean']:.4f} ± {slices['ssim']['std']:.4f}",
            "Param/M": f"{row['params'] / 1e6:.4g}",
            "MACs/G": f"{row['macs'] / 1e9:.4g}",
        })
    return markdown_table(table)


def report_sections(out: Path, summary: dict[str, Any], base: Path) -> list[tuple[str, str]]:
    """The report's sections (figures redrawn into ``out/figures``, linked from the folder ``base``)."""

    results = summary["results"]
    sections = [("What was run", (
        f"Every model trained with its recipe (`automri/configs/<model>.yaml`) on the training slices of "
        f"`{results['dataset']}` and tested on its test slices (split by slabs of slices with gaps for a single "
        "subject, by subject otherwise). PSNR/SSIM/NMSE are fastMRI per-volume scores of magnitude images; the "
        "per-slice columns are mean ± std over test slices (the FedAutoMRI/EMR-NAS convention). MACs count every "
        "unrolled iteration and FFT (torch's flop counter) for one slice. " + _data_sentence(summary.get("scale", {}))
    ))]
    for setting, entry in results["settings"].items():
        body = [f"Mask `{entry['mask']}`.", "", _table(entry["rows"])]
        verdict = entry["beats_classical"]
        classical = " and ".join(LABELS[r["model"]] for r in entry["rows"] if r["model"] in CLASSICAL)
        if verdict and classical:
            losers = [LABELS[m] for m, ok in verdict.items() if not ok]
            body.append(f"Every learned model beats {classical} in PSNR and SSIM." if not losers else
                        f"Not better than {classical} in both PSNR and SSIM: {', '.join(losers)}.")
        examples_path = out / setting / EXAMPLES
        if examples_path.is_file():
            with np.load(examples_path) as data:
                recons = {LABELS[k]: data[k] for k in data.files if k in LABELS}
                figure = reconstruction_panel(data["target"], recons, data["mask"],
                                              path=out / "figures" / f"reconstructions-{setting}.png",
                                              title=f"{entry['label']}: first test slice")
            body += ["", image(figure, base, f"reconstructions, {entry['label']}")]
        sections.append((entry["label"], "\n".join(body)))
    return sections


def write_report(out: Path, summary: dict[str, Any]) -> Path:
    """Write ``out/report.md`` and ``out/figures/`` from ``summary`` and the sub-runs' files."""

    title = f"Reconstruction baselines on {summary['results']['dataset']}"
    return write_markdown(out / REPORT, [*report_sections(out, summary, out), run_section(summary)], title=title)
