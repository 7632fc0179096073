"""Model registry: names -> builders, construction with checked keyword arguments, parameter
counting, and choosing a width to meet a parameter budget (EMR-NAS compares all baselines at
~0.33M parameters).

Built-in names: ``zero_filled``, ``cs_tv``, ``unet``, ``dccnn``, ``modl``, ``rdn``, ``cddn_tdc``.
The NAS package (a higher layer) adds ``cell_net`` and ``rir_net`` with :func:`register_model` when
``automri.nas`` is imported; :func:`automri.nas.factory.build_network` is the one entry point that
builds any network (a registered name, a genotype dict or a genotype file).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.models.cddn_tdc import CDDNTDC
from automri.models.cs import TotalVariationCS
from automri.models.dccnn import DCCNN
from automri.models.modl import MoDL
from automri.models.rdn import RDN
from automri.models.unet import UNet
from automri.models.zero_filled import ZeroFilled

Builder = Callable[..., nn.Module]

#: name -> builder (a callable taking keyword arguments and returning the model).
MODELS: dict[str, Builder] = {}
#: name -> the builder's width-like keyword (None for models without one).
WIDTH_ARGS: dict[str, str | None] = {}

_MAX_WIDTH = 4096


def register_model(name: str, builder: Builder, width_arg: str | None = "width") -> None:
    """Register ``builder`` under ``name``; ``width_arg`` names its width keyword (None: no width).

    Re-registering the same builder is a no-op; a different builder under a taken name is an error.
    """
    if name in MODELS and MODELS[name] is not builder:
        raise AutoMRIError(f"model {name!r} is already registered (by {MODELS[name]!r})")
    if width_arg is not None and width_arg not in _keyword_names(builder):
        raise AutoMRIError(f"model {name!r}: builder {builder!r} has no keyword {width_arg!r}")
    MODELS[name] = builder
    WIDTH_ARGS[name] = width_arg


def _keyword_names(builder: Builder) -> set[str] | None:
    """Keyword names ``builder`` accepts, or None when it takes ``**kwargs``."""
    parameters = inspect.signature(builder).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def available_models() -> list[str]:
    """Every registered model name, sorted (``cell_net`` / ``rir_net`` once ``automri.nas`` is imported)."""
    return sorted(MODELS)


def _builder(name: str) -> Builder:
    if name not in MODELS:
        raise AutoMRIError(f"model: unknown name {name!r} (expected one of {', '.join(sorted(MODELS))})")
    return MODELS[name]


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build the model registered as ``name`` with keyword arguments ``kwargs``.

    Raises :class:`AutoMRIError` for an unknown name or keyword, listing the valid ones.
    """
    builder = _builder(name)
    accepted = _keyword_names(builder)
    if accepted is not None:
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise AutoMRIError(
                f"model {name!r}: unknown option(s) {', '.join(unknown)} "
                f"(expected any of {', '.join(sorted(accepted)) or 'none'})"
            )
    return builder(**kwargs)


def width_kwarg(name: str) -> str | None:
    """The width-like keyword of model ``name`` (e.g. ``"chans"`` for ``unet``), None if it has none."""
    _builder(name)
    return WIDTH_ARGS[name]


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameter elements of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _count_at_width(name: str, width_arg: str, width: int, kwargs: dict[str, object]) -> int:
    """Trainable parameters of ``name`` built with ``width`` on the meta device (no memory, no init)."""
    with torch.device("meta"):
        return count_params(build_model(name, **{width_arg: width}, **kwargs))


def width_for_params(name: str, budget: int, **kwargs: object) -> int:
    """The width whose trainable parameter count is closest to ``budget`` (ties: the smaller width).

    ``kwargs`` are the other builder options, fixed during the search. Assumes the count grows with
    the width (true for every built-in model): doubles the width until the budget is reached, then
    bisects.
    """
    width_arg = width_kwarg(name)
    if width_arg is None:
        raise AutoMRIError(f"--params: model {name!r} has no width to scale to a parameter budget")
    if width_arg in kwargs:
        raise AutoMRIError(f"--params: {width_arg!r} is chosen from the budget; do not also give it")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise AutoMRIError(f"--params: expected a positive parameter budget, got {budget!r}")

    def count(width: int) -> int:
        return _count_at_width(name, width_arg, width, kwargs)

    high = 1
    while count(high) < budget:
        if high >= _MAX_WIDTH:
            raise AutoMRIError(f"--params: {name!r} needs a {width_arg} above {_MAX_WIDTH} for {budget} parameters")
        high *= 2
    low = high // 2  # count(low) < budget <= count(high), or high == 1
    while high - low > 1:
        middle = (low + high) // 2
        if count(middle) < budget:
            low = middle
        else:
            high = middle
    if low < 1:
        return high
    return low if budget - count(low) <= count(high) - budget else high


register_model("zero_filled", ZeroFilled, width_arg=None)
register_model("cs_tv", TotalVariationCS, width_arg=None)
register_model("unet", UNet, width_arg="chans")
register_model("dccnn", DCCNN, width_arg="nf")
register_model("modl", MoDL, width_arg="nf")
register_model("rdn", RDN, width_arg="nf")
register_model("cddn_tdc", CDDNTDC, width_arg="nf")
