"""ProxylessNAS path binarisation (Cai et al. 2019) as used by EMR-NAS, and its search strategy.

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

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from automri.errors import AutoMRIError

EDGE_MODES = ("full", "two", "softmax")
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

    def __init__(self, candidates: Sequence[nn.Module], mode: str = "full") -> None:
        super().__init__()
        if mode not in EDGE_MODES:
            raise AutoMRIError(f"mode: expected one of {EDGE_MODES}, got {mode!r}")
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
        """Sample the binary gates (one active op) from ``softmax(alpha)``, or uniformly (warm-up).

        ``single_path=True`` (weight steps) draws the active op from the full distribution in every
        mode, as ProxylessNAS does outside ``gradient_step`` (``MixedEdge.MODE = None``); otherwise
        ``"two"`` mode draws a pair and the active op from the pair's 2-way softmax (arch steps).
        Uses the global torch RNG (saved and restored by the training loop's checkpoints).
        """
        if self.mode == "softmax":
            return
        n = len(self.candidates)
        probs = torch.full((n,), 1.0 / n) if uniform else self.probabilities.cpu()
        if self.mode == "full" or single_path:
            self.active = int(torch.multinomial(probs, 1))
            self.involved = list(range(n))
        else:
            pair = torch.multinomial(probs, 2, replacement=False).tolist()
            pair_probs = torch.softmax(self.alpha.detach().cpu()[pair], dim=0)
            order = int(torch.multinomial(pair_probs, 1))
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
        return f"mode={self.mode}, n={len(self.candidates)}"


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


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ProxylessStrategy:
    """EMR-NAS Algorithm 1 as a Stepper (``step(train_batch, val_batch) -> dict``, ``end_epoch``).

    * Warm-up (the first ``warmup_epochs`` epochs): weights only, gates drawn uniformly at random
      (binarised modes) or the full softmax mixture (``"softmax"``).
    * Then each step: reset gates from ``softmax(alpha)``, one weight step on the train batch; reset
      gates, one alpha step on the val batch (first order, at the current weights).

    ``mode`` is the edges' mode: ``"full"`` / ``"two"`` (ProxylessNAS) or ``"softmax"`` (the
    ``"darts"`` strategy: first-order DARTS with the same alternation). The model must be built
    with edges of that mode.

    Optimisers (EMR-NAS Sec. 3): weights Adam, lr ``w_lr`` = 1e-3, betas (0.9, 0.999) ("0.9
    momentum"), weight decay ``w_weight_decay`` = 1e-7, cosine annealing over ``total_epochs``
    (stepped per epoch). Alpha: Adam, lr ``arch_lr`` = 1e-3, weight decay ``arch_weight_decay`` =
    1e-6 (EMR-NAS); the paper gives no betas, so ``arch_betas`` defaults to ProxylessNAS's (0, 0.999):
    with beta1 = 0 a logit whose gradient is zero (a path not involved in a "two"-mode step) does not
    move. In the binarised modes the weight decay is added to the gradient of the involved logits only.

    ``loss(prediction, target)`` takes two complex ``[B, H, W]`` images and returns a scalar.
    """

    needs_val_batch = True

    def __init__(
        self,
        model: nn.Module,
        loss: Loss,
        mode: str = "full",
        w_lr: float = 1e-3,
        w_weight_decay: float = 1e-7,
        arch_lr: float = 1e-3,
        arch_weight_decay: float = 1e-6,
        arch_betas: tuple[float, float] = (0.0, 0.999),
        warmup_epochs: int = 0,
        total_epochs: int = 1,
    ) -> None:
        self.model = model
        self.loss = loss
        self.edges = mixed_edges(model)
        if not self.edges:
            raise AutoMRIError("ProxylessStrategy: the model has no BinarizedMixedEdge to search")
        wrong = {e.mode for e in self.edges} - {mode}
        if wrong:
            raise AutoMRIError(f"mode: the strategy uses {mode!r} but the model's edges use {sorted(wrong)}")
        self.mode = mode
        self.arch_weight_decay = float(arch_weight_decay)
        self.warmup_epochs = int(warmup_epochs)
        self.epochs_done = 0
        self.w_optimizer = torch.optim.Adam(
            list(weight_parameters(model)), lr=w_lr, betas=(0.9, 0.999), weight_decay=w_weight_decay
        )
        self.w_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_optimizer, T_max=max(1, total_epochs))
        arch_decay = self.arch_weight_decay if mode == "softmax" else 0.0
        self.arch_optimizer = torch.optim.Adam(
            arch_parameters(model), lr=arch_lr, betas=tuple(arch_betas), weight_decay=arch_decay
        )

    @property
    def warming_up(self) -> bool:
        return self.epochs_done < self.warmup_epochs

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _batch_loss(self, batch: Any) -> torch.Tensor:
        batch = batch.to(self._device())
        prediction = self.model(batch.kspace, batch.mask, batch.sens)
        return self.loss(prediction, batch.target)

    def _reset_gates(self, uniform: bool, single_path: bool = False) -> None:
        for edge in self.edges:
            edge.reset_gates(uniform=uniform, single_path=single_path)

    def weight_step(self, batch: Any, uniform: bool = False) -> float:
        """Sample one path per cell (from ``softmax(alpha)``, or uniformly when ``uniform``) and take
        one weight step on ``batch``; returns the loss."""
        self.model.train()
        self._reset_gates(uniform, single_path=True)
        for edge in self.edges:
            edge.arch_step = False
        self.w_optimizer.zero_grad(set_to_none=True)
        loss = self._batch_loss(batch)
        loss.backward(inputs=list(weight_parameters(self.model)))
        self.w_optimizer.step()
        return float(loss.detach())

    def arch_step(self, batch: Any) -> float:
        """Sample paths and take one alpha step on ``batch`` (first order); returns the loss."""
        self.model.train()
        self._reset_gates(uniform=False)
        self.arch_optimizer.zero_grad(set_to_none=True)
        if self.mode == "softmax":
            loss = self._batch_loss(batch)
            loss.backward(inputs=arch_parameters(self.model))
            self.arch_optimizer.step()
            return float(loss.detach())
        for edge in self.edges:
            edge.arch_step = True
        try:
            loss = self._batch_loss(batch)
            loss.backward(inputs=[edge.gates for edge in self.edges])
        finally:
            for edge in self.edges:
                edge.arch_step = False
        for edge in self.edges:
            edge.set_alpha_grad(self.arch_weight_decay)
            edge.remember_involved()
        self.arch_optimizer.step()
        for edge in self.edges:
            edge.rescale_involved()
        return float(loss.detach())

    def step(self, batch: Any, val_batch: Any = None) -> dict[str, float]:
        """One step of Algorithm 1 (or of the warm-up); returns the losses."""
        if self.warming_up:
            return {"loss": self.weight_step(batch, uniform=True)}
        if val_batch is None:
            raise AutoMRIError("ProxylessStrategy.step: the search phase needs a validation batch")
        train_loss = self.weight_step(batch)
        return {"loss": train_loss, "arch_loss": self.arch_step(val_batch)}

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """Advance the cosine schedule; report the phase of the epoch just done and the next lr."""
        self.w_scheduler.step()
        self.epochs_done += 1
        return {
            "phase": "warmup" if self.epochs_done <= self.warmup_epochs else "search",
            "lr": self.w_optimizer.param_groups[0]["lr"],
        }

    def state_dict(self) -> dict[str, Any]:
        """Optimiser, scheduler and phase state (the loop checkpoints the model weights)."""
        return {
            "w_optimizer": self.w_optimizer.state_dict(),
            "w_scheduler": self.w_scheduler.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "epochs_done": self.epochs_done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.w_scheduler.load_state_dict(state["w_scheduler"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.epochs_done = int(state["epochs_done"])


STRATEGY_MODES = {"proxyless": "full", "proxyless2": "two", "darts": "softmax"}


def strategy_mode(name: str) -> str:
    """Edge mode of a rir strategy name: ``proxyless`` -> full, ``proxyless2`` -> two, ``darts`` -> softmax."""
    if name not in STRATEGY_MODES:
        raise AutoMRIError(f"strategy: expected one of {', '.join(STRATEGY_MODES)} for the rir space, got {name!r}")
    return STRATEGY_MODES[name]

