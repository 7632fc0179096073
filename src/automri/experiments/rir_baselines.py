"""EMR-NAS Table 2's baselines (U-Net, DC-CNN, RDN, CDDN-TDC, zero-filled) trained and tested on the
same folds as the searched network, each from its shipped recipe at the searched net's parameter
count (:mod:`automri.experiments.rir_search`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automri.errors import AutoMRIError
from automri.experiments.rir_search import fold_datasets, fold_summary, train_and_test
from automri.models.registry import build_model, count_params, width_for_params, width_kwarg
from automri.nas.options import SearchOptions
from automri.nas.rir.network import RIRNet
from automri.train.config import builtin_config
from automri.train.runs import RunDir
from automri.train.seed import derive_seed


def recipe_options(name: str) -> dict[str, Any]:
    """The model options of ``name``'s shipped recipe (``automri/configs/<name>.yaml``) without its
    width, which a parameter budget chooses (e.g. the U-Net's 4 pools on magnitudes, no ``chans``)."""
    options = dict(builtin_config(name).model.options)
    options.pop(width_kwarg(name), None)
    return options


def run_baselines(
    options: SearchOptions, names: Sequence[str], params: int | None = None,
    model_options: dict[str, dict[str, Any]] | None = None, *, figures: bool = True,
) -> dict[str, Any]:
    """Train and test baselines (``unet``, ``dccnn``, ``rdn``, ``cddn_tdc``) on the same folds, each
    with its recipe's architecture (:func:`recipe_options`, updated by ``model_options[name]``) at
    the width matching a parameter count (``params``; default that of the ensemble genotype in
    ``options.out/genotype.json`` or, without one, of the paper's 0.33M); a model without a width
    (``zero_filled``) is tested as it is. Writes ``baselines.json``."""
    if options.retrain_epochs < 1:
        raise AutoMRIError("--retrain-epochs: baselines need at least 1 training epoch")
    out = Path(options.out)
    run = RunDir(out, resume=out.is_dir())
    if params is None:
        genotype_path = out / "genotype.json"
        if genotype_path.is_file():
            params = count_params(RIRNet.from_genotype(json.loads(genotype_path.read_text())), trainable_only=False)
        else:
            params = 330_000
    folds = fold_datasets(options)
    results: dict[str, Any] = {}
    for name in names:
        fixed = {**recipe_options(name), **(model_options or {}).get(name, {})}
        width_arg = width_kwarg(name)
        kwargs = fixed if width_arg is None else {width_arg: width_for_params(name, params, **fixed), **fixed}
        scores = [
            train_and_test(
                options, lambda kw=kwargs: build_model(name, **kw), data, out / "baselines" / name / f"fold-{k}",
                derive_seed(options.seed, k, 2), figures,
            )
            for k, data in enumerate(folds)
        ]
        results[name] = {
            "kwargs": kwargs,
            "params": count_params(build_model(name, **kwargs), trainable_only=False),
            "folds": scores,
            "test": fold_summary(scores),
        }
    run.write_json("baselines.json", {"params_budget": params, "models": results})
    return results
