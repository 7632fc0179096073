"""Registry: building by name, option checking, parameter hand counts, width for a parameter budget."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.models import MODELS, build_model, count_params, register_model, registry, width_for_params, width_kwarg
from automri.models.cddn_tdc import CDDNTDC
from automri.models.dccnn import DCCNN
from automri.models.rdn import RDN

BUILTIN = ["zero_filled", "cs_tv", "unet", "dccnn", "modl", "rdn", "cddn_tdc"]


def test_builtin_names_are_registered():
    assert set(BUILTIN) <= set(MODELS)
    assert count_params(build_model("zero_filled")) == 0
    assert count_params(build_model("cs_tv")) == 0


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(AutoMRIError, match="unknown name 'nope'.*cddn_tdc.*unet"):
        build_model("nope")


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(AutoMRIError, match=r"unknown option\(s\) width.*n_cascades.*nf"):
        build_model("dccnn", width=3)


def test_register_model_adds_a_builder_and_refuses_a_clash(monkeypatch):
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    monkeypatch.setattr(registry, "WIDTH_ARGS", dict(registry.WIDTH_ARGS))

    def tiny(width: int = 2) -> nn.Module:
        return nn.Conv2d(2, width, 1)

    register_model("tiny", tiny)
    register_model("tiny", tiny)  # same builder again: fine
    assert isinstance(registry.build_model("tiny", width=3), nn.Conv2d)
    assert registry.width_kwarg("tiny") == "width"
    assert registry.width_for_params("tiny", 9) == 3  # 2*3 weights + 3 biases
    with pytest.raises(AutoMRIError, match="already registered"):
        register_model("tiny", lambda width=1: tiny(width))
    with pytest.raises(AutoMRIError, match="no keyword 'width'"):
        register_model("other", lambda chans=1: tiny(chans))


def _dccnn_hand_count(nf: int, cascades: int, convs: int) -> int:
    return cascades * ((2 * nf * 9 + nf) + (convs - 2) * (nf * nf * 9 + nf) + (nf * 2 * 9 + 2))


def _rdn_hand_count(nf: int, blocks: int, recursions: int, dilations: int) -> int:
    return blocks * ((2 * nf * 9 + nf) + recursions * dilations * (nf * nf * 9 + nf) + (nf * 2 * 9 + 2))


def _cddn_hand_count(nf: int, growth: int, cascades: int, units: int) -> int:
    total = 9 * 2 * nf  # abstraction, no bias (InstanceNorm follows)
    chans = nf
    for _ in range(units):
        total += chans * (chans // 2) + 9 * (chans // 2) * growth
        chans += growth
    total += chans * (chans // 2) + 9 * (chans // 2) * 2 + 2  # transition + restore
    return cascades * total


def test_dccnn_parameters_match_the_hand_count():
    assert count_params(DCCNN(nf=64, n_cascades=5, n_convs=5)) == _dccnn_hand_count(64, 5, 5) == 565_770
    assert count_params(DCCNN(nf=8, n_cascades=2, n_convs=3, dc="noise")) == _dccnn_hand_count(8, 2, 3) + 2


def test_rdn_parameters_match_the_hand_count():
    assert count_params(RDN(nf=8, n_blocks=2, n_recursions=3, dilations=(1, 2, 4, 1))) == _rdn_hand_count(8, 2, 3, 4)


def test_cddn_parameters_match_the_hand_count():
    assert count_params(CDDNTDC(nf=6, growth=4, n_cascades=3)) == _cddn_hand_count(6, 4, 3, 3)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("dccnn", {}), ("rdn", {}), ("cddn_tdc", {}), ("modl", {}), ("unet", {"num_pool_layers": 3})],
)
def test_width_for_params_lands_near_the_emr_nas_budget(name, kwargs):
    width = width_for_params(name, 330_000, **kwargs)
    count = count_params(build_model(name, **{width_kwarg(name): width}, **kwargs))
    assert abs(count - 330_000) <= 0.1 * 330_000
    for neighbour in (width - 1, width + 1):
        other = count_params(build_model(name, **{width_kwarg(name): neighbour}, **kwargs))
        assert abs(other - 330_000) >= abs(count - 330_000)


def test_width_for_params_errors():
    with pytest.raises(AutoMRIError, match="no width"):
        width_for_params("cs_tv", 1000)
    with pytest.raises(AutoMRIError, match="chosen from the budget"):
        width_for_params("dccnn", 1000, nf=4)
    with pytest.raises(AutoMRIError, match="positive parameter budget"):
        width_for_params("dccnn", 0)


def test_width_for_params_leaves_no_meta_tensors_behind():
    width_for_params("rdn", 10_000)
    assert torch.zeros(1).device.type == "cpu"
