"""CC-359's own protocol: ``--outer-slices N`` drops N slices at each end of every volume (the
Calgary-Campinas challenge and DIRECT's ``crop_outer_slices`` drop 50), in training and both searches."""

from __future__ import annotations

import pytest
from cli_helpers import run_cli

from automri.data.readers.cc359 import CHALLENGE_OUTER_SLICES, outer_slice_options
from automri.errors import AutoMRIError
from automri.experiments.cell_search import search_datasets
from automri.experiments.rir_search import fold_datasets
from automri.nas.options import SearchOptions
from automri.train.config import config_from_dict
from automri.train.engine import build_split

SPLITS = ("train", "val", "test")


def _slices(config) -> int:
    return sum(len(build_split(config, split)) for split in SPLITS)


def test_outer_slices_drop_slices_at_each_end_of_every_volume_in_training(cc359_sc):
    base = {"dataset": str(cc359_sc.path), "size": 16}
    assert outer_slice_options(0) == {} and outer_slice_options(CHALLENGE_OUTER_SLICES) == {"outer_slices": 50}
    whole = _slices(config_from_dict({"model": {"name": "zero_filled"}, "data": base}))
    cropped = _slices(config_from_dict({"model": {"name": "zero_filled"}, "data": {**base, "outer_slices": 1}}))
    assert (whole, cropped) == (15, 9)  # 3 volumes of 5 slices -> 3 each
    with pytest.raises(AutoMRIError, match="data.outer_slices: expected a slice count >= 0, got -1"):
        config_from_dict({"model": {"name": "zero_filled"}, "data": {**base, "outer_slices": -1}})


def test_outer_slices_reach_both_searches(cc359_sc):
    options = SearchOptions(dataset=str(cc359_sc.path), size=16, outer_slices=1, train_portion=0.5)
    assert sum(len(search_datasets(options)[s]) for s in SPLITS) == 9
    rir = SearchOptions(space="rir", strategy="proxyless", dataset=str(cc359_sc.path), size=16, outer_slices=1)
    assert sum(len(fold_datasets(rir)[0][s]) for s in SPLITS) == 9
    with pytest.raises(AutoMRIError, match="--outer-slices: expected a slice count >= 0, got -2"):
        SearchOptions(dataset=str(cc359_sc.path), outer_slices=-2)


def test_the_flag_is_checked_and_other_readers_refuse_it(monkeypatch, capsys, tmp_path, cc359_sc):
    code, _, err = run_cli(monkeypatch, capsys, "train", "--model", "zero_filled", "--dataset", str(cc359_sc.path),
                           "--outer-slices", "-1", "--out", str(tmp_path / "run"))
    assert code == 2 and "--outer-slices: expected a slice count >= 0, got -1" in err
    with pytest.raises(AutoMRIError, match="--dataset phantom: a built-in dataset takes no reader options \(outer_slices"):
        _slices(config_from_dict({"model": {"name": "zero_filled"}, "data": {"dataset": "phantom", "size": 16, "outer_slices": 1}}))
