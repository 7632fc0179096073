"""Differentiable search strategies for networks with separate architecture weights ``alpha`` and
network weights ``w`` (``model.arch_parameters()`` / ``model.weight_parameters()``).

Every strategy performs one search step with :meth:`SearchStrategy.step` ``(train_batch, val_batch)
-> dict[str, float]``: first the alpha step (the strategy's gradient, Adam on alpha), then the w
step (Adam on w with the training loss, gradient clipping on the WEIGHTS). It also implements the
train engine's Stepper protocol (``model``, ``needs_val_batch``, ``end_epoch``, ``state_dict``,
``load_state_dict``), so ``train.loop.run_loop`` and a federated client can drive it, and exposes
:meth:`SearchStrategy.arch_state` / :meth:`SearchStrategy.load_arch_state` for alphas sent by a
server.

Batches are :class:`automri.data.sample.Batch`; ``loss(pred, target) -> scalar`` takes complex
``[B, H, W]`` images (see ``automri.train.losses``). ``loss`` drives the w step (and the inner
w step of second-order DARTS), ``arch_loss`` (default: ``loss``) the alpha step.

- :class:`MiLeNAS`: ``g = grad_alpha L_tr + beta * grad_alpha L_val`` at the current ``w``
  (He et al. 2020; the FedAutoMRI paper's Eq. 6).
- :class:`DARTSFirstOrder`: ``g = grad_alpha L_val`` at the current ``w``.
- :class:`DARTSSecondOrder`: gradient of ``L_val(w - xi grad_w L_tr(w, alpha), alpha)`` with the
  Hessian-vector product by central finite differences (Liu et al. 2019).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from automri.data.sample import Batch
from automri.errors import AutoMRIError

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Gradients = list[torch.Tensor]


def _grad(output: torch.Tensor, inputs: Sequence[torch.Tensor]) -> Gradients:
    """``d output / d inputs``; inputs that ``output`` does not depend on get zero gradients."""
    return list(torch.autograd.grad(output, list(inputs), allow_unused=True, materialize_grads=True))


class SearchStrategy:
    """Shared machinery: optimisers, the w step, state, and the Stepper protocol.

    ``grad_sync``: ``None``, or a function called on the alphas and on the weights after their
    gradients are set and before clipping / the optimiser step (data-parallel runs average the
    gradients over processes there: :func:`automri.train.distributed.average_gradients`).

    ``arch_lr``, ``arch_weight_decay``, ``arch_betas``: Adam on alpha (FedAutoMRI: 3e-3, 1e-3,
    DARTS's betas (0.5, 0.999)); ``w_lr``, ``w_weight_decay``: Adam on w (FedAutoMRI: 1e-3, 0);
    ``grad_clip``: max global norm of the WEIGHT gradients (``None`` or 0: no clipping; the
    official MiLeNAS / GAutoMRI code clipped the alpha gradients instead, so its weights were never
    clipped). Subclasses implement :meth:`arch_gradients`.
    """

    needs_val_batch = True

    def __init__(
        self,
        model: nn.Module,
        loss: Loss,
        arch_loss: Loss | None = None,
        arch_lr: float = 3e-3,
        arch_weight_decay: float = 1e-3,
        arch_betas: tuple[float, float] = (0.5, 0.999),
        w_lr: float = 1e-3,
        w_weight_decay: float = 0.0,
        grad_clip: float | None = 5.0,
    ) -> None:
        if not hasattr(model, "arch_parameters") or not hasattr(model, "weight_parameters"):
            raise AutoMRIError(
                f"model: {type(model).__name__} has no arch_parameters()/weight_parameters() "
                "(expected a searchable network such as CellSearchNet)"
            )
        self.model = model
        self.loss = loss
        self.arch_loss = loss if arch_loss is None else arch_loss
        self.grad_clip = grad_clip
        self.alphas = list(model.arch_parameters())
        self.weights = list(model.weight_parameters())
        weight_ids = {id(p) for p in self.weights}
        self.weight_names = [name for name, p in model.named_parameters() if id(p) in weight_ids]
        self.arch_optimizer = torch.optim.Adam(
            self.alphas, lr=arch_lr, betas=tuple(arch_betas), weight_decay=arch_weight_decay
        )
        self.weight_optimizer = torch.optim.Adam(self.weights, lr=w_lr, weight_decay=w_weight_decay)

    # -- losses ---------------------------------------------------------------------------------
    def batch_loss(
        self, batch: Batch, loss: Loss, weights: Sequence[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """``loss(model(batch), batch.target)``; ``weights`` (in ``weight_parameters()`` order)
        replace the model's own weights for this call (``torch.func.functional_call``)."""
        inputs = (batch.kspace, batch.mask, batch.sens)
        if weights is None:
            pred = self.model(*inputs)
        else:
            pred = functional_call(self.model, dict(zip(self.weight_names, weights)), inputs)
        return loss(pred, batch.target)

    # -- the step -------------------------------------------------------------------------------
    def arch_gradients(self, train_batch: Batch, val_batch: Batch) -> tuple[Gradients, dict[str, float]]:
        """The gradient of the strategy's architecture objective w.r.t. each alpha tensor, and
        the loss values it computed on the way."""
        raise NotImplementedError

    grad_sync: Callable[[list[nn.Parameter]], None] | None = None

    def _sync(self, parameters: Sequence[nn.Parameter]) -> None:
        if self.grad_sync is not None:
            self.grad_sync(list(parameters))

    def _device(self) -> torch.device:
        return self.weights[0].device

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        """One alpha step then one w step; returns ``loss`` (w-step training loss), the
        strategy's alpha-step losses and ``lambda`` when the model has a DC weight."""
        device = self._device()
        train_batch, val_batch = train_batch.to(device), val_batch.to(device)
        self.model.train()

        arch_grads, metrics = self.arch_gradients(train_batch, val_batch)
        for alpha, grad in zip(self.alphas, arch_grads):
            alpha.grad = grad.detach()
        self._sync(self.alphas)
        self.arch_optimizer.step()
        self.arch_optimizer.zero_grad(set_to_none=True)

        train_loss = self.batch_loss(train_batch, self.loss)
        for weight, grad in zip(self.weights, _grad(train_loss, self.weights)):
            weight.grad = grad
        self._sync(self.weights)
        if self.grad_clip:
            metrics["grad_norm"] = float(nn.utils.clip_grad_norm_(self.weights, self.grad_clip))
        self.weight_optimizer.step()
        self.weight_optimizer.zero_grad(set_to_none=True)

        metrics["loss"] = float(train_loss.detach())
        dc = getattr(self.model, "dc", None)
        if dc is not None and hasattr(dc, "lam"):
            metrics["lambda"] = float(dc.lam.detach())
        return metrics

    # -- Stepper protocol and state -------------------------------------------------------------
    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Per-epoch summary: ``alpha_entropy``, the mean entropy (nats) of ``softmax(alpha)`` over
        all edges (``log 8 = 2.079`` when uniform, 0 when one op per edge)."""
        with torch.no_grad():
            entropies = []
            for alpha in self.alphas:
                p = torch.softmax(alpha, dim=-1)
                entropies.append(-(p * torch.log(p.clamp_min(1e-30))).sum(dim=-1).flatten())
            return {"alpha_entropy": float(torch.cat(entropies).mean())}

    def arch_state(self) -> list[torch.Tensor]:
        """Detached copies of the alpha tensors (e.g. to send to a federated server)."""
        return [alpha.detach().clone() for alpha in self.alphas]

    def load_arch_state(self, alphas: Sequence[torch.Tensor]) -> None:
        """Overwrite the alphas in place (e.g. with the server's average); shapes must match."""
        if len(alphas) != len(self.alphas):
            raise AutoMRIError(f"alphas: expected {len(self.alphas)} tensors, got {len(alphas)}")
        with torch.no_grad():
            for alpha, value in zip(self.alphas, alphas):
                if tuple(value.shape) != tuple(alpha.shape):
                    raise AutoMRIError(
                        f"alphas: expected shape {tuple(alpha.shape)}, got {tuple(value.shape)}"
                    )
                alpha.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        """Both optimisers' states. The model (weights AND alphas, which are registered module
        parameters) is saved by the caller from ``model.state_dict()``, as in the Stepper protocol."""
        return {
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.weight_optimizer.load_state_dict(state["weight_optimizer"])


class MiLeNAS(SearchStrategy):
    """Mixed-level search: ``g = grad_alpha L_tr(w, alpha) + beta * grad_alpha L_val(w, alpha)``
    (first order, current ``w``), both with ``arch_loss``; then Adam on alpha and the w step."""

    def __init__(self, model: nn.Module, loss: Loss, beta: float = 1.0, **options: Any) -> None:
        super().__init__(model, loss, **options)
        if beta < 0:
            raise AutoMRIError(f"--beta: expected a non-negative float, got {beta}")
        self.beta = beta

    def arch_gradients(self, train_batch: Batch, val_batch: Batch) -> tuple[Gradients, dict[str, float]]:
        train_loss = self.batch_loss(train_batch, self.arch_loss)
        grad_train = _grad(train_loss, self.alphas)
        val_loss = self.batch_loss(val_batch, self.arch_loss)
        grad_val = _grad(val_loss, self.alphas)
        grads = [g_tr + self.beta * g_val for g_tr, g_val in zip(grad_train, grad_val)]
        return grads, {"arch_train_loss": float(train_loss.detach()), "val_loss": float(val_loss.detach())}


class DARTSFirstOrder(SearchStrategy):
    """First-order DARTS: ``g = grad_alpha L_val(w, alpha)`` at the current ``w``."""

    def arch_gradients(self, train_batch: Batch, val_batch: Batch) -> tuple[Gradients, dict[str, float]]:
        val_loss = self.batch_loss(val_batch, self.arch_loss)
        return _grad(val_loss, self.alphas), {"val_loss": float(val_loss.detach())}


class DARTSSecondOrder(SearchStrategy):
    """Second-order (unrolled) DARTS.

    With ``w' = w - xi grad_w L_tr(w, alpha)`` (``loss``), the alpha gradient of
    ``L_val(w', alpha)`` (``arch_loss``) is ``grad_alpha L_val(w', alpha) - xi * H v`` with
    ``v = grad_w' L_val(w', alpha)`` and the mixed Hessian-vector product
    ``H v = grad^2_{alpha, w} L_tr(w, alpha) v ~ (grad_alpha L_tr(w+) - grad_alpha L_tr(w-)) / (2 eps)``,
    ``w+- = w +- eps v``, ``eps = 0.01 / ||v||``. ``xi`` defaults to the w learning rate.
    Plain gradient descent for ``w'`` (no Adam moments), as in the DARTS paper's formula.
    """

    def __init__(self, model: nn.Module, loss: Loss, xi: float | None = None, **options: Any) -> None:
        super().__init__(model, loss, **options)
        self.xi = float(self.weight_optimizer.param_groups[0]["lr"] if xi is None else xi)

    def arch_gradients(self, train_batch: Batch, val_batch: Batch) -> tuple[Gradients, dict[str, float]]:
        train_loss = self.batch_loss(train_batch, self.loss)
        grad_w = _grad(train_loss, self.weights)
        unrolled = [(w - self.xi * g).detach().requires_grad_(True) for w, g in zip(self.weights, grad_w)]
        val_loss = self.batch_loss(val_batch, self.arch_loss, unrolled)
        grads = _grad(val_loss, self.alphas + unrolled)
        grad_alpha, vector = grads[: len(self.alphas)], grads[len(self.alphas) :]
        hessian_vector = self.hessian_vector_product(vector, train_batch)
        alpha_grads = [g - self.xi * hv for g, hv in zip(grad_alpha, hessian_vector)]
        return alpha_grads, {"arch_train_loss": float(train_loss.detach()), "val_loss": float(val_loss.detach())}

    def hessian_vector_product(self, vector: Sequence[torch.Tensor], batch: Batch) -> Gradients:
        """``grad^2_{alpha, w} L_tr(w, alpha) @ vector`` by central differences in ``w``
        (``vector`` in ``weight_parameters()`` order)."""
        norm = torch.sqrt(sum((v.detach() ** 2).sum() for v in vector))
        eps = 0.01 / norm.clamp_min(1e-30)
        grad_plus = _grad(
            self.batch_loss(batch, self.loss, [w.detach() + eps * v for w, v in zip(self.weights, vector)]),
            self.alphas,
        )
        grad_minus = _grad(
            self.batch_loss(batch, self.loss, [w.detach() - eps * v for w, v in zip(self.weights, vector)]),
            self.alphas,
        )
        return [(gp - gm) / (2 * eps) for gp, gm in zip(grad_plus, grad_minus)]


STRATEGIES: dict[str, type[SearchStrategy]] = {
    "milenas": MiLeNAS,
    "darts1": DARTSFirstOrder,
    "darts2": DARTSSecondOrder,
}


def build_strategy(name: str, model: nn.Module, loss: Loss, **options: Any) -> SearchStrategy:
    """The cell-space strategy called ``name`` (``milenas`` | ``darts1`` | ``darts2``)."""
    if name not in STRATEGIES:
        raise AutoMRIError(f"--strategy {name!r}: expected one of {', '.join(STRATEGIES)} for --space cell")
    return STRATEGIES[name](model, loss, **options)
