"""EMR-NAS Table 3: the ablation variants, each searched (searches with the same space are shared),
derived, retrained and tested on the same folds as the proposed network
(:mod:`automri.experiments.rir_search`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automri.errors import AutoMRIError
from automri.experiments.rir_search import (
    check_options,
    derive_and_retrain,
    fold_datasets,
    options_config,
    run_dir,
    search_folds,
    space_settings,
)
from automri.nas.options import SearchOptions
from automri.train.runs import RunDir

ABLATIONS: dict[str, dict[str, Any]] = {
    "A": {"label": "proposed", "space": {}, "derive": "ensemble"},
    "B": {"label": "batch norm", "space": {"batch_norm": True}, "derive": "ensemble"},
    "C": {"label": "no RIR", "space": {"rir": False}, "derive": "ensemble"},
    "D": {"label": "random architecture", "space": {}, "derive": "random"},
    "E": {"label": "per-fold (no ensemble)", "space": {}, "derive": "per_fold"},
    "F": {"label": "deeper (4 cells per block), homogeneous", "space": {"cells_per_block": 4}, "derive": "homogeneous"},
    "G": {"label": "homogeneous blocks", "space": {}, "derive": "homogeneous"},
}


def run_ablations(
    options: SearchOptions, variants: Sequence[str] = tuple(ABLATIONS), *, figures: bool = True
) -> dict[str, Any]:
    """Table 3: each variant in ``out/ablations/<variant>`` (searches with the same space are shared,
    in ``out/ablations/search-<variant>``); returns and writes ``ablations.json``
    ``{variant: {"label", "display", "params", "test"}}``."""
    check_options(options)
    unknown = [v for v in variants if v not in ABLATIONS]
    if unknown:
        raise AutoMRIError(f"variants: unknown {unknown} (expected any of {list(ABLATIONS)})")
    out = Path(options.out)
    run = RunDir(out, resume=options.resume)
    run.write_config({**options_config(options), "ablations": list(variants)})
    folds = fold_datasets(options)
    searches: dict[str, list[dict[str, Any]]] = {}
    search_dirs: dict[str, str] = {}
    results: dict[str, Any] = {}
    for variant in variants:
        spec = ABLATIONS[variant]
        space = space_settings(options, spec["space"])
        key = repr(sorted(spec["space"].items()))
        found = None
        if spec["derive"] != "random":
            if key not in searches:
                search_dirs[key] = variant
                searches[key] = search_folds(options, space, folds, out / "ablations" / f"search-{variant}", figures)
            found = searches[key]
        variant_run = run_dir(out / "ablations" / variant, options.resume)
        summary = derive_and_retrain(options, variant_run, space, spec["derive"], folds, found, figures)
        results[variant] = {
            "label": spec["label"],
            "display": summary["display"],
            "params": summary["params"],
            "search": None if found is None else f"ablations/search-{search_dirs[key]}",
            **({"test": summary["test"]} if "test" in summary else {}),
        }
    run.write_json("ablations.json", results)
    return results
