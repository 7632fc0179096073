"""AutoMRI nas layer: search spaces, genotypes and search strategies.

- ``ops``, ``cell_space``, ``genotype``, ``strategies``: the FedAutoMRI cell space (8 ops, mixed
  cells, the searchable MoDL network ``CellSearchNet`` and the derived ``CellNet``), genotype
  derivation / JSON / ``build_network``, and the MiLeNAS and DARTS strategies.
- ``cell_search``: ``run_cell_search(SearchOptions)``, the centralised cell search end to end.
- ``rir_ops``, ``rir_space``, ``proxyless``, ``ensemble``, ``rir_search``: the EMR-NAS space.

``cell_search`` and ``rir_search`` drive the train engine and are not imported here. Importing
this package registers the model names ``cell_net`` (here) and ``rir_net`` (in ``rir_space``) in
``automri.models.registry``.
"""

from automri.nas.cell_space import CellNet, CellSearchNet, MixedOp, SearchCell
from automri.models.registry import register_model
from automri.nas.genotype import (
    FEDNAS_V1,
    build_network,
    cell_net,
    derive_genotype,
    load_genotype,
    save_genotype,
    validate_genotype,
)
from automri.nas.ops import PRIMITIVES
from automri.nas.rir_space import RIRNet, RIRSearchNet, rir_net
from automri.nas.options import SearchOptions
from automri.nas.strategies import DARTSFirstOrder, DARTSSecondOrder, MiLeNAS, build_strategy

__all__ = [
    "FEDNAS_V1",
    "PRIMITIVES",
    "CellNet",
    "CellSearchNet",
    "DARTSFirstOrder",
    "DARTSSecondOrder",
    "MiLeNAS",
    "MixedOp",
    "RIRNet",
    "RIRSearchNet",
    "SearchCell",
    "SearchOptions",
    "build_network",
    "build_strategy",
    "derive_genotype",
    "load_genotype",
    "save_genotype",
    "validate_genotype",
]

register_model("cell_net", cell_net, width_arg="hidden")
