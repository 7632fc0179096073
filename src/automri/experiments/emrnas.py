"""EMR-NAS end to end (paper Table 2, optionally Table 3) on one dataset with k-fold cross-validation.

Sub-runs of ``OUT``:

``search/``                 :func:`automri.experiments.rir_search.run_rir_search`: per fold a ProxylessNAS
                            search (``fold-k/search/alpha.jsonl``) and the retrained ensemble
                            architecture (``fold-k/retrain/``), ``genotype.json``, ``summary.json``
``search/baselines/``       :func:`automri.experiments.rir_baselines.run_baselines`: the zero-filled reference,
                            and U-Net, DC-CNN, RDN and CDDN-TDC at the searched network's parameter
                            count (their recipes, with the scale's ``model_options``), same folds
``ablations/``              :func:`automri.experiments.rir_ablations.run_ablations` (Table 3 variants), optional
``examples.npz``            the first test slice of fold 0 reconstructed by every model (figure)

Table 2 reports mean ± std over the folds' test sets of fastMRI per-volume PSNR and SSIM.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from automri.data.sample import collate
from automri.errors import AutoMRIError
from automri.eval.figures import alpha_trajectories, curves, genotype_diagram_rir, reconstruction_panel
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
    link,
    now,
    open_experiment,
    read_json,
    read_jsonl,
    run_section,
    write_examples,
    write_summary,
)
from automri.experiments.rir_ablations import ABLATIONS, run_ablations
from automri.experiments.rir_baselines import run_baselines
from automri.experiments.rir_search import fold_datasets, retrain_per_fold, run_rir_search, split_sizes
from automri.experiments.scales import EMRNASScale, get_scale, scale_dict
from automri.models.common import zero_filled
from automri.models.registry import build_model
from automri.nas.diagnostics import separation, separation_sentence
from automri.nas.options import SearchOptions
from automri.nas.rir.network import RIRNet
from automri.nas.rir.ops import OPS
from automri.train.checkpoint import load_checkpoint

EXPERIMENT = "emrnas"
BASELINES = ("unet", "dccnn", "rdn", "cddn_tdc")
REFERENCE = "zero_filled"  # always in Table 2: the floor every learned model has to clear
LABELS = {"zero_filled": "Zero-filled", "unet": "UNet", "dccnn": "DCCNN", "rdn": "RDN", "cddn_tdc": "CDDNTDC",
          "ours_per_fold": "Ours, per-fold search (no test exposure)", "ours": "Ours (EMR-NAS, ensemble)"}
EXPOSURE = (
    "The ensemble row follows the paper: the architecture sums the op probabilities of all folds' searches, so "
    "the architecture tested on fold k was chosen partly by searches that trained on fold k's test slices. The "
    "per-fold row is free of that exposure: each fold's own search, retrained on its own train/val and tested on "
    "its own test split (ablation E's protocol), from the same searches."
)
DEFAULT_MASK = "random:rate=0.15,center=0.04"  # EMR-NAS: random Cartesian lines, 15 % sampling


def search_options(dataset: str, mask: str, scale: EMRNASScale, out: Path, seed: int, device: str,
                   resume: bool) -> Any:
    """The :class:`~automri.nas.options.SearchOptions` of the EMR-NAS search at ``scale``."""

    space = {"components": scale.components, **({} if scale.width is None else {"width": scale.width})}
    return SearchOptions(
        space="rir", strategy="proxyless", dataset=dataset, size=scale.size, mask=mask, phase=scale.phase,
        augment=scale.augment, epochs=scale.search_epochs,
        warmup_epochs=scale.warmup_epochs, steps=scale.steps, batch_size=scale.batch_size, folds=scale.folds,
        seed=seed, out=out, resume=resume, device=device, retrain_epochs=scale.retrain_epochs, space_options=space,
        strategy_options={} if scale.arch_lr is None else {"arch_lr": scale.arch_lr},
    )


def _macs(model: Any, size: int) -> int:
    return count_macs(model, example_inputs(size))


def _first_checkpoint(path: Path) -> Path:
    for name in ("checkpoint-best.pt", "checkpoint-last.pt"):
        if (path / name).is_file():
            return path / name
    raise AutoMRIError(f"{path}: no checkpoint to draw reconstructions from")


def save_examples(fold: dict[str, Any], models: dict[str, tuple[Any, Path]], path: Path) -> None:
    """Reconstruct the first test slice of ``fold`` (fold 0) with every trained model; save magnitudes to ``path``."""
    sample = fold["test"][0]
    batch = collate([sample])
    arrays = {"target": batch.target[0].abs().numpy(), "mask": batch.mask[0].numpy(),
              "zero_filled": zero_filled(batch.kspace, batch.mask, batch.sens)[0].abs().numpy()}
    with torch.no_grad():
        for name, (model, run) in models.items():
            model.load_state_dict(load_checkpoint(_first_checkpoint(run))["model"])
            arrays[name] = model.eval()(batch.kspace, batch.mask, batch.sens)[0].abs().numpy()
    write_examples(path, arrays)


def run_emrnas_experiment(
    out: str | os.PathLike,
    dataset: str = "colin27",
    scale: str | EMRNASScale = "small",
    mask: str = DEFAULT_MASK,
    baselines: tuple[str, ...] = BASELINES,
    ablations: tuple[str, ...] = (),
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    command: str | None = None,
    say: Say = lambda message: None,
) -> dict[str, Any]:
    """k-fold search, ensemble genotype, retraining, baselines at matched size, optional ablations.

    Returns ``summary.json``'s ``results``: ``{"dataset", "mask", "genotype", "display", "rows":
    [{"model", "params", "macs", "folds", "test"}], "ablations"}``.
    """

    scale = get_scale(EXPERIMENT, scale) if isinstance(scale, str) else scale
    bad = [b for b in baselines if b not in BASELINES] + [a for a in ablations if a not in ABLATIONS]
    if bad:
        raise AutoMRIError(f"baselines/ablations: unknown {bad[0]!r} (baselines: {', '.join(BASELINES)}; "
                           f"ablations: {', '.join(ABLATIONS)})")
    if scale.retrain_epochs < 1:
        raise AutoMRIError(f"scale {scale.name!r}: retrain_epochs must be >= 1 to test architectures")
    started = now()
    run = open_experiment(out, EXPERIMENT, {"dataset": dataset, "mask": mask, "scale": scale_dict(scale),
                                            "baselines": list(baselines), "ablations": list(ablations), "seed": seed},
                          resume, overwrite)
    out = run.path
    options = search_options(dataset, mask, scale, out / "search", seed, device, resume)
    say(f"emrnas: {scale.folds}-fold ProxylessNAS search ({scale.warmup_epochs} warm-up + {scale.search_epochs} "
        f"search epochs) and retraining ({scale.retrain_epochs} epochs) on {dataset}, {scale.size} px")
    if resume and finished(options.out):
        searched = read_json(options.out / "summary.json")
    else:
        searched = run_rir_search(options)
    genotype = searched["genotype"]
    network = RIRNet.from_genotype(genotype)
    rows = [{"model": "ours", "params": searched["params"], "macs": _macs(network, scale.size),
             "folds": [f["test"] for f in searched["folds"]], "test": searched["test"]}]
    say("emrnas: per-fold architectures retrained on their own folds (the row without test-data exposure)")
    folds = fold_datasets(options)
    per_fold = retrain_per_fold(options, searched, folds)
    rows.append({"model": "ours_per_fold", "params": per_fold["params"],
                 "macs": _macs(RIRNet.from_genotype(per_fold["genotype"]), scale.size),
                 "folds": [f["test"] for f in per_fold["folds"]], "test": per_fold["test"]})
    trained: dict[str, tuple[Any, Path]] = {"ours": (network, options.out / "fold-0" / "retrain")}
    names = [REFERENCE, *baselines]
    say(f"emrnas: {', '.join(LABELS[n] for n in names)} on the same folds (learned ones at {searched['params']} "
        "parameters)")
    done = resume and (options.out / "baselines.json").is_file()
    found = read_json(options.out / "baselines.json")["models"] if done else run_baselines(
        options, names, params=scale.params, model_options=scale.model_options)
    for name in names:
        entry = found[name]
        model = build_model(name, **entry["kwargs"])
        rows.append({"model": name, "kwargs": entry["kwargs"], "params": entry["params"],
                     "macs": _macs(model, scale.size), "folds": entry["folds"], "test": entry["test"]})
        if name != REFERENCE:  # no checkpoint; save_examples draws the zero-filled image itself
            trained[name] = (model, options.out / "baselines" / name / "fold-0")
    say("emrnas: reconstructions of the first test slice")
    save_examples(folds[0], trained, out / EXAMPLES)
    ablation_results = None
    if ablations:
        say(f"emrnas: ablations {', '.join(ablations)} (Table 3)")
        ablation_options = search_options(dataset, mask, scale, out / "ablations", seed, device, resume)
        ablation_results = run_ablations(ablation_options, list(ablations))
    results = {"dataset": dataset, "mask": mask, "genotype": genotype, "display": searched["display"],
               "folds": scale.folds, "rows": rows, "ablations": ablation_results,
               "split_sizes": split_sizes(folds)}
    summary = write_summary(run, EXPERIMENT, scale_dict(scale), command or command_line(), started, results)
    path = write_report(out, summary)
    say(f"emrnas: report written to {path}")
    return results


# --- report ------------------------------------------------------------------------------------
def _mean_std(test: dict[str, Any], metric: str, fmt: str) -> str:
    entry = test["mean_std"][metric]
    return f"{entry['mean']:{fmt}}±{entry['std']:{fmt}}"


def _table2(results: dict[str, Any]) -> str:
    dataset = results["dataset"]
    rows = [{"Model": LABELS[r["model"]], f"PSNR {dataset}": _mean_std(r["test"], "psnr", ".4f"),
             f"SSIM {dataset}": _mean_std(r["test"], "ssim", ".4f"), "Param/M": f"{r['params'] / 1e6:.4g}",
             "MACs/G": f"{r['macs'] / 1e9:.4g}"}
            for r in [*(r for r in results["rows"] if not r["model"].startswith("ours")),
                      *(r for r in results["rows"] if r["model"].startswith("ours"))]]  # the paper lists "Ours" last
    return markdown_table(rows)


def _split_sentence(results: dict[str, Any]) -> str:
    """The folds' S_train : S_val ratios (the paper: about 9:2)."""
    sizes = results.get("split_sizes")
    if not sizes:
        return ""
    parts = ", ".join(f"{s['train']}:{s['val']} ({s['train'] / max(1, s['val']):.2f})" for s in sizes)
    return (f" S_train:S_val slices per fold {parts}; the paper's 9:2 is 4.50 (folds of whole subjects can only "
            "approach it in steps of one subject).")


def _baseline_settings(rows: list[dict[str, Any]]) -> str:
    """``": UNet `chans=5, ...`; ..."`` from the baselines' builder options (empty without them)."""
    settings = [f"{LABELS[r['model']]} `{', '.join(f'{k}={v}' for k, v in r['kwargs'].items())}`"
                for r in rows if r.get("kwargs")]
    return ": " + "; ".join(settings) if settings else ""


def _table3(ablations: dict[str, Any]) -> str:
    rows = [{"Variant": k, "Component": v["label"], "Architecture": v["display"], "Param/M": f"{v['params'] / 1e6:.4g}",
             "PSNR": _mean_std(v["test"], "psnr", ".4f") if "test" in v else None,
             "SSIM": _mean_std(v["test"], "ssim", ".4f") if "test" in v else None}
            for k, v in ablations.items()]
    return markdown_table(rows)


def _figures(out: Path, results: dict[str, Any], base: Path) -> list[str]:
    """Genotype strip, alpha trajectories per fold, retraining curves and reconstructions."""

    figures = out / "figures"
    lines = [image(genotype_diagram_rir(results["genotype"], figures / "genotype.png"), base, "ensemble architecture")]
    for fold in range(results["folds"]):
        records = read_jsonl(out / "search" / f"fold-{fold}" / "search" / "alpha.jsonl")
        if records:
            labels = [f"cell {i + 1}" for i in range(len(records[0]["probabilities"]))]
            path = alpha_trajectories([r["probabilities"] for r in records], OPS, figures / f"alpha-fold-{fold}.png",
                                      edge_labels=labels, logits=False)
            lines.append(image(path, base, f"op probabilities per cell, fold {fold}"))
            lines.append(separation_sentence(separation(records[-1]["probabilities"]), f"The search of fold {fold}"))
    history: dict[int, dict[str, Any]] = {}
    runs = {"ours": out / "search" / "fold-0" / "retrain",
            **{r["model"]: out / "search" / "baselines" / r["model"] / "fold-0"
               for r in results["rows"] if not r["model"].startswith("ours")}}
    for name, path in runs.items():
        for record in read_jsonl(path / "metrics.jsonl"):
            if "train_loss" in record and "epoch" in record and "step_in_epoch" not in record:
                history.setdefault(record["epoch"], {"epoch": record["epoch"]})[LABELS[name]] = record["train_loss"]
    if history:
        keys = [LABELS[n] for n in runs if any(LABELS[n] in row for row in history.values())]
        path = curves([history[e] for e in sorted(history)], keys, figures / "training-loss.png",
                      title="training loss per epoch (fold 0)")
        lines.append(image(path, base, "training curves"))
    examples = out / EXAMPLES
    if examples.is_file():
        with np.load(examples) as data:
            recons = {"Zero-filled": data["zero_filled"], **{LABELS[k]: data[k] for k in data.files if k in LABELS}}
            path = reconstruction_panel(data["target"], recons, data["mask"], path=figures / "reconstructions.png",
                                        title="first test slice of fold 0")
        lines.append(image(path, base, "reconstructions and error maps"))
    return lines


def report_sections(out: Path, summary: dict[str, Any], base: Path) -> list[tuple[str, str]]:
    """The report's sections (figures redrawn into ``out/figures``, linked from the folder ``base``)."""
    results = summary["results"]
    sections = [
        ("Searched architecture", f"Ensemble of the {results['folds']} folds' op probabilities: "
                                  f"`{results['display']}` (`{link(out / 'search' / 'genotype.json', base)}`). "
                                  f"Mask `{results['mask']}`. " + images_sentence(
                                      summary.get("scale", {}), "as EMR-NAS's cardiac data: two-step data consistency "
                                      "assumes a real image") + " " + augment_sentence(
                                      summary.get("scale", {}), "Slices that train weights (search, retraining, "
                                      "baselines)", "the alpha updates' S_val and the test slices")),
        ("Table 2: comparison at matched size",
         _table2(results) + f"\nmean±std over {results['folds']} folds (test fold of each split), fastMRI per-volume "
                            "PSNR/SSIM of magnitudes; baselines are their recipes' architectures "
                            "(`automri/configs/<model>.yaml`) widened to the searched network's parameter count"
                            + _baseline_settings(results["rows"]) + ".\n\n" + EXPOSURE + _split_sentence(results)
                            + "\n"),
    ]
    if results.get("ablations"):
        sections.append(("Table 3: ablations", _table3(results["ablations"])))
    sections.append(("Figures", "\n".join(_figures(out, results, base))))
    return sections


def write_report(out: Path, summary: dict[str, Any]) -> Path:
    """Write ``out/report.md`` and ``out/figures/`` from ``summary`` and the sub-runs' logs."""

    title = f"EMR-NAS on {summary['results']['dataset']}"
    return write_markdown(out / REPORT, [*report_sections(out, summary, out), run_section(summary)], title=title)
