"""The demo's opening: the shipped models (:mod:`automri.train.shipped`) reconstructing held-out slices.

For every shipped model trained on the demo's dataset, :func:`run_shipped` scores zero-filled,
CS-TV and the shipped network side by side on that model's own test split (the slices its
training never saw: the split is by subject, or by slabs with a gap, see ``data/splits.py``),
with the model's size, mask and phase, by the one evaluator; :func:`shipped_sections` writes the
report section: a table (fastMRI per-volume and per-slice scores), reconstruction panels with error
maps, and where each model comes from (its training command and its documented test PSNR).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from automri.eval.figures import reconstruction_panel
from automri.eval.report import markdown_table
from automri.experiments.experiment import EXAMPLES, image, write_examples
from automri.experiments.predict import build_predict_split
from automri.models.registry import build_model
from automri.train.evaluate import evaluate_model
from automri.train.shipped import list_shipped, load_shipped

CS_ITERATIONS = 50
SHOWN = (1 / 3, 2 / 3)
"""Which held-out slices the panels show (fractions of the way through the split)."""
CLASSICAL = {"zero_filled": "Zero-filled", "cs_tv": "CS (TV)"}


def applicable(dataset: str) -> list[dict[str, Any]]:
    """The shipped entries trained on ``dataset`` (a built-in name), best documented test PSNR first."""
    entries = [entry for entry in list_shipped() if entry["data"]["dataset"] == dataset]
    return sorted(entries, key=lambda entry: -entry["test"]["psnr"])


def run_shipped(out: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Zero-filled, CS-TV and shipped model ``entry`` on the model's test split.

    Writes ``out/<name>/<method>/`` (evaluator files) and ``out/<name>/examples.npz`` (target, mask and
    each method's magnitude ``[H, W]`` of the :data:`SHOWN` slices, keys ``<method>-<k>``); returns
    ``{"name", "label", "entry": {...}, "slices", "shown": [slice], "rows": [{"model", "label",
    "volume", "slice"}]}``.
    """
    name = entry["name"]
    network, config, entry = load_shipped(name)
    data = build_predict_split(config, entry["data"]["split"])
    picks = sorted({min(len(data) - 1, int(f * len(data))) for f in SHOWN})
    methods = [("zero_filled", CLASSICAL["zero_filled"], build_model("zero_filled")),
               ("cs_tv", CLASSICAL["cs_tv"], build_model("cs_tv", n_iter=CS_ITERATIONS)),
               ("shipped", f"{entry['model']} (shipped)", network)]
    rows, examples, shown = [], {}, []
    for key, label, model in methods:
        result = evaluate_model(model, data, batch_size=4, device="cpu", out=out / name / key, panels=len(data),
                                progress=False)
        for k, position in enumerate(picks):
            item = result["predictions"][position]
            examples.setdefault(f"target-{k}", item["target"])
            examples.setdefault(f"mask-{k}", item["mask"])
            examples[f"{key}-{k}"] = item["reconstruction"]
            if key == "shipped":
                shown.append(item["slice"])
        rows.append({"model": key, "label": label, "volume": result["volume_summary"], "slice": result["slice_summary"]})
    write_examples(out / name / EXAMPLES, examples)
    documented = {k: entry[k] for k in ("model", "params", "train_command", "data", "test", "history") if k in entry}
    return {"name": name, "label": f"{entry['model']} (shipped)", "entry": documented, "slices": len(data),
            "shown": shown, "rows": rows}


def shipped_sections(out: Path, results: list[dict[str, Any]], folder: str = "shipped") -> list[tuple[str, str]]:
    """Report sections (heading, Markdown) of :func:`run_shipped` results; panels go to ``out/figures``."""
    sections = []
    for result in results:
        entry = result["entry"]
        data = entry["data"]
        table = [{"Method": row["label"], "PSNR/dB": f"{row['volume']['psnr']['mean']:.2f}",
                  "SSIM": f"{row['volume']['ssim']['mean']:.4f}", "NMSE": f"{row['volume']['nmse']['mean']:.4g}",
                  "PSNR/dB per slice": f"{row['slice']['psnr']['mean']:.2f} ± {row['slice']['psnr']['std']:.2f}"}
                 for row in result["rows"]]
        gain = result["rows"][-1]["volume"]["psnr"]["mean"] - result["rows"][0]["volume"]["psnr"]["mean"]
        body = [f"The shipped `{result['name']}` ({entry['model']}, {entry['params']:,} parameters) on the "
                f"{result['slices']} held-out `{data['split']}` slices of `{data['dataset']}` at {data['size']} px, "
                f"mask `{data['mask']}` (slices its training never saw), next to zero-filled and CS-TV on the same "
                f"slices: {gain:+.2f} dB over zero-filled (fastMRI per-volume PSNR; the per-slice column gives the "
                f"spread). Its documented test PSNR is {entry['test']['psnr']:.2f} dB; it was trained by "
                f"`{entry['train_command']}` (`automri predict --list` shows every shipped model).", "",
                markdown_table(table)]
        with np.load(out / folder / result["name"] / EXAMPLES) as arrays:
            for k, slice_index in enumerate(result["shown"]):
                recons = {row["label"]: arrays[f"{row['model']}-{k}"] for row in result["rows"]}
                panel = reconstruction_panel(arrays[f"target-{k}"], recons, arrays[f"mask-{k}"],
                                             path=out / "figures" / f"shipped-{result['name']}-{k}.png",
                                             title=f"{data['dataset']} held-out slice {slice_index}")
                body.append(image(panel, out, f"held-out slice {slice_index}: zero-filled, CS and the shipped net, "
                                               "with error maps"))
        sections.append((f"Shipped model: {result['name']} on held-out slices", "\n".join(body)))
    return sections


__all__ = ["applicable", "run_shipped", "shipped_sections"]
