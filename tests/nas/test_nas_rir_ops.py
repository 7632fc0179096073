"""EMR-NAS candidate ops O1..O8: Table 1 dilations/connections, wiring and hand-counted parameters."""

import pytest
import torch

from automri.errors import AutoMRIError
from automri.nas.rir.ops import OPS, OPCell

TABLE_1 = {
    "O1": ((1, 2, 4, 1), {1, 2, 3}),
    "O2": ((1, 2, 4, 1), {2, 3}),
    "O3": ((1, 2, 4, 1), {1, 3}),
    "O4": ((1, 2, 4, 1), {1, 2}),
    "O5": ((1, 2, 4, 1), {1}),
    "O6": ((1, 2, 4, 1), {2}),
    "O7": ((1, 2, 4, 1), {3}),
    "O8": ((1, 1, 1, 1), {1, 2, 3}),
}

# Width F = 4, "fusion" connections. conv1..conv3: 3x3, F -> F with bias: 9*4*4 + 4 = 148 each.
# conv4 reads (1 + |S|) * F channels: 9 * (1 + |S|) * 4 * 4 + 4.
HAND_PARAMS_F4 = {
    3: 3 * 148 + (9 * 4 * 16 + 4),  # |S| = 3: 444 + 580 = 1024
    2: 3 * 148 + (9 * 3 * 16 + 4),  # |S| = 2: 444 + 436 = 880
    1: 3 * 148 + (9 * 2 * 16 + 4),  # |S| = 1: 444 + 292 = 736
}


@pytest.mark.parametrize("name", OPS)
def test_dilations_connections_and_params(name: str) -> None:
    dilations, connections = TABLE_1[name]
    cell = OPCell(name, width=4)
    assert tuple(conv.dilation[0] for conv in cell.convs) == dilations
    assert tuple(conv.padding[0] for conv in cell.convs) == dilations
    assert set(cell.spec.connections) == connections
    assert cell.convs[3].in_channels == 4 * (1 + len(connections))
    assert sum(p.numel() for p in cell.parameters()) == HAND_PARAMS_F4[len(connections)]


def test_dense_mode_input_widths() -> None:
    # O6 {2}: conv3 reads f0, f1, f2 (3F); the other convs read the previous feature only.
    assert [c.in_channels for c in OPCell("O6", 4, connection_mode="dense").convs] == [4, 4, 12, 4]
    assert [c.in_channels for c in OPCell("O1", 4, connection_mode="dense").convs] == [4, 8, 12, 16]


def _conv_inputs(cell: OPCell, x: torch.Tensor) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    hooks = [conv.register_forward_hook(lambda m, inp, out: seen.append(inp[0])) for conv in cell.convs]
    out = cell(x)
    for h in hooks:
        h.remove()
    seen.append(out)
    return seen


def test_fusion_wiring_carries_the_listed_features() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    # O3 {1, 3}: conv4 reads concat(f3, f0 = x, f2 = conv2's activated output).
    cell = OPCell("O3", width=3)
    in1, in2, in3, in4, out = _conv_inputs(cell, x)
    assert in4.shape[1] == 9
    torch.testing.assert_close(in4[:, :3], cell.act(cell.convs[2](in3)))
    torch.testing.assert_close(in4[:, 3:6], x)
    torch.testing.assert_close(in4[:, 6:], in3)
    torch.testing.assert_close(out, x + 0.2 * cell.convs[3](in4))


def test_residual_scale_and_batch_norm_switch() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 8, 8)
    zero = OPCell("O5", width=2, residual_scale=0.0)
    torch.testing.assert_close(zero(x), x)
    bn = OPCell("O5", width=2, batch_norm=True)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in bn.modules()) == 3
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in OPCell("O5", 2).modules())


def test_bad_names_are_user_errors() -> None:
    with pytest.raises(AutoMRIError, match="O9"):
        OPCell("O9", 4)
    with pytest.raises(AutoMRIError, match="connection_mode"):
        OPCell("O1", 4, connection_mode="sideways")
