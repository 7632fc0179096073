"""The EMR-NAS search space: ProxylessNAS binarised mixed edges (Cai et al. 2019) and the supernet.

:class:`BinarizedMixedEdge` holds one cell's architecture logits ``alpha`` (``[n]``, init
``N(0, 1e-3)`` as ProxylessNAS) and its binary gates; ``mode`` selects how the cell mixes its
candidates:

* ``"full"`` (ProxylessNAS ``full_v2``): one op is sampled from ``p = softmax(alpha)``; the forward
  runs **only** that op. In an architecture step the forward goes through
  :class:`ArchGradientFunction`, which keeps the activations of the active op alone and, in the
  backward, recomputes every candidate under ``no_grad`` to get the gate gradients
  ``dL/dg_k = sum(o_k(x) * dL/dout)``.
* ``"two"``: two distinct ops are sampled by ``multinomial(p, 2, replacement=False)``, the active one
  is drawn from their 2-way softmax; only those two paths get gate gradients, and after the alpha
  optimiser step the two involved logits are shifted by ``log(sum exp(new) / sum exp(old))`` over
  the pair (:meth:`BinarizedMixedEdge.rescale_involved`) so that every other path's probability is
  unchanged.
* ``"softmax"``: DARTS relaxation ``sum_k p_k o_k(x)`` (Eq. 1 of EMR-NAS), every candidate in memory.

Alpha gradient from the gate gradients (BinaryConnect through the softmax, ProxylessNAS
``set_arch_param_grad``): ``dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i)``, with ``p`` the
softmax over the involved paths (all ``n`` in ``"full"``, the sampled pair in ``"two"``).

In eval mode (``model.eval()``) a binarised edge runs its most probable op (argmax of ``alpha``),
i.e. the network it would derive now.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.nas.rir.genotype import DEFAULT_RIR_SCALE, DEFAULT_WIDTH
from automri.nas.rir.network import RIRCascade, _space_config
from automri.nas.rir.ops import DEFAULT_RESIDUAL_SCALE, OPS, OPCell, op_spec

EDGE_MODES = ("full", "two", "softmax")
BINARIZE_RULES = ("sample", "argmax")
"""How a binarised edge picks its active op: ``sample`` from ``p = softmax(alpha)`` (ProxylessNAS)
or the ``argmax`` of ``p`` (EMR-NAS Eq. 2); see :meth:`BinarizedMixedEdge.reset_gates`."""
DEFAULT_BINARIZE = "argmax"
"""Eq. 2's rule: on the same 3-fold search it separated alpha 4-5x faster than sampling and found an
architecture of equal test PSNR (docs/binarization.md)."""
ALPHA_INIT_STD = 1e-3


class ArchGradientFunction(torch.autograd.Function):
    """``out = edge.candidates[active](x)`` whose backward also returns the gate gradients.

    Forward keeps the graph of the active op only. Backward returns ``dL/dx`` through the active op
    and ``dL/dg`` (``[n]``) from :meth:`BinarizedMixedEdge.gate_gradients`. The active op's weights
    get no gradient here (only ``alpha`` is updated in an architecture step).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, gates: torch.Tensor, edge: "BinarizedMixedEdge") -> torch.Tensor:
        detached = x.detach().requires_grad_(True)
        with torch.enable_grad():
            output = edge.candidates[edge.active](detached)
        ctx.edge = edge
        ctx.save_for_backward(detached, output)
        return output.detach()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        detached, output = ctx.saved_tensors
        (grad_x,) = torch.autograd.grad(output, detached, grad_output)
        gate_grads = ctx.edge.gate_gradients(detached.detach(), output.detach(), grad_output.detach())
        return grad_x, gate_grads, None


def alpha_gradient(alpha: torch.Tensor, gate_grads: torch.Tensor) -> torch.Tensor:
    """``dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i)`` with ``p = softmax(alpha)`` (``[n]``)."""
    p = torch.softmax(alpha, dim=0)
    return p * gate_grads - p * torch.dot(gate_grads, p)


class BinarizedMixedEdge(nn.Module):
    """One searched cell: candidates ``[B, F, H, W] -> [B, F, H, W]`` and logits ``alpha [n]``.

    Call :meth:`reset_gates` before every training forward in the binarised modes; set
    ``arch_step = True`` for the forward of an architecture step (gate gradients), then call
    :meth:`set_alpha_grad` after ``backward``.
    """

    def __init__(self, candidates: Sequence[nn.Module], mode: str = "full", binarize: str = DEFAULT_BINARIZE) -> None:
        super().__init__()
        if mode not in EDGE_MODES:
            raise AutoMRIError(f"mode: expected one of {EDGE_MODES}, got {mode!r}")
        if binarize not in BINARIZE_RULES:
            raise AutoMRIError(f"binarize: expected one of {BINARIZE_RULES}, got {binarize!r}")
        self.binarize = binarize
        if len(candidates) < 2:
            raise AutoMRIError(f"candidates: a mixed edge needs at least 2 ops, got {len(candidates)}")
        self.mode = mode
        self.candidates = nn.ModuleList(candidates)
        self.alpha = nn.Parameter(ALPHA_INIT_STD * torch.randn(len(candidates)))
        self.active = 0
        self.involved: list[int] = list(range(len(candidates)))
        self.gates: torch.Tensor | None = None
        self.arch_step = False
        self._old_involved_alpha: torch.Tensor | None = None

    @property
    def probabilities(self) -> torch.Tensor:
        """``softmax(alpha)``, detached, ``[n]``."""
        return torch.softmax(self.alpha.detach(), dim=0)

    def reset_gates(self, uniform: bool = False, single_path: bool = False) -> None:
        """Set the binary gates (one active op) from ``p = softmax(alpha)``, or uniformly at random
        (warm-up, whatever the rule).

        ``binarize="sample"`` (ProxylessNAS): the active op is drawn from ``p``. ``"argmax"``
        (EMR-NAS Eq. 2, ``g = binarize(p)`` = one-hot of ``argmax_i p_i``): it is the most probable op.
        ``single_path=True`` (weight steps) picks the active op from the full distribution in every
        mode, as ProxylessNAS does outside ``gradient_step`` (``MixedEdge.MODE = None``); otherwise
        ``"two"`` mode picks a pair (drawn, or the two most probable) and the active op of the pair
        (drawn from its 2-way softmax, or the more probable). Sampling uses the global torch RNG
        (saved and restored by the training loop's checkpoints).
        """
        if self.mode == "softmax":
            return
        n = len(self.candidates)
        probs = torch.full((n,), 1.0 / n) if uniform else self.probabilities.cpu()
        greedy = self.binarize == "argmax" and not uniform
        if self.mode == "full" or single_path:
            self.active = int(probs.argmax()) if greedy else int(torch.multinomial(probs, 1))
            self.involved = list(range(n))
        else:
            pair = probs.topk(2).indices.tolist() if greedy else torch.multinomial(probs, 2, replacement=False).tolist()
            pair_probs = torch.softmax(self.alpha.detach().cpu()[pair], dim=0)
            order = int(pair_probs.argmax()) if greedy else int(torch.multinomial(pair_probs, 1))
            self.active = pair[order]
            self.involved = [pair[order], pair[1 - order]]
        gates = torch.zeros(n, device=self.alpha.device)
        gates[self.active] = 1.0
        self.gates = gates.requires_grad_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "softmax":
            weights = torch.softmax(self.alpha, dim=0)
            return sum(w * op(x) for w, op in zip(weights, self.candidates))
        if not self.training:
            return self.candidates[int(self.alpha.argmax())](x)
        if self.arch_step:
            if self.gates is None:
                raise AutoMRIError("BinarizedMixedEdge: call reset_gates() before an architecture step")
            return ArchGradientFunction.apply(x, self.gates, self)
        return self.candidates[self.active](x)

    def gate_gradients(self, x: torch.Tensor, output: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
        """``dL/dg_k = sum(o_k(x) * dL/dout)`` for the involved ``k`` (0 elsewhere), ``[n]``.

        The active op's output is reused; every other involved op is recomputed under ``no_grad``
        (candidates with BatchNorm in train mode update their running statistics on that pass).
        """
        grads = torch.zeros(len(self.candidates), device=x.device, dtype=grad_output.dtype)
        with torch.no_grad():
            for k in self.involved:
                out_k = output if k == self.active else self.candidates[k](x)
                grads[k] = torch.sum(out_k * grad_output)
        return grads

    def set_alpha_grad(self, weight_decay: float = 0.0) -> None:
        """Write ``dL/dalpha`` from the gate gradients into ``alpha.grad`` (plus L2 weight decay on
        the involved logits); zero for logits of paths not involved in this step."""
        if self.mode == "softmax":
            return
        if self.gates is None or self.gates.grad is None:
            raise AutoMRIError("BinarizedMixedEdge: no gate gradient; run an architecture-step backward first")
        index = torch.tensor(self.involved, device=self.alpha.device)
        alpha = self.alpha.detach()
        grad = torch.zeros_like(alpha)
        grad[index] = alpha_gradient(alpha[index], self.gates.grad[index]) + weight_decay * alpha[index]
        self.alpha.grad = grad

    def remember_involved(self) -> None:
        """Store the involved logits before the optimiser step ("two" mode rescaling)."""
        self._old_involved_alpha = self.alpha.detach()[self.involved].clone()

    def rescale_involved(self) -> None:
        """"two" mode: shift the involved logits by ``log(sum exp(new) / sum exp(old))`` so that
        their total probability mass, hence every other path's probability, is unchanged."""
        if self.mode != "two":
            return
        if self._old_involved_alpha is None:
            raise AutoMRIError("BinarizedMixedEdge: call remember_involved() before the alpha step")
        with torch.no_grad():
            new = self.alpha[self.involved]
            offset = torch.logsumexp(new, 0) - torch.logsumexp(self._old_involved_alpha, 0)
            self.alpha[self.involved] = new - offset
        self._old_involved_alpha = None

    def extra_repr(self) -> str:
        return f"mode={self.mode}, binarize={self.binarize}, n={len(self.candidates)}"


def mixed_edges(model: nn.Module) -> list[BinarizedMixedEdge]:
    """Every :class:`BinarizedMixedEdge` of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, BinarizedMixedEdge)]


def arch_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The ``alpha`` of every mixed edge of ``model``."""
    return [edge.alpha for edge in mixed_edges(model)]


def weight_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """Every parameter of ``model`` except the architecture logits."""
    alphas = {id(a) for a in arch_parameters(model)}
    return (p for p in model.parameters() if id(p) not in alphas)


class RIRSearchNet(RIRCascade):
    """The EMR-NAS supernet: every cell is a :class:`BinarizedMixedEdge` over ``op_names``.

    ``mode``: ``"full"`` / ``"two"`` (ProxylessNAS binarisation) or ``"softmax"`` (DARTS mixing);
    ``binarize``: the binarised edges' rule, ``"sample"`` or ``"argmax"`` (:data:`BINARIZE_RULES`).
    Other arguments as :class:`RIRNet`.
    """

    def __init__(
        self,
        width: int = DEFAULT_WIDTH,
        components: int = 5,
        cells_per_block: int = 3,
        mode: str = "full",
        batch_norm: bool = False,
        rir: bool = True,
        residual_scale: float = DEFAULT_RESIDUAL_SCALE,
        rir_scale: float = DEFAULT_RIR_SCALE,
        connection_mode: str = "fusion",
        tdc_real_mode: str = "abs",
        op_names: Sequence[str] = OPS,
        binarize: str = DEFAULT_BINARIZE,
    ) -> None:
        self.op_names = list(op_names)
        for name in self.op_names:
            op_spec(name)
        self.config = _space_config(
            width=width, components=components, cells_per_block=cells_per_block, batch_norm=batch_norm,
            rir=rir, residual_scale=residual_scale, rir_scale=rir_scale, connection_mode=connection_mode,
            tdc_real_mode=tdc_real_mode,
        )

        def make_cell(index: int) -> nn.Module:
            candidates = [OPCell(n, width, batch_norm, residual_scale, connection_mode) for n in self.op_names]
            return BinarizedMixedEdge(candidates, mode=mode, binarize=binarize)

        super().__init__(make_cell, width, components, cells_per_block, rir, rir_scale, tdc_real_mode)

    @property
    def edges(self) -> list[BinarizedMixedEdge]:
        return mixed_edges(self)

    def probabilities(self) -> list[list[float]]:
        """``softmax(alpha)`` of every cell, ``[cells][len(op_names)]``."""
        return [edge.probabilities.tolist() for edge in self.edges]

    def derive(self) -> list[str]:
        """The argmax op name of every cell."""
        return [self.op_names[int(edge.alpha.argmax())] for edge in self.edges]

    def genotype(self) -> dict[str, Any]:
        """The derived network's genotype (argmax per cell) with this supernet's settings."""
        return {"space": "rir", "ops": self.derive(), **self.config}
