"""Sensitivity maps of coil data without stored maps: the ACS ratio and ESPIRiT (SigPy), measured
against known maps, and ``--sens-maps`` through the dataset builder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from automri.data.builtin import open_builtin
from automri.data.coils import espirit_maps, estimate_sens_maps, sens_maps
from automri.data.datasets import build_dataset
from automri.data.simulate import coil_maps
from automri.errors import AutoMRIError


@pytest.fixture(scope="module")
def brain_coils():
    """A 64 px Colin27 slice seen by 8 simulated coils, with its true maps and object mask."""
    source = open_builtin("colin27")
    volume = source.volumes()[0]
    image = source.load_slice(volume, source.num_slices(volume) // 2).image.float()
    image = torch.nn.functional.interpolate(image[None, None], size=(64, 64), mode="bilinear")[0, 0]
    true = coil_maps((64, 64), 8, np.random.default_rng(0))
    return true * image.to(torch.complex64), true, image.abs() > 0.1 * image.abs().max()


def _agreement(estimate: torch.Tensor, true: torch.Tensor, inside: torch.Tensor) -> float:
    """Mean over the object of ``|sum_c conj(S_est) S_true|``: 1 for the true maps up to a phase."""
    return float((estimate.conj() * true).sum(0).abs()[inside].mean())


def test_espirit_recovers_known_maps_at_least_as_well_as_the_acs_ratio(brain_coils):
    coils, true, inside = brain_coils
    acs, espirit = _agreement(estimate_sens_maps(coils), true, inside), _agreement(espirit_maps(coils), true, inside)
    assert espirit > 0.999 and acs > 0.98 and espirit >= acs
    norm = espirit_maps(coils).abs().pow(2).sum(0)
    torch.testing.assert_close(norm[inside], torch.ones_like(norm[inside]), atol=1e-3, rtol=0)  # sum |S|^2 = 1
    assert torch.equal(sens_maps(coils, "acs"), estimate_sens_maps(coils))


def test_sens_maps_reach_the_dataset_of_coil_files(cc359_mc):
    acs = build_dataset(str(cc359_mc.path), "all", size=None, mask="random:rate=0.5,center=0.2")
    espirit = build_dataset(str(cc359_mc.path), "all", size=None, mask="random:rate=0.5,center=0.2",
                            sens_method="espirit")
    first, second = acs[0], espirit[0]
    assert first.sens.shape == second.sens.shape and torch.isfinite(second.sens).all()
    assert not torch.allclose(first.sens, second.sens)  # another estimate of the same coils
    with pytest.raises(AutoMRIError, match="--sens-maps: expected one of acs, espirit, got 'grappa'"):
        build_dataset(str(cc359_mc.path), "all", sens_method="grappa")


def test_the_option_is_checked_in_training_and_search_configs(cc359_mc):
    from automri.nas.options import SearchOptions
    from automri.train.config import config_from_dict

    config = config_from_dict({"model": {"name": "zero_filled"},
                               "data": {"dataset": str(cc359_mc.path), "size": None, "sens_maps": "espirit"}})
    assert config.data.sens_maps == "espirit"
    with pytest.raises(AutoMRIError, match="data.sens_maps: expected one of acs, espirit, got 'sense'"):
        config_from_dict({"model": {"name": "zero_filled"}, "data": {"sens_maps": "sense"}})
    with pytest.raises(AutoMRIError, match="--sens-maps: expected one of acs, espirit, got 'sense'"):
        SearchOptions(sens_maps="sense")


def test_without_sigpy_espirit_says_how_to_get_it(monkeypatch, brain_coils):
    import sys

    monkeypatch.setitem(sys.modules, "sigpy.mri.app", None)  # as if SigPy were not installed
    with pytest.raises(AutoMRIError, match="--sens-maps espirit needs SigPy: pip install 'automri\\[espirit\\]'"):
        espirit_maps(brain_coils[0])
