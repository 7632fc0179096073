"""AutoMRI: neural architecture search for MR image reconstruction (FedAutoMRI, EMR-NAS).

The documented Python API (docs/api.md) is importable from the package root::

    import automri
    data = automri.build_splits("colin27", ("train", "test"), size=64)
    net = automri.build_network("dccnn", nf=16)
    scores = automri.evaluate_model(net, data["test"], progress=False)

Names are resolved on first use (PEP 562), so ``import automri`` stays cheap and the package root
imports no layer at import time: each name lives in the layer that owns it (:data:`API`).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

API: dict[str, str] = {
    # data
    "build_dataset": "automri.data.datasets",
    "build_splits": "automri.data.datasets",
    "open_source": "automri.data.readers",
    "build_mask": "automri.physics.masks",
    # networks
    "build_network": "automri.nas.factory",
    "build_search_network": "automri.nas.factory",
    "load_genotype": "automri.nas.genotype",
    "save_genotype": "automri.nas.genotype",
    "count_params": "automri.models.registry",
    "available_models": "automri.models.registry",
    # training and scoring
    "RunConfig": "automri.train.config",
    "builtin_config": "automri.train.config",
    "train_model": "automri.train.engine:train",
    "fit": "automri.train.engine",
    "load_trained": "automri.train.engine",
    "evaluate_model": "automri.train.evaluate",
    "score_directory": "automri.eval.score",
    "profile_model": "automri.eval.profile",
    # searches
    "SearchOptions": "automri.nas.options",
    "run_cell_search": "automri.experiments.cell_search",
    "run_rir_search": "automri.experiments.rir_search",
    "separation": "automri.nas.diagnostics",
    # federated
    "run_federated": "automri.federated.simulation",
}
"""Public name -> the module that defines it (``module:attribute`` where the names differ:
``automri.train`` is the training package, so ``automri train``'s library call is ``train_model``)."""

__all__ = ["API", "__version__", *API]


def __getattr__(name: str) -> Any:
    if name not in API:
        raise AttributeError(f"module 'automri' has no attribute {name!r}")
    module, _, attribute = API[name].partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
