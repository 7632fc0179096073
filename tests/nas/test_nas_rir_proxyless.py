"""ProxylessNAS binarised mixed edge and strategy: single-path forward, gate/alpha gradients,
two-path rescaling, Algorithm 1 phases."""

import copy

import pytest
import torch
from torch import nn

from automri.nas.proxyless import ProxylessStrategy
from automri.nas.rir.ops import OPS, OPCell
from automri.nas.rir.space import BinarizedMixedEdge, alpha_gradient


def make_edge(mode: str, seed: int = 0, binarize: str = "sample") -> BinarizedMixedEdge:
    torch.manual_seed(seed)
    edge = BinarizedMixedEdge([OPCell(name, width=2) for name in OPS], mode=mode, binarize=binarize)
    with torch.no_grad():
        edge.alpha.copy_(torch.randn(8))  # non-uniform probabilities
    return edge


def count_calls(edge: BinarizedMixedEdge) -> list[int]:
    calls = [0] * len(edge.candidates)
    for k, op in enumerate(edge.candidates):
        op.register_forward_hook(lambda m, i, o, k=k: calls.__setitem__(k, calls[k] + 1))
    return calls


@pytest.mark.parametrize("mode", ["full", "two"])
def test_argmax_binarization_is_eq2_and_sample_is_proxylessnas(mode: str) -> None:
    """Eq. 2 of EMR-NAS: the gate is the one-hot of argmax p; ProxylessNAS samples it from p."""
    greedy, sampled = make_edge(mode, binarize="argmax"), make_edge(mode, binarize="sample")
    best = int(torch.softmax(greedy.alpha.detach(), 0).argmax())
    picks = set()
    for _ in range(40):
        greedy.reset_gates()
        sampled.reset_gates()
        assert greedy.active == best and greedy.gates.tolist() == [float(k == best) for k in range(8)]
        picks.add(sampled.active)
    assert len(picks) > 1  # sampling visits other ops
    if mode == "two":
        second = int(torch.softmax(greedy.alpha.detach(), 0).topk(2).indices[1])
        assert greedy.involved == [best, second]
    greedy.reset_gates(uniform=True)  # the warm-up stays uniform whatever the rule
    uniform_picks = set()
    for _ in range(40):
        greedy.reset_gates(uniform=True)
        uniform_picks.add(greedy.active)
    assert len(uniform_picks) > 1
    with pytest.raises(Exception, match="binarize"):
        make_edge(mode, binarize="top")


@pytest.mark.parametrize("mode", ["full", "two"])
def test_binarized_forward_runs_only_the_active_op(mode: str) -> None:
    edge = make_edge(mode)
    calls = count_calls(edge)
    x = torch.randn(2, 2, 6, 6)
    edge.train()
    edge.reset_gates()
    out = edge(x)
    torch.testing.assert_close(out, edge.candidates[edge.active](x))
    expected = [2 if k == edge.active else 0 for k in range(8)]  # our call + the edge's call
    assert calls == expected

    calls[:] = [0] * 8
    edge.arch_step = True
    out = edge(x.requires_grad_(True))
    assert calls == [1 if k == edge.active else 0 for k in range(8)]
    torch.testing.assert_close(out, edge.candidates[edge.active](x))
    calls[:] = [0] * 8
    out.sum().backward()
    # the backward recomputes the involved candidates other than the active one, once each
    assert calls == [1 if k in edge.involved and k != edge.active else 0 for k in range(8)]
    assert len(edge.involved) == (8 if mode == "full" else 2)


def explicit_gate_grads(edges: list[BinarizedMixedEdge], x: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
    """dL/dg through an explicit gate-weighted sum of ALL candidates, by autograd."""
    gates = [torch.zeros(8).index_fill_(0, torch.tensor([e.active]), 1.0).requires_grad_(True) for e in edges]
    h = x
    for edge, g in zip(edges, gates):
        h = sum(g[k] * op(h) for k, op in enumerate(edge.candidates))
    loss = ((h - target) ** 2).mean()
    return list(torch.autograd.grad(loss, gates))


def test_full_mode_gate_and_alpha_gradients_match_the_formula() -> None:
    edges = [make_edge("full", seed=1), make_edge("full", seed=2)]
    x, target = torch.randn(2, 2, 6, 6), torch.randn(2, 2, 6, 6)
    for edge in edges:
        edge.train()
        edge.reset_gates()
        edge.arch_step = True
    loss = ((edges[1](edges[0](x)) - target) ** 2).mean()
    loss.backward(inputs=[e.gates for e in edges])
    expected = explicit_gate_grads(edges, x, target)
    for edge, dg in zip(edges, expected):
        torch.testing.assert_close(edge.gates.grad, dg, rtol=1e-5, atol=1e-7)
        edge.set_alpha_grad()
        p = torch.softmax(edge.alpha.detach(), 0)
        by_hand = torch.tensor(
            [sum(float(dg[j] * p[j] * ((1.0 if i == j else 0.0) - p[i])) for j in range(8)) for i in range(8)]
        )
        torch.testing.assert_close(edge.alpha.grad, by_hand, rtol=1e-4, atol=1e-7)


def test_two_mode_gradient_uses_the_pair_only() -> None:
    edge = make_edge("two", seed=3)
    x, target = torch.randn(2, 2, 6, 6), torch.randn(2, 2, 6, 6)
    edge.train()
    edge.reset_gates()
    edge.arch_step = True
    ((edge(x) - target) ** 2).mean().backward(inputs=[edge.gates])
    (dg,) = explicit_gate_grads([edge], x, target)
    pair = edge.involved
    assert len(set(pair)) == 2
    edge.set_alpha_grad()
    expected = torch.zeros(8)
    expected[pair] = alpha_gradient(edge.alpha.detach()[pair], dg[pair])
    torch.testing.assert_close(edge.alpha.grad, expected, rtol=1e-5, atol=1e-8)
    assert torch.count_nonzero(edge.alpha.grad) == 2


def test_two_path_rescale_keeps_other_probabilities() -> None:
    edge = make_edge("two", seed=4)
    edge.involved, edge.active = [2, 6], 2
    before = edge.probabilities.clone()
    edge.remember_involved()
    with torch.no_grad():
        edge.alpha[2] += 0.7
        edge.alpha[6] -= 0.2
    edge.rescale_involved()
    after = edge.probabilities
    others = [k for k in range(8) if k not in (2, 6)]
    torch.testing.assert_close(after[others], before[others])
    torch.testing.assert_close(after[2] + after[6], before[2] + before[6])
    assert after[2] > before[2] and after[6] < before[6]


def test_softmax_mode_is_the_darts_mixture() -> None:
    edge = make_edge("softmax", seed=5)
    x = torch.randn(1, 2, 6, 6)
    p = torch.softmax(edge.alpha.detach(), 0)
    torch.testing.assert_close(edge(x), sum(p[k] * op(x) for k, op in enumerate(edge.candidates)))


def test_eval_mode_runs_the_argmax_op() -> None:
    edge = make_edge("full", seed=6).eval()
    x = torch.randn(1, 2, 6, 6)
    torch.testing.assert_close(edge(x), edge.candidates[int(edge.alpha.argmax())](x))


class TinyBatch:
    def __init__(self, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.kspace = torch.randn(2, 6, 6, generator=g).to(torch.complex64)
        self.mask = torch.ones(2, 6, 6)
        self.target = torch.randn(2, 6, 6, generator=g).to(torch.complex64)
        self.sens = None

    def to(self, device):
        return self


class TinyNet(nn.Module):
    """Two mixed edges on the real/imag channels of the k-space (enough to drive the strategy)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.edges = nn.Sequential(make_edge(mode, 7), make_edge(mode, 8))

    def forward(self, kspace, mask, sens=None):
        out = self.edges(torch.stack((kspace.real, kspace.imag), 1))
        return torch.complex(out[:, 0], out[:, 1])


def mse(pred, target):
    return (pred - target).abs().pow(2).mean()


@pytest.mark.parametrize("mode", ["full", "two", "softmax"])
def test_strategy_warmup_then_search(mode: str) -> None:
    torch.manual_seed(0)
    net = TinyNet(mode)
    strategy = ProxylessStrategy(net, mse, mode=mode, warmup_epochs=1, total_epochs=2)
    alphas0 = [e.alpha.detach().clone() for e in net.edges]
    weights0 = [p.detach().clone() for p in net.edges[0].candidates.parameters()]
    out = strategy.step(TinyBatch(0), TinyBatch(1))
    assert set(out) == {"loss"}
    assert all(torch.equal(a, e.alpha) for a, e in zip(alphas0, net.edges))
    assert any(not torch.equal(w, p) for w, p in zip(weights0, net.edges[0].candidates.parameters()))
    assert strategy.end_epoch(1)["phase"] == "warmup" and not strategy.warming_up
    out = strategy.step(TinyBatch(2), TinyBatch(3))
    assert set(out) == {"loss", "arch_loss"}
    for a, e in zip(alphas0, net.edges):
        changed = (a != e.alpha.detach()).nonzero().flatten().tolist()
        if mode == "two":  # only the sampled pair moves (beta1 = 0), and the pair keeps its mass
            assert set(changed) <= set(e.involved) and changed
            others = [k for k in range(8) if k not in e.involved]
            torch.testing.assert_close(
                torch.softmax(e.alpha.detach(), 0)[others], torch.softmax(a, 0)[others]
            )
        else:
            assert len(changed) == 8


def test_strategy_state_round_trip_gives_identical_steps() -> None:
    torch.manual_seed(0)
    net = TinyNet("full")
    a = ProxylessStrategy(net, mse, mode="full", warmup_epochs=0, total_epochs=3)
    a.step(TinyBatch(0), TinyBatch(1))
    a.end_epoch(1)
    state = copy.deepcopy(a.state_dict())
    b = ProxylessStrategy(TinyNet("full"), mse, mode="full", warmup_epochs=0, total_epochs=3)
    b.model.load_state_dict(net.state_dict())
    b.load_state_dict(state)
    torch.manual_seed(5)
    a.step(TinyBatch(2), TinyBatch(3))
    torch.manual_seed(5)
    b.step(TinyBatch(2), TinyBatch(3))
    for ea, eb in zip(a.edges, b.edges):
        torch.testing.assert_close(ea.alpha, eb.alpha, rtol=0, atol=0)
    assert b.epochs_done == 1


def saved_bytes(run) -> int:
    """Bytes of every tensor autograd saves for the backward while ``run()`` executes."""
    total = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return total[0]


def test_full_mode_arch_step_keeps_only_the_active_paths_activations() -> None:
    """The ProxylessNAS memory claim: an architecture-step forward saves the activations of ONE
    path (plus the op's input and output), not of all eight candidates as the softmax mixture does."""
    x = torch.randn(2, 2, 16, 16)
    edge = make_edge("full", seed=9).train()
    edge.reset_gates()
    edge.arch_step = True
    arch = saved_bytes(lambda: edge(x.clone().requires_grad_(True)))
    one_path = saved_bytes(lambda: edge.candidates[edge.active](x.clone().requires_grad_(True)))
    image_bytes = x.numel() * x.element_size()
    assert one_path <= arch <= one_path + 2 * image_bytes
    mixture = make_edge("softmax", seed=9)
    every_path = saved_bytes(lambda: mixture(x.clone().requires_grad_(True)))
    assert arch < every_path / 4
    edge.arch_step = False  # a weight step saves the active path alone, exactly
    assert saved_bytes(lambda: edge(x.clone().requires_grad_(True))) == one_path


def test_two_mode_weight_steps_sample_one_path_from_the_full_softmax() -> None:
    """ProxylessNAS binarises with the pair (2-way softmax) only inside ``gradient_step``; weight
    steps (``MixedEdge.MODE = None``) draw one op from ``softmax(alpha)`` over all candidates. For
    p = (0.6, 0.2, 0.2) the pair route would make op 0 active 67.5% of the time, not 60%."""
    edge = BinarizedMixedEdge([nn.Identity(), nn.Identity(), nn.Identity()], mode="two", binarize="sample")
    with torch.no_grad():
        edge.alpha.copy_(torch.log(torch.tensor([0.6, 0.2, 0.2])))
    torch.manual_seed(0)
    draws = 4000
    single = [0] * 3
    for _ in range(draws):
        edge.reset_gates(single_path=True)
        single[edge.active] += 1
    pair = 0
    for _ in range(draws):
        edge.reset_gates()
        pair += edge.active == 0
    assert abs(single[0] / draws - 0.6) < 0.03 and abs(pair / draws - 0.675) < 0.03
    net = TinyNet("two")
    strategy = ProxylessStrategy(net, mse, mode="two", warmup_epochs=0)
    strategy.weight_step(TinyBatch(0))
    assert all(len(e.involved) == 8 for e in net.edges)  # one draw over all 8, not a pair
    strategy.arch_step(TinyBatch(1))
    assert all(len(e.involved) == 2 for e in net.edges)  # the arch step keeps ProxylessNAS's pair
