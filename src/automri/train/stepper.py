"""Steppers: the object that performs one optimisation step for :func:`automri.train.loop.run_loop`.

A stepper owns the model and everything that changes during training except the model weights
(optimisers, schedulers, architecture optimisers). The loop owns data order, checkpoints, logs and
RNG. Search strategies (``automri.nas``) and federated clients implement the same protocol.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from automri.data.sample import Batch
from automri.errors import AutoMRIError
from automri.train.device import resolve_device
from automri.train.losses import Loss

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("cosine", "multistep", "none")


@runtime_checkable
class Stepper(Protocol):
    """What :func:`~automri.train.loop.run_loop` drives.

    Attributes:
        model: the network being trained (its ``state_dict`` is checkpointed by the loop).
        needs_val_batch: when true, ``step`` receives a validation batch too (bi-level NAS).
    """

    model: nn.Module
    needs_val_batch: bool

    def step(self, batch: Batch, val_batch: Batch | None) -> dict[str, float]:
        """One optimisation step; returns scalar metrics such as ``{"loss": 0.01}``."""

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Called after the last step of 1-based ``epoch``; returns metrics to log (e.g. ``lr``)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly, except the model weights."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def build_optimizer(
    name: str, parameters: list[nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """``adam`` (torch.optim.Adam) or ``adamw`` (torch.optim.AdamW) over ``parameters``.

    The fused implementation is used (one kernel for all parameters, on CPU and CUDA): for the 7.7M
    parameters of fastMRI's U-Net it cuts the optimiser step from ~29 ms to ~6 ms on CPU.
    """
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    raise AutoMRIError(f"optimizer {name!r}: unknown (expected one of {', '.join(OPTIMIZERS)})")


class SupervisedStepper:
    """Plain supervised training: ``loss(model(kspace, mask, sens), target)``, one optimiser.

    Args:
        model: a reconstruction model ``model(kspace, mask, sens=None) -> complex [B, H, W]``.
        loss: ``loss(pred, target) -> scalar`` (see :func:`automri.train.losses.build_loss`).
        optimizer: ``"adam"`` or ``"adamw"``.
        lr: learning rate. weight_decay: L2 (adam) or decoupled (adamw) weight decay.
        schedule: ``"cosine"`` (per-step cosine annealing from ``lr`` to 0 over
            ``epochs * steps_per_epoch`` steps), ``"multistep"`` (``lr`` times ``gamma`` after each
            epoch in ``milestones``, as FedAutoMRI's ``MultiStepLR([80], 0.1)``) or ``"none"``.
        epochs, steps_per_epoch: length of the run, for the cosine schedule.
        milestones, gamma: the epochs (1-based, after which to decay) and factor of ``multistep``.
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
        bf16: run the forward pass under CUDA/CPU bfloat16 autocast (the loss stays float32).
        channels_last: keep the 4-D weights (and so the convolutions' activations) in NHWC layout.
        device: where the model and batches live (``"auto"`` picks CUDA when present).
        parameters: what the optimiser updates (default: every trainable parameter of ``model``).
        data_weight, extra_loss: the minimised objective is
            ``data_weight * loss(pred, target) + extra_loss(model)`` (FedProx's proximal term, FedMRI's
            weighted loss and regulariser); the reported ``loss`` is the unweighted data loss.
    """

    needs_val_batch = False

    def __init__(
        self,
        model: nn.Module,
        loss: Loss,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: str = "none",
        epochs: int = 1,
        steps_per_epoch: int = 1,
        grad_clip: float | None = None,
        bf16: bool = False,
        channels_last: bool = False,
        device: str | torch.device = "cpu",
        milestones: tuple[int, ...] | list[int] = (),
        gamma: float = 0.1,
        parameters: list[nn.Parameter] | None = None,
        data_weight: float = 1.0,
        extra_loss: Callable[[nn.Module], torch.Tensor] | None = None,
    ) -> None:
        if schedule not in SCHEDULES:
            raise AutoMRIError(f"schedule {schedule!r}: unknown (expected one of {', '.join(SCHEDULES)})")
        if grad_clip is not None and grad_clip <= 0:
            raise AutoMRIError(f"grad_clip: expected a positive number or none, got {grad_clip!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last) if channels_last else model.to(self.device)
        self.forward_model: nn.Module = self.model  # DDP-wrapped in data-parallel runs (train/distributed.py)
        self.loss = loss
        parameters = [p for p in (parameters if parameters is not None else self.model.parameters()) if p.requires_grad]
        if not parameters:
            raise AutoMRIError(f"model {type(model).__name__} has no trainable parameters; nothing to train")
        self.optimizer = build_optimizer(optimizer, parameters, lr, weight_decay)
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.step_scheduler_per = "step"
        if schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=max(1, epochs * steps_per_epoch)
            )
        elif schedule == "multistep":
            if not milestones:
                raise AutoMRIError("schedule 'multistep': milestones must list at least one epoch")
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(milestones), gamma)
            self.step_scheduler_per = "epoch"
        self.grad_clip = grad_clip
        self.bf16 = bf16
        self.data_weight = data_weight
        self.extra_loss = extra_loss

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def step(self, batch: Batch, val_batch: Batch | None = None) -> dict[str, float]:
        """Forward, objective, backward, optional clipping, optimiser and scheduler step."""
        batch = batch.to(self.device)
        with self._autocast():
            pred = self.forward_model(batch.kspace, batch.mask, batch.sens)
        loss = self.loss(pred.to(torch.complex64), batch.target)
        objective = loss if self.data_weight == 1.0 else self.data_weight * loss
        if self.extra_loss is not None:
            objective = objective + self.extra_loss(self.model)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        metrics = {"loss": float(loss.detach())}
        if self.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            metrics["grad_norm"] = float(norm)
        self.optimizer.step()
        if self.scheduler is not None and self.step_scheduler_per == "step":
            self.scheduler.step()
        return metrics

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Step a per-epoch schedule; report the learning rate in effect for the next step."""
        if self.scheduler is not None and self.step_scheduler_per == "epoch":
            self.scheduler.step()
        return {"lr": float(self.optimizer.param_groups[0]["lr"])}

    def state_dict(self) -> dict[str, Any]:
        """Optimiser and scheduler state."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore optimiser and scheduler state saved by :meth:`state_dict`."""
        self.optimizer.load_state_dict(state["optimizer"])
        if (state["scheduler"] is None) != (self.scheduler is None):
            raise AutoMRIError("checkpoint: learning-rate schedule differs from this run's (one has none)")
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
