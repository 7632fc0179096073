"""The 8 ops, the mixed op, search/derived cells, the denoiser and the unrolled networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.nas.cell.genotype import FEDNAS_V1, PRIMITIVES, edge_count, node_slices, nodes_for_edges
from automri.nas.cell.network import CellNet, DerivedCell
from automri.nas.cell.ops import build_op
from automri.nas.cell.space import CellSearchNet, MixedOp, SearchCell, SearchDenoiser
from automri.nas.factory import build_network
from automri.physics.fft import fft2c, ifft2c

pytestmark = pytest.mark.usefixtures("single_thread")

C = 16


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def std_params(k: int, c: int = C) -> int:
    """Dense k x k conv C -> C with bias."""
    return c * c * k * k + c


def sep_params(k: int, c: int = C) -> int:
    """Depthwise k x k (C kernels + C biases) then pointwise 1 x 1 (C*C + C)."""
    return c * k * k + c + c * c + c


def test_primitives_order_is_the_papers():
    assert PRIMITIVES == (
        "std_conv_3x3", "std_conv_5x5", "std_conv_7x7", "dil_2_conv_3x3",
        "dil_3_conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
    )


@pytest.mark.parametrize(
    "name, expected",
    [
        ("std_conv_3x3", 16 * 16 * 9 + 16),
        ("std_conv_5x5", 16 * 16 * 25 + 16),
        ("std_conv_7x7", 16 * 16 * 49 + 16),
        ("dil_2_conv_3x3", 16 * 16 * 9 + 16),  # dense, not depthwise
        ("dil_3_conv_3x3", 16 * 16 * 9 + 16),
        ("sep_conv_3x3", 16 * 9 + 16 + 16 * 16 + 16),
        ("sep_conv_5x5", 16 * 25 + 16 + 16 * 16 + 16),  # one depthwise 5x5 + pointwise
        ("sep_conv_7x7", 16 * 49 + 16 + 16 * 16 + 16),
    ],
)
def test_op_parameter_count_by_hand(name, expected):
    assert n_params(build_op(name, C)) == expected


@pytest.mark.parametrize("name", PRIMITIVES)
def test_ops_keep_shape_and_end_with_the_activation(name):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 11, 13)
    relu_out = build_op(name, 4, "relu")(x)
    assert relu_out.shape == x.shape and relu_out.min() >= 0
    leaky = build_op(name, 4, "leaky_relu")
    assert isinstance(leaky[-1], nn.LeakyReLU) and leaky(x).min() < 0


def test_op_structure_dilation_and_depthwise():
    dil3 = build_op("dil_3_conv_3x3", C)[0]
    assert dil3.dilation == (3, 3) and dil3.groups == 1 and dil3.padding == (3, 3)
    sep = build_op("sep_conv_7x7", C)
    assert sep[0].groups == C and sep[0].kernel_size == (7, 7) and sep[1].kernel_size == (1, 1)


def test_unknown_op_and_activation_raise():
    with pytest.raises(AutoMRIError, match="op"):
        build_op("max_pool_3x3", C)
    with pytest.raises(AutoMRIError, match="activation"):
        build_op("std_conv_3x3", C, "gelu")


def test_mixed_op_is_softmax_weighted_sum_of_its_ops():
    torch.manual_seed(1)
    mixed = MixedOp(4)
    x = torch.randn(2, 4, 8, 8)
    alpha = torch.randn(len(PRIMITIVES))
    weights = torch.softmax(alpha, dim=0)
    expected = torch.zeros_like(x)
    for o, op in enumerate(mixed.ops):
        expected = expected + weights[o] * op(x)
    torch.testing.assert_close(mixed(x, weights), expected)


def test_edge_bookkeeping():
    assert edge_count(3) == 9 and edge_count(4) == 14
    assert node_slices(3) == [slice(0, 2), slice(2, 5), slice(5, 9)]
    assert nodes_for_edges(9) == 3
    with pytest.raises(ValueError):
        nodes_for_edges(8)


def test_derived_cell_sums_chosen_edges_and_nodes():
    torch.manual_seed(2)
    nodes = [[("std_conv_3x3", 1)], [("sep_conv_3x3", 0), ("std_conv_5x5", 2)]]
    cell = DerivedCell(4, nodes)
    s0, s1 = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    h0, h1 = cell.preprocess0(s0), cell.preprocess1(s1)
    n0 = cell.node_ops[0][0](h1)
    n1 = cell.node_ops[1][0](h0) + cell.node_ops[1][1](n0)
    torch.testing.assert_close(cell(s0, s1), n0 + n1)


def test_search_cell_with_one_hot_weights_equals_the_all_edge_derived_cell():
    """Every node reads every earlier state; a one-hot alpha selects one op per edge."""
    torch.manual_seed(3)
    search = SearchCell(4, nodes=3)
    assert len(search.edges) == 9
    choice = torch.randint(len(PRIMITIVES), (9,))
    weights = torch.nn.functional.one_hot(choice, len(PRIMITIVES)).float()
    nodes, e = [], 0
    for i in range(3):
        nodes.append([(PRIMITIVES[int(choice[e + j])], j) for j in range(i + 2)])
        e += i + 2
    derived = DerivedCell(4, nodes)
    derived.preprocess0.load_state_dict(search.preprocess0.state_dict())
    derived.preprocess1.load_state_dict(search.preprocess1.state_dict())
    e = 0
    for i in range(3):
        for j in range(i + 2):
            derived.node_ops[i][j].load_state_dict(search.edges[e].ops[int(choice[e])].state_dict())
            e += 1
    s0, s1 = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(search(s0, s1, weights), derived(s0, s1))


def test_denoiser_is_a_global_residual_with_a_linear_head():
    torch.manual_seed(4)
    denoiser = SearchDenoiser(hidden=4, cells=2)
    x = torch.randn(2, 2, 8, 8)
    weights = torch.softmax(torch.zeros(9, 8), dim=-1)
    correction = denoiser(x, weights) - x
    assert correction.min() < 0 < correction.max()  # no activation after the head
    nn.init.zeros_(denoiser.head.weight)
    nn.init.zeros_(denoiser.head.bias)
    torch.testing.assert_close(denoiser(x, weights), x)


def test_search_net_separates_alphas_from_weights_and_lambda_is_a_weight():
    torch.manual_seed(5)
    net = CellSearchNet(hidden=4, cells=2, iterations=2)
    assert net.alphas.shape == (9, 8) and net.alphas.abs().max() < 1e-2
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert len(arch) == 1 and arch[0] is net.alphas
    assert all(w is not net.alphas for w in weights)
    assert any(w is net.dc.lam for w in weights)
    assert len(arch) + len(weights) == len(list(net.parameters()))
    torch.testing.assert_close(net.arch_weights().sum(-1), torch.ones(9))


def test_search_net_init_is_seeded():
    torch.manual_seed(7)
    a = CellSearchNet(hidden=4, cells=1, iterations=1)
    torch.manual_seed(7)
    b = CellSearchNet(hidden=4, cells=1, iterations=1)
    assert torch.equal(a.alphas, b.alphas)


def _multicoil(batch=2, coils=3, size=16):
    g = torch.Generator().manual_seed(0)
    image = torch.randn(batch, size, size, generator=g, dtype=torch.complex64)
    sens = torch.randn(batch, coils, size, size, generator=g, dtype=torch.complex64)
    sens = sens / (sens.abs() ** 2).sum(1, keepdim=True).sqrt()
    mask = (torch.rand(batch, 1, size, generator=g) < 0.5).float().expand(batch, size, size)
    return mask[:, None] * fft2c(sens * image[:, None]), mask, sens


@pytest.mark.parametrize("multicoil", [False, True])
def test_networks_follow_the_model_calling_convention(multicoil):
    torch.manual_seed(6)
    if multicoil:
        kspace, mask, sens = _multicoil()
    else:
        kspace, mask, sens = _multicoil()[0][:, 0], _multicoil()[1], None
    for net in (CellSearchNet(hidden=4, cells=1, iterations=2), build_network(FEDNAS_V1, hidden=4, cells=1, iterations=2)):
        out = net(kspace, mask, sens)
        assert out.shape == mask.shape and out.dtype == torch.complex64
        out.abs().mean().backward()
        assert net.dc.lam.grad is not None


def test_unrolled_net_with_identity_denoiser_is_repeated_proximal_dc():
    """Zero head -> D(x) = x, so each iteration is x <- (A^H A + lam I)^-1 (A^H k + lam x)."""
    torch.manual_seed(8)
    kspace, mask = _multicoil()[0][:, 0], _multicoil()[1]
    net = CellSearchNet(hidden=4, cells=1, iterations=3)
    nn.init.zeros_(net.denoiser.head.weight)
    nn.init.zeros_(net.denoiser.head.bias)
    x = ifft2c(mask * kspace)  # A^H k
    for _ in range(3):
        x = net.dc(x, kspace, mask)
    torch.testing.assert_close(net(kspace, mask), x)


def test_checkpointing_gives_the_same_output_and_gradients():
    torch.manual_seed(9)
    kspace, mask = _multicoil()[0][:, 0], _multicoil()[1]
    net = CellSearchNet(hidden=4, cells=1, iterations=2)
    out = net(kspace, mask)
    out.abs().sum().backward()
    grad = net.alphas.grad.clone()
    net.zero_grad()
    net.checkpoint = True
    out2 = net(kspace, mask)
    out2.abs().sum().backward()
    torch.testing.assert_close(out2, out)
    torch.testing.assert_close(net.alphas.grad, grad)


def test_fednas_v1_parameter_count_by_hand():
    """C = 16, 3 cells, bias convs: 48,691 parameters (methods.md: ~48.7k)."""
    stem = 2 * C * 9 + C  # 3x3 conv 2 -> 16
    head = C * 2 * 9 + 2  # 3x3 conv 16 -> 2
    preprocess = 2 * (C * C + C)  # two 1x1 convs per cell
    node_ops = (sep_params(3) + sep_params(5)) + (sep_params(3) + sep_params(5)) + (sep_params(5) + std_params(7))
    lam = 1
    expected = stem + head + 3 * (preprocess + node_ops) + lam
    assert expected == 48691
    net = build_network(FEDNAS_V1)
    assert isinstance(net, CellNet)
    assert n_params(net) == expected
