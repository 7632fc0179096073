"""Genotype derivation (DARTS rule on softmax weights), JSON round trip, validation, building."""

from __future__ import annotations

import json

import pytest
import torch

from automri.errors import AutoMRIError
from automri.nas import factory
from automri.nas.cell.genotype import FEDNAS_V1, PRIMITIVES, derive_genotype
from automri.nas.cell.network import CellNet
from automri.nas.cell.space import CellSearchNet
from automri.nas.factory import build_network
from automri.nas.genotype import load_genotype, save_genotype, validate_genotype

pytestmark = pytest.mark.usefixtures("single_thread")

OP = {name: i for i, name in enumerate(PRIMITIVES)}


def hand_alphas() -> torch.Tensor:
    """9 edges x 8 ops, rows in node order (node 0: rows 0-1, node 1: rows 2-4, node 2: rows 5-8)."""
    a = torch.zeros(9, 8)
    a[0, OP["std_conv_7x7"]] = 1.0  # softmax max e/(e+7) = 0.28
    a[1, OP["sep_conv_7x7"]] = 2.0  # 0.51: the LAST op wins this edge
    # node 1: raw-logit ranking and softmax ranking disagree
    a[2] = 5.0
    a[2, OP["sep_conv_7x7"]] = 5.1  # raw max 5.1 (largest) but softmax max only 0.135
    a[3, OP["dil_2_conv_3x3"]] = 4.0  # raw 4, softmax 0.886
    a[4, OP["sep_conv_3x3"]] = 3.0  # raw 3, softmax 0.742
    # node 2 (rows 5-8 read inputs 0-3)
    a[6, OP["sep_conv_5x5"]] = 0.5  # 0.19
    a[7, OP["dil_3_conv_3x3"]] = 1.5  # 0.39
    a[8, OP["std_conv_5x5"]] = 1.0  # 0.28  (row 5 uniform: 0.125, best op = first)
    return a


def test_derivation_keeps_top2_edges_by_softmax_with_all_ops_eligible():
    g = derive_genotype(hand_alphas(), hidden=8, cells=2, iterations=4, activation="leaky_relu")
    assert g == {
        "space": "cell",
        "hidden": 8,
        "cells": 2,
        "iterations": 4,
        "activation": "leaky_relu",
        "nodes": [
            [["sep_conv_7x7", 1], ["std_conv_7x7", 0]],
            [["dil_2_conv_3x3", 1], ["sep_conv_3x3", 2]],  # raw-alpha ranking would keep edge 0
            [["dil_3_conv_3x3", 2], ["std_conv_5x5", 3]],
        ],
    }


def test_derivation_all_edges_and_k1():
    every = derive_genotype(hand_alphas(), all_edges=True)
    assert [len(node) for node in every["nodes"]] == [2, 3, 4]
    assert every["nodes"][2] == [["dil_3_conv_3x3", 2], ["std_conv_5x5", 3], ["sep_conv_5x5", 1], ["std_conv_3x3", 0]]
    assert derive_genotype(hand_alphas(), k=1)["nodes"] == [[["sep_conv_7x7", 1]], [["dil_2_conv_3x3", 1]], [["dil_3_conv_3x3", 2]]]


def test_derivation_rejects_bad_alpha_shapes():
    with pytest.raises(AutoMRIError, match="alphas"):
        derive_genotype(torch.zeros(8, 8))
    with pytest.raises(AutoMRIError, match="alphas"):
        derive_genotype(torch.zeros(9, 7))


def test_derived_genotype_of_a_search_net_builds_a_cell_net():
    torch.manual_seed(0)
    net = CellSearchNet(hidden=4, cells=2, iterations=3)
    g = derive_genotype(net.alphas, **net.space_config())
    validate_genotype(g)
    derived = build_network(g)
    assert isinstance(derived, CellNet) and derived.iterations == 3 and len(derived.denoiser.cells) == 2


def test_json_round_trip(tmp_path):
    path = save_genotype(tmp_path / "sub" / "genotype.json", FEDNAS_V1)
    assert load_genotype(path) == FEDNAS_V1
    assert load_genotype(path, space="cell") == FEDNAS_V1
    assert [p.name for p in path.parent.iterdir()] == ["genotype.json"]  # no temporary left behind


def _write(tmp_path, obj, name="g.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def _edited(**changes):
    g = json.loads(json.dumps(FEDNAS_V1))
    g.update(changes)
    return g


@pytest.mark.parametrize(
    "genotype, pattern",
    [
        (_edited(nodes=[[["max_pool_3x3", 0]], [["sep_conv_3x3", 1]]]), r"nodes\[0\].*unknown op 'max_pool_3x3'"),
        (_edited(nodes=[[["sep_conv_3x3", 2]]]), r"nodes\[0\].*bad input index 2"),
        (_edited(nodes=[[["sep_conv_3x3", 0]], [["sep_conv_3x3", -1]]]), r"nodes\[1\].*bad input index -1"),
        ({k: v for k, v in FEDNAS_V1.items() if k != "hidden"}, "key 'hidden' missing"),
        ({k: v for k, v in FEDNAS_V1.items() if k != "space"}, "key 'space' missing"),
        (_edited(space="transformer"), "key 'space' is 'transformer'"),
        (_edited(cells=0), "key 'cells' must be a positive integer"),
        (_edited(activation="gelu"), "key 'activation'"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_validation_errors_name_the_file_and_key(tmp_path, genotype, pattern):
    path = _write(tmp_path, genotype)
    with pytest.raises(AutoMRIError, match=pattern) as info:
        load_genotype(path)
    assert str(path) in str(info.value)


def test_wrong_space_missing_file_and_bad_json(tmp_path):
    rir = _write(tmp_path, {"space": "rir", "ops": ["O1"] * 15}, "rir.json")
    with pytest.raises(AutoMRIError, match="expected 'cell'"):
        load_genotype(rir, space="cell")
    with pytest.raises(AutoMRIError, match="not found"):
        load_genotype(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AutoMRIError, match="not valid JSON"):
        load_genotype(bad)
    with pytest.raises(AutoMRIError, match="unknown op"):
        save_genotype(tmp_path / "x.json", _edited(nodes=[[["conv", 0]]]))


def test_build_network_overrides_and_rir_dispatch(monkeypatch):
    small = build_network(FEDNAS_V1, hidden=4, cells=1)
    assert small.denoiser.stem.out_channels == 4 and len(small.denoiser.cells) == 1
    built = {}

    class FakeRIRNet:
        @classmethod
        def from_genotype(cls, genotype, **overrides):
            built.update(genotype=genotype, overrides=overrides)
            return torch.nn.Identity()

    monkeypatch.setitem(factory.DERIVED_NETWORKS, "rir", FakeRIRNet)
    rir = {"space": "rir", "ops": ["O5"] * 15, "width": 8}
    assert isinstance(build_network(rir, width=4), torch.nn.Identity)
    assert built == {"genotype": rir, "overrides": {"width": 4}}


def test_the_factory_builds_from_a_name_a_dict_or_a_file(tmp_path):
    path = save_genotype(tmp_path / "g.json", derive_genotype(hand_alphas(), hidden=4, cells=1, iterations=2))
    from_file = build_network(path)
    from_dict = build_network(derive_genotype(hand_alphas(), hidden=4, cells=1, iterations=2))
    assert type(from_file) is type(from_dict) and from_file.iterations == 2
    assert build_network(str(path), iterations=3).iterations == 3
    assert type(build_network("dccnn", nf=4, n_cascades=1)).__name__ == "DCCNN"
    with pytest.raises(AutoMRIError, match="unknown name 'unett'"):
        build_network("unett")


def test_cell_net_is_registered_and_takes_a_genotype_file(tmp_path):
    from automri.models.registry import build_model, count_params, width_for_params

    assert count_params(build_model("cell_net")) == 48691  # FEDNAS_V1 by default
    path = save_genotype(tmp_path / "g.json", derive_genotype(hand_alphas(), hidden=4, cells=1, iterations=2))
    net = build_model("cell_net", genotype=str(path), iterations=3)
    assert net.iterations == 3 and net.denoiser.stem.out_channels == 4
    assert width_for_params("cell_net", 20000) == 10
    with pytest.raises(AutoMRIError, match="unknown option"):
        CellNet.from_genotype(FEDNAS_V1, width=8)
