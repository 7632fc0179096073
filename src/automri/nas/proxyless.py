"""The ProxylessNAS search strategy of EMR-NAS (Algorithm 1) over :mod:`automri.nas.rir.space`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.nas.rir.space import arch_parameters, mixed_edges, weight_parameters

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
        self._sync(list(weight_parameters(self.model)))
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
            self._sync(arch_parameters(self.model))
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
        self._sync(arch_parameters(self.model))
        self.arch_optimizer.step()
        for edge in self.edges:
            edge.rescale_involved()
        return float(loss.detach())

    grad_sync: Callable[[list[nn.Parameter]], None] | None = None
    """Called on the weights / alphas before each optimiser step (data-parallel gradient averaging)."""

    def _sync(self, parameters: list[nn.Parameter]) -> None:
        if self.grad_sync is not None:
            self.grad_sync(parameters)

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
