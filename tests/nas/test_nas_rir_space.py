"""EMR-NAS network: genotype round trip, parameter counts, TDC after every component, supernet."""

import pytest
import torch

from automri.errors import AutoMRIError
from automri.models.registry import count_params
from automri.nas.rir.genotype import DEFAULT_WIDTH, PAPER_CARDIAC_OPS
from automri.nas.rir.network import RIRNet, paper_width, rir_net
from automri.nas.rir.ops import OP_SPECS
from automri.nas.rir.space import BinarizedMixedEdge, RIRSearchNet
from automri.physics.fft import fft2c


def tiny_problem(size: int = 16, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.avg_pool2d(torch.randn(batch, 2, size, size, generator=g), 5, 1, 2)
    image = torch.complex(smooth[:, 0], smooth[:, 1])
    mask = (torch.rand(batch, 1, size, generator=g) < 0.4).float().expand(batch, size, size).contiguous()
    mask[..., size // 2] = 1.0
    return fft2c(image) * mask, mask, image


def hand_count(ops, width):
    """3x3 convs with bias; 'fusion' conv4 reads (1 + |S|) F channels; component convs 2->F, F->2."""
    per_cell = {n: 3 * (9 * width * width + width) + 9 * (1 + len(OP_SPECS[n].connections)) * width * width + width for n in OP_SPECS}
    component = (9 * 2 * width + width) + (9 * width * 2 + 2)
    return sum(per_cell[n] for n in ops) + component * (len(ops) // 3)


def test_param_count_by_hand_and_near_the_paper() -> None:
    ops = ["O1", "O5", "O8", "O2", "O7", "O3"]
    net = RIRNet(ops, width=3, components=2)
    # F = 3: conv1..3 = 3 * (81 + 3) = 252; conv4 = 9 * (1 + |S|) * 9 + 3 -> O1/O8 579, O2/O3 498,
    # O5/O7 417; each component adds 57 (2 -> F) + 56 (F -> 2)
    assert count_params(net, trainable_only=False) == hand_count(ops, 3) == 579 + 417 + 579 + 498 + 417 + 498 + 2 * 113
    paper = RIRNet.from_genotype({"space": "rir", "ops": list(PAPER_CARDIAC_OPS)})
    assert paper.width == DEFAULT_WIDTH == paper_width()
    assert paper_width(target=hand_count(PAPER_CARDIAC_OPS, 7)) == 7  # exact hit at another width
    assert count_params(paper, trainable_only=False) == hand_count(PAPER_CARDIAC_OPS, DEFAULT_WIDTH)
    assert abs(count_params(paper, trainable_only=False) - 330_000) / 330_000 < 0.05


def test_genotype_round_trip_and_overrides() -> None:
    genotype = {"space": "rir", "ops": ["O3"] * 6, "width": 4, "components": 2, "cells_per_block": 3}
    net = RIRNet.from_genotype(genotype)
    again = RIRNet.from_genotype(net.genotype())
    assert again.genotype() == net.genotype()
    deeper = RIRNet.from_genotype({**genotype, "ops": ["O3"] * 8}, cells_per_block=4, batch_norm=True)
    assert len(deeper.components[0].block.cells) == 4
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in deeper.modules())
    with pytest.raises(AutoMRIError, match="op names"):
        RIRNet.from_genotype({**genotype, "ops": ["O3"] * 5})
    with pytest.raises(AutoMRIError, match="space"):
        RIRNet.from_genotype({**genotype, "space": "cell"})
    with pytest.raises(AutoMRIError, match="unknown keys"):
        RIRNet.from_genotype({**genotype, "depth": 3})


def test_tdc_keeps_sampled_kspace_after_every_component() -> None:
    torch.manual_seed(0)
    kspace, mask, _ = tiny_problem()
    net = RIRNet(["O1", "O4", "O8"] * 3, width=4, components=3)
    outputs = []
    for component in net.components:
        component.register_forward_hook(lambda m, i, o: outputs.append(o))
    final = net(kspace, mask)
    assert len(outputs) == 3 and final is outputs[-1]
    for out in outputs:
        torch.testing.assert_close(fft2c(out) * mask, kspace, rtol=1e-4, atol=1e-5)
    corrected = []
    net.components[0].tdc.register_forward_hook(lambda m, i, o: corrected.append(i[0]))
    net(kspace, mask)
    assert not torch.allclose(fft2c(corrected[0]) * mask, kspace, atol=1e-3)  # the net did change sampled data


def test_rir_switch_and_scale() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 8)
    with_rir = RIRNet(["O5"] * 3, width=4, components=1, rir_scale=0.5)
    block = with_rir.components[0].block
    torch.testing.assert_close(block(x), x + 0.5 * block.cells(x))
    without = RIRNet(["O5"] * 3, width=4, components=1, rir=False)
    without.load_state_dict(with_rir.state_dict())
    torch.testing.assert_close(without.components[0].block(x), block.cells(x))


def test_search_net_edges_derivation_and_eval_equivalence() -> None:
    torch.manual_seed(0)
    kspace, mask, _ = tiny_problem()
    supernet = RIRSearchNet(width=3, components=2, mode="full")
    assert len(supernet.edges) == 6 and all(isinstance(e, BinarizedMixedEdge) for e in supernet.edges)
    with torch.no_grad():
        for k, edge in enumerate(supernet.edges):
            edge.alpha.zero_()
            edge.alpha[k] = 1.0
    assert supernet.derive() == ["O1", "O2", "O3", "O4", "O5", "O6"]
    derived = RIRNet.from_genotype(supernet.genotype())
    # copy the chosen candidates' weights into the derived net: outputs must agree in eval mode
    state = {}
    for key, value in supernet.state_dict().items():
        if key.endswith("alpha"):
            continue
        parts = key.split(".")
        if "candidates" in parts:
            at = parts.index("candidates")
            cell = 3 * int(parts[1]) + int(parts[at - 1])  # components.{n}.block.cells.{c}.candidates.{k}
            if int(parts[at + 1]) != cell:
                continue
            parts = parts[:at] + parts[at + 2 :]
        state[".".join(parts)] = value
    derived.load_state_dict(state)
    supernet.eval()
    torch.testing.assert_close(supernet(kspace, mask), derived(kspace, mask))


def test_registry_builder_reads_dicts_and_json(tmp_path) -> None:
    import json

    from automri.models.registry import build_model, width_for_params

    assert rir_net().ops == list(PAPER_CARDIAC_OPS) and rir_net().width == DEFAULT_WIDTH
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps({"space": "rir", "ops": ["O2"] * 6, "components": 2, "width": 5}))
    net = rir_net(str(path), width=3)
    assert net.ops == ["O2"] * 6 and net.width == 3
    # importing rir_space registers the builder (the test used to register it itself)
    assert build_model("rir_net", width=4).ops == list(PAPER_CARDIAC_OPS)
    assert width_for_params("rir_net", count_params(rir_net(width=12), trainable_only=False)) == 12
