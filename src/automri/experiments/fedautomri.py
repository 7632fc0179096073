"""FedAutoMRI end to end (paper Tables 1 and 2) on a federation, in Flower's simulation engine.

Sub-runs of ``OUT`` (each a federated run directory of :func:`automri.federated.simulation.run_federated`):

``search/``           federated MiLeNAS search (``fednas``): ``alpha.jsonl``, ``genotype.json``
``fedautomri/``       federated training of the derived genotype with the client-side EMA
``fedautomri-noema/`` the same without EMA (Table 2 ``ema(w/o)``)
``fedautomri-globalema/`` the same with the EMA's global reading (a Polyak average of the server model)
``nonfed/`` ``fedavg/`` ``fedprox/`` ``fedmri/``   the comparisons of Table 1 (the U-Net of the paper)
``baseline/``         the hand-designed network of Table 2 (MoDL) trained with FedAvg

Which model a row scores (per client, on its own test split, latest round): Non-Fed the client's own
model; FedAvg, FedProx and FedAutoMRI without EMA the aggregated model; FedMRI the global encoder
with the client's own decoder (the model FedMRI deploys at a site, role ``global`` in the client
records; role ``personal`` is the client's model right after its local epochs, before the new
encoder arrives); FedAutoMRI the client's bias-corrected EMA.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from automri.errors import AutoMRIError
from automri.eval.convergence import convergence_sentence
from automri.eval.figures import alpha_trajectories, curves, genotype_diagram_cell
from automri.eval.profile import count_macs, example_inputs
from automri.eval.report import markdown_table
from automri.eval.report import write_report as write_markdown
from automri.experiments.experiment import (
    REPORT,
    Say,
    command_line,
    finished,
    image,
    link,
    now,
    open_experiment,
    read_json,
    read_jsonl,
    run_section,
    write_summary,
)
from automri.experiments.scales import FedAutoMRIScale, get_scale, scale_dict
from automri.federated.options import build_config
from automri.federated.simulation import run_federated
from automri.federated.spec import ClientSpec, FederationSpec, load_spec
from automri.federated.task import build_client_model, client_splits
from automri.nas.cell.genotype import PRIMITIVES, edge_labels, nodes_for_edges
from automri.nas.diagnostics import probabilities_from_logits, separation, separation_sentence
from automri.nas.factory import build_network
from automri.train.evaluate import validation_scores

EXPERIMENT = "fedautomri"
COMPARISONS = ("nonfed", "fedavg", "fedprox", "fedmri")
LABELS = {"nonfed": "Non-Fed", "fedavg": "FedAvg", "fedprox": "FedProx", "fedmri": "FedMRI",
          "fedautomri": "FedAutoMRI", "fedautomri-noema": "ema(w/o)",
          "fedautomri-globalema": "ema(w), global reading", "baseline": "baseline",
          "search": "FedNAS search"}
TITLE = "FedAutoMRI: federated architecture search and training"
SCORED_ROLE = {"search": "global", "nonfed": "personal", "fedavg": "global", "fedprox": "global", "fedmri": "global",
               "fedautomri": "personal", "fedautomri-noema": "global", "fedautomri-globalema": "personal",
               "baseline": "global"}
# Per-client sampling of a federation built from datasets (methods.md 1.8: the authors' FL code
# gives each site its own pattern at 4x): 1D random, 1D equispaced, 2D random.
CLIENT_MASKS = ("fastmri-random:cf=0.08,acc=4", "equispaced:cf=0.08,acc=4", "random2d:rate=0.25,radius=4")


def federation(datasets: tuple[str, ...], size: int, client_slices: int | None) -> Any:
    """The federation of the experiment.

    ``("default",)`` or one YAML path: that spec. Otherwise one client per dataset (a single
    dataset gives three clients that see it through different masks), masks cycling through
    :data:`CLIENT_MASKS`. ``client_slices`` caps every client's slices per split.
    """

    if len(datasets) == 1 and (datasets[0] == "default" or str(datasets[0]).endswith((".yaml", ".yml"))):
        spec = load_spec(datasets[0], size=size)
    else:
        names = list(datasets) * 3 if len(datasets) == 1 else list(datasets)
        clients = tuple(
            ClientSpec(name=f"{Path(name).name}-{CLIENT_MASKS[i % 3].split(':')[0]}-{i}", dataset=name,
                       mask=CLIENT_MASKS[i % 3], seed=i + 1)
            for i, name in enumerate(names)
        )
        spec = FederationSpec(clients, size, source="--dataset " + " ".join(datasets))
    if client_slices is not None:
        spec = FederationSpec(tuple(dataclasses.replace(c, max_slices=client_slices) for c in spec.clients),
                              spec.size, spec.source)
    return spec


def _run(name: str, algorithm: str, spec: Any, out: Path, rounds: int, local_epochs: int, scale: FedAutoMRIScale,
         seed: int, resume: bool, options: dict[str, Any], offset: int = 0) -> dict[str, Any]:
    """Method ``name``'s federated run at seed offset ``offset`` in ``out/<seeded_name(name, offset)>``
    (reused when finished and ``resume``) plus its MACs."""

    path = out / seeded_name(name, offset)
    if resume and finished(path):
        summary = read_json(path / "summary.json")
    else:
        summary = run_federated(algorithm, spec, rounds, local_epochs, scale.steps, path, seed=seed,
                                resume=resume and (path / "config.yaml").is_file(), **options)
    config = build_config(algorithm, spec, path, rounds=rounds, local_epochs=local_epochs, steps=scale.steps,
                          seed=seed, **options)
    macs = count_macs(build_client_model(config), example_inputs(spec.size))
    return {"run": path.name, "algorithm": algorithm, "params": summary["parameters"], "macs": macs,
            "role": SCORED_ROLE[name], "clients": summary["clients"], "mean": summary["mean"]}


def run_fedautomri_experiment(
    out: str | os.PathLike,
    datasets: tuple[str, ...] = ("default",),
    scale: str | FedAutoMRIScale = "small",
    comparisons: tuple[str, ...] = COMPARISONS,
    ablation: bool = True,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    command: str | None = None,
    say: Say = lambda message: None,
) -> dict[str, Any]:
    """Search, derive, train with EMA, compare (Table 1) and ablate (Table 2); write the report.

    Returns ``summary.json``'s ``results``: ``{"clients", "genotype", "search", "runs": {name: row}}``
    where a row is ``{"run", "algorithm", "params", "macs", "role", "clients", "mean"}``.
    """
    scale = get_scale(EXPERIMENT, scale) if isinstance(scale, str) else scale
    unknown = [c for c in comparisons if c not in COMPARISONS]
    if unknown:
        raise AutoMRIError(f"comparisons: unknown {unknown[0]!r} (expected any of {', '.join(COMPARISONS)})")
    spec = federation(tuple(datasets), scale.size, scale.client_slices)
    search_spec = spec if scale.search_size in (None, scale.size) else dataclasses.replace(spec, size=scale.search_size)
    started = now()
    run = open_experiment(out, EXPERIMENT, {"federation": spec.to_dict(), "scale": scale_dict(scale),
                                            "comparisons": list(comparisons), "ablation": ablation, "seed": seed},
                          resume, overwrite)
    out = run.path
    n = len(spec.clients)
    say(f"fedautomri: federated search (FedNAS + MiLeNAS), {scale.search_rounds} rounds x "
        f"{scale.search_local_epochs} local epochs, {n} clients, {search_spec.size} px")
    search = _run("search", "fednas", search_spec, out, scale.search_rounds, scale.search_local_epochs, scale, seed,
                  resume, {"batch_size": scale.search_batch, "space_options": scale.search_space})
    genotype_path = out / "search" / "genotype.json"
    if not genotype_path.is_file():
        raise AutoMRIError(f"{genotype_path}: the federated search wrote no genotype")
    runs: dict[str, Any] = {}
    for name, algorithm, options, seeds in training_plan(scale, str(genotype_path), comparisons, ablation):
        say(f"fedautomri: {LABELS[name]} ({algorithm}), {scale.train_rounds} rounds x {scale.train_local_epochs} "
            f"local epochs" + (f", {len(seeds)} seeds" if len(seeds) > 1 else ""))
        repeats = [_run(name, algorithm, spec, out, scale.train_rounds, scale.train_local_epochs, scale, seed + k,
                        resume, {"batch_size": scale.train_batch, **options}, offset=k)
                   for k in seeds]
        runs[name] = {**repeats[0], "seeds": [{"seed": seed + k, "run": r["run"], "clients": r["clients"],
                                               "mean": r["mean"]} for k, r in zip(seeds, repeats)]}
    results = {"clients": spec.client_names(), "federation": spec.to_dict(), "zero_filled": zero_filled_scores(spec),
               "genotype": read_json(genotype_path), "search": search, "runs": runs}
    summary = write_summary(run, EXPERIMENT, scale_dict(scale), command or command_line(), started, results)
    path = write_report(out, summary)
    say(f"fedautomri: report written to {path}")
    return results


def training_plan(scale: FedAutoMRIScale, genotype: str, comparisons: tuple[str, ...],
                  ablation: bool) -> list[tuple[str, str, dict[str, Any], range]]:
    """``(name, algorithm, options, seed offsets)`` of every training run: FedAutoMRI and the Table 1
    comparisons at ``scale.train_seeds`` seeds, the ablation rows of Table 2 once."""
    seeds, once = range(scale.train_seeds), range(1)
    derived = {"genotype": genotype, "space_options": scale.net_options}
    plan = [("fedautomri", "fedautomri", {**derived, "ema": True}, seeds)]
    if ablation:
        plan += [
            ("fedautomri-noema", "fedautomri", {**derived, "ema": False}, once),
            ("fedautomri-globalema", "fedautomri", {**derived, "ema": True, "ema_reading": "global"}, once),
            ("baseline", "fedavg", {"model": scale.baseline_model, "model_options": scale.baseline_options}, once),
        ]
    plan += [(c, c, {"model": scale.comparison_model, "model_options": scale.comparison_options}, seeds)
             for c in comparisons]
    return plan


def seeded_name(name: str, offset: int) -> str:
    """Sub-run directory of ``name`` at seed offset ``offset`` (the first seed keeps the plain name)."""
    return name if offset == 0 else f"{name}-seed{offset}"


def zero_filled_scores(spec: Any) -> dict[str, dict[str, float]]:
    """Per client, the fastMRI per-volume scores of the zero-filled input on its test split (the
    floor every learned row is read against), computed the way the clients score their models."""
    model = build_network("zero_filled")
    return {client.name: validation_scores(model, client_splits(client, spec.size)["test"]) for client in spec.clients}


# --- report ------------------------------------------------------------------------------------
def _cell(row: dict[str, Any], client: str, key: str, digits: int) -> str | None:
    """``key`` (e.g. ``personal-psnr``) of ``client`` in ``row``: one value, or mean ± std over the
    row's seeds when it has more than one."""
    values = [r["clients"].get(client, {}).get(key) for r in row.get("seeds") or [row]]
    values = [v for v in values if v is not None]
    if not values:
        return None
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def roles_of(row: dict[str, Any]) -> list[str]:
    """The models a run can be scored as (``global`` and/or ``personal``), its scored role first."""
    present = {key.split("-", 1)[0] for scores in row["clients"].values() for key in scores if "-" in key}
    return [row["role"], *sorted(r for r in present & {"global", "personal"} if r != row["role"])]


def _paper_table(rows: list[tuple[str, dict[str, Any]]], clients: list[str], macs: bool,
                 zero_filled: dict[str, dict[str, float]] | None = None) -> str:
    """The papers' layout: Method | Model | PSNR/dB per client | SSIM per client | Param/M (| MACs/G).

    A run is listed once per model it can be scored as (global aggregate, personalised), its
    scored role first; ``zero_filled`` (per-client scores) adds the zero-filled row on top."""

    psnr_cols = [f"PSNR/dB {c}" for c in clients]
    ssim_cols = [f"SSIM {c}" for c in clients]
    table = []
    if zero_filled:
        entry = {"Method": "Zero-filled", "Model": "input", "Param/M": "0", "MACs/G": "0"}
        for client, p, q in zip(clients, psnr_cols, ssim_cols):
            entry[p] = f"{zero_filled[client]['psnr']:.4f}"
            entry[q] = f"{zero_filled[client]['ssim']:.4f}"
        table.append(entry)
    for label, row in rows:
        for role in roles_of(row):
            entry = {"Method": label, "Model": role}
            for client, p, q in zip(clients, psnr_cols, ssim_cols):
                entry[p] = _cell(row, client, f"{role}-psnr", 4)
                entry[q] = _cell(row, client, f"{role}-ssim", 4)
            entry["Param/M"] = f"{row['params'] / 1e6:.4g}"
            entry["MACs/G"] = f"{row['macs'] / 1e9:.4g}"
            table.append(entry)
    columns = ["Method", "Model", *psnr_cols, *ssim_cols, "Param/M", *(["MACs/G"] if macs else [])]
    return markdown_table(table, columns)


def _figures(out: Path, results: dict[str, Any], base: Path) -> list[str]:
    """Genotype diagram, alpha trajectories, training curves; links to each client's panels (from ``base``)."""

    figures = out / "figures"
    lines = [image(genotype_diagram_cell(results["genotype"], figures / "genotype.png", title="searched cell"),
                   base, "searched cell")]
    alphas = read_jsonl(out / "search" / "alpha.jsonl")
    if alphas:
        labels = edge_labels(nodes_for_edges(len(alphas[-1]["alpha"])))
        path = alpha_trajectories([a["alpha"] for a in alphas], PRIMITIVES, figures / "alpha.png", edge_labels=labels)
        lines.append(image(path, base, "architecture weights per edge over search rounds"))
        diagnostics = separation(probabilities_from_logits(alphas[-1]["alpha"]))
        lines.append(separation_sentence(diagnostics, "The federated search"))
    history: dict[int, dict[str, Any]] = {}
    for name, row in results["runs"].items():
        for record in read_jsonl(out / name / "metrics.jsonl"):
            value = record["mean"].get(f"{row['role']}-psnr")
            if value is not None:
                history.setdefault(record["round"], {"round": record["round"]})[LABELS[name]] = value
    if history:
        keys = [LABELS[n] for n in results["runs"] if any(LABELS[n] in r for r in history.values())]
        path = curves([history[r] for r in sorted(history)], keys, figures / "training-psnr.png",
                      title="mean test PSNR over clients per round")
        lines.append(image(path, base, "training curves"))
    lines.append("")
    lines.append("Reconstructions with error maps, per client (written by each client at its site, FedAutoMRI run):")
    lines.append("")
    for client in results["clients"]:
        panel = out / "fedautomri" / "clients" / client / "figures" / f"reconstruction-{client}.png"
        if panel.is_file():
            lines.append(image(panel, base, f"{client}"))
    return lines


def report_sections(out: Path, summary: dict[str, Any], base: Path) -> list[tuple[str, str]]:
    """The report's sections (figures redrawn into ``out/figures``, linked from the folder ``base``)."""
    results = summary["results"]
    clients, runs = results["clients"], results["runs"]
    genotype = results["genotype"]
    table1 = [(LABELS[n], runs[n]) for n in (*COMPARISONS, "fedautomri") if n in runs]
    sections = [
        ("Federation", "\n".join(
            [f"- `{c['name']}`: `{c['dataset']}`, mask `{c['mask']}`, "
             f"at most {c['max_slices'] or 'all'} slices per split"
             for c in results["federation"]["clients"]]
            + ["", f"Derived genotype (`{link(out / 'search' / 'genotype.json', base)}`): "
                   f"`{genotype['nodes']}`, hidden {genotype['hidden']}, {genotype['cells']} cells, "
                   f"{genotype['iterations']} unrolled iterations."])),
        ("Table 1: comparison with federated methods",
         _paper_table(table1, clients, macs=False, zero_filled=results.get("zero_filled"))
         + "\nScores are per-client test scores after the last round (fastMRI per-volume PSNR/SSIM of magnitudes). "
           "*Model*: the model scored, *global* the aggregated model, *personal* the client's own (Non-Fed's local "
           "model, FedMRI's global encoder with the client's decoder, FedAutoMRI's bias-corrected EMA); each run's "
           "first row is the model its method reports. " + _seeds_sentence(runs) + "\n"
         + _convergence_note(out, summary)),
    ]
    if "baseline" in runs and "fedautomri-noema" in runs:
        rows = [("baseline", runs["baseline"]), ("ema(w/o)", runs["fedautomri-noema"])]
        if "fedautomri-globalema" in runs:
            rows.append(("ema(w), global reading (Polyak average of the server model)", runs["fedautomri-globalema"]))
        rows.append(("ema(w), personal reading (Eq. 7 with the client's own model)", runs["fedautomri"]))
        sections.append(("Table 2: ablation (EMA) and cost",
                         _paper_table(rows, clients, macs=True, zero_filled=results.get("zero_filled"))
                         + "\nMACs: multiply-accumulates of one slice at the experiment's image size, every unrolled "
                           "iteration and FFT included (the papers' FLOPs/G column counts the same quantity).\n"))
    sections.append(("Flower overhead per round", _overhead_table(out, ["search", *runs])))
    sections.append(("Figures", "\n".join(_figures(out, results, base))))
    return sections


def _seeds_sentence(runs: dict[str, Any]) -> str:
    counts = sorted({len(row.get("seeds") or [row]) for row in runs.values()})
    if counts == [1]:
        return "One seed per run."
    return (f"Cells with ± are mean ± std over {counts[-1]} seeds of the training phase (same search, same data); "
            "the others are one run.")


def _convergence_note(out: Path, summary: dict[str, Any]) -> str:
    """Per run, whether the mean over clients of its scored model's per-round PSNR (the clients
    score their test split every round) was flat over the last 20% of rounds
    (:mod:`automri.eval.convergence`), plus a warning at the test and demo scales."""
    scale = summary.get("scale", {})
    lines = []
    for name, row in summary["results"]["runs"].items():
        for repeat in row.get("seeds") or [row]:
            values = [record["mean"].get(f"{row['role']}-psnr")
                      for record in read_jsonl(out / repeat["run"] / "metrics.jsonl")]
            label = f"{LABELS[name]} (`{repeat['run']}`)"
            lines.append(f"- {convergence_sentence(label, values, 'round')}")
    note = "\nConvergence (mean over clients, per round):\n\n" + "\n".join(lines) + "\n" if lines else ""
    if scale.get("name") not in ("test", "demo"):
        return note
    steps = scale.get("train_rounds", 0) * scale.get("train_local_epochs", 0) * (scale.get("steps") or 0)
    return note + (f"\nAt the `{scale.get('name')}` scale each client trains for about {steps} steps in total: the "
                   "U-Net comparisons (fastMRI's design, no data consistency) are far from converged, while the "
                   "unrolled networks start from the zero-filled image. Compare methods at the `study` or `paper` "
                   "scale.\n")


def _overhead_table(out: Path, names: list[str]) -> str:
    """Mean seconds per round of each federated run: wall time, client compute on the critical path,
    and Flower's overhead (the difference), from the runs' ``summary.json`` (see
    :func:`automri.federated.report.round_timing`)."""

    rows = []
    for name in names:
        summary = read_json(out / name / "summary.json")
        if "round_overhead_s" not in summary:
            continue
        rows.append({"Run": LABELS.get(name, name), "round wall/s": summary["round_wall_s"],
                     "client compute/s": summary["client_compute_s"], "overhead/s": summary["round_overhead_s"],
                     "overhead share": summary["round_overhead_s"] / max(summary["round_wall_s"], 1e-12)})
    if not rows:
        return "No run recorded round timings.\n"
    return (markdown_table(rows, floatfmt=".3f")
            + "\nPer round: *client compute* is the longest client's local work in the train phase plus the longest "
              "in the evaluate phase (clients of a phase run in parallel); *overhead* is the rest of the round's wall "
              "time: Flower transport and serialisation, Ray scheduling, server aggregation and checks.\n")


def write_report(out: Path, summary: dict[str, Any]) -> Path:
    """Write ``out/report.md`` and ``out/figures/`` from ``summary`` and the sub-runs' logs."""

    return write_markdown(out / REPORT, [*report_sections(out, summary, out), run_section(summary)], title=TITLE)
