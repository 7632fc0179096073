"""The one factory of reconstruction networks: a registered model name, a genotype dict or a
genotype JSON file in, an ``nn.Module`` out (``model(kspace, mask, sens=None) -> complex [B, H, W]``).

Search-time supernets (the networks whose architecture is still being searched) come from
:func:`build_search_network`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from automri.errors import AutoMRIError
from automri.models.registry import MODELS, build_model
from automri.nas.cell.network import CellNet
from automri.nas.cell.space import CellSearchNet
from automri.nas.genotype import load_genotype, validate_genotype
from automri.nas.rir.network import RIRNet
from automri.nas.rir.space import RIRSearchNet

DERIVED_NETWORKS = {"cell": CellNet, "rir": RIRNet}
SEARCH_NETWORKS = {"cell": CellSearchNet, "rir": RIRSearchNet}

NetworkSpec = str | os.PathLike | dict[str, Any]


def build_network(spec: NetworkSpec, **options: Any) -> nn.Module:
    """The network ``spec`` describes.

    Args:
        spec: a registered model name (``unet``, ``modl``, ``cell_net``, ...), a genotype dict
            (``{"space": "cell" | "rir", ...}``) or the path of a genotype JSON file.
        options: the model's keyword arguments (registry models) or overrides of the genotype's
            settings (``from_genotype`` of :class:`CellNet` / :class:`RIRNet`).
    """
    if isinstance(spec, dict):
        genotype = validate_genotype(spec)
    elif isinstance(spec, str) and spec in MODELS:
        return build_model(spec, **options)
    elif Path(spec).suffix == ".json" or Path(spec).is_file():
        genotype = load_genotype(spec)
    else:
        return build_model(str(spec), **options)  # unknown name: the registry's error lists the names
    return DERIVED_NETWORKS[genotype["space"]].from_genotype(genotype, **options)


def build_search_network(space: str, **options: Any) -> nn.Module:
    """The supernet of ``space`` (``"cell"``: :class:`CellSearchNet`, ``"rir"``: :class:`RIRSearchNet`)."""
    if space not in SEARCH_NETWORKS:
        raise AutoMRIError(f"--space {space!r}: unknown search space (expected one of {', '.join(SEARCH_NETWORKS)})")
    return SEARCH_NETWORKS[space](**options)
