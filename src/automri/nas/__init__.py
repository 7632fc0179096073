"""AutoMRI nas layer: the two search spaces, genotypes, the search strategies and the network factory.

- ``cell/``: the FedAutoMRI cell space (``genotype`` <- ``ops`` <- ``network`` (derived ``CellNet``)
  <- ``space`` (``CellSearchNet``)); ``strategies``: MiLeNAS and DARTS over it.
- ``rir/``: the EMR-NAS space (``ops`` <- ``genotype`` (with the folds' ensembling) <- ``network``
  (derived ``RIRNet``) <- ``space`` (``RIRSearchNet``, ProxylessNAS binarised edges));
  ``proxyless``: the ProxylessNAS strategy over it.
- ``genotype``: genotype files of both spaces; ``factory``: ``build_network(name | genotype | file)``;
  ``options``: ``SearchOptions``, the settings of a search run (run by ``automri.experiments``).

Importing this package registers the model names ``cell_net`` and ``rir_net`` in
``automri.models.registry``.
"""

from automri.models.registry import register_model
from automri.nas.cell.genotype import FEDNAS_V1, PRIMITIVES, derive_genotype
from automri.nas.cell.network import CellNet, cell_net
from automri.nas.cell.space import CellSearchNet, MixedOp, SearchCell
from automri.nas.factory import build_network, build_search_network
from automri.nas.genotype import load_genotype, save_genotype, validate_genotype
from automri.nas.options import SearchOptions
from automri.nas.proxyless import ProxylessStrategy
from automri.nas.rir.network import RIRNet, rir_net
from automri.nas.rir.space import RIRSearchNet
from automri.nas.strategies import DARTSFirstOrder, DARTSSecondOrder, MiLeNAS, build_strategy

register_model("cell_net", cell_net, width_arg="hidden")
register_model("rir_net", rir_net, width_arg="width")

__all__ = [
    "FEDNAS_V1",
    "PRIMITIVES",
    "CellNet",
    "CellSearchNet",
    "DARTSFirstOrder",
    "DARTSSecondOrder",
    "MiLeNAS",
    "MixedOp",
    "ProxylessStrategy",
    "RIRNet",
    "RIRSearchNet",
    "SearchCell",
    "SearchOptions",
    "build_network",
    "build_search_network",
    "build_strategy",
    "derive_genotype",
    "load_genotype",
    "save_genotype",
    "validate_genotype",
]
