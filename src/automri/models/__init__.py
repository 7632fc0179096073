"""Reconstruction models, one module each, all called as ``model(kspace, mask, sens=None) -> complex [B, H, W]``.

Build them by name through :mod:`automri.models.registry`.
"""

from automri.models.cddn_tdc import CDDNTDC
from automri.models.cs import TotalVariationCS
from automri.models.dccnn import DCCNN
from automri.models.modl import MoDL
from automri.models.rdn import RDN
from automri.models.registry import (
    MODELS,
    available_models,
    build_model,
    count_params,
    register_model,
    width_for_params,
    width_kwarg,
)
from automri.models.unet import UNet
from automri.models.zero_filled import ZeroFilled

__all__ = [
    "CDDNTDC",
    "DCCNN",
    "MODELS",
    "RDN",
    "MoDL",
    "TotalVariationCS",
    "UNet",
    "ZeroFilled",
    "available_models",
    "build_model",
    "count_params",
    "register_model",
    "width_for_params",
    "width_kwarg",
]
