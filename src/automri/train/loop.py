"""The training loop shared by supervised training, architecture search and federated clients.

:func:`run_loop` drives a :class:`~automri.train.stepper.Stepper` over a dataset for a number of
epochs and owns everything that makes a run reproducible and resumable:

- data order: epoch ``e`` visits the training set in a permutation drawn from a generator seeded
  with ``(seed, e)``, so a resumed run sees exactly the same batches; ``max_steps`` caps the number
  of batches per epoch (``--steps``);
- validation batches for bi-level steppers (``needs_val_batch``) come from ``val_set`` in permutations
  seeded with ``(seed, cycle)``, cycled, and are counted so that resume continues the stream;
- checkpoints: ``checkpoint-last.pt`` every ``checkpoint_every`` steps, at each epoch end and on
  Ctrl-C; ``checkpoint-best.pt`` whenever the validation PSNR improves. ``checkpoint-last.pt`` holds
  the model weights, the stepper state, the RNG states, the epoch and the number of batches already
  consumed in the epoch in progress, so a run resumed mid-epoch ends bit-identical to one that was
  never interrupted;
- logs: one ``metrics.jsonl`` record per epoch (train means, validation scores, stepper metrics);
  on resume every ``*.jsonl`` log is cut back to the checkpoint so nothing is duplicated.

Ctrl-C (SIGINT, in the main thread) is honoured at the next step boundary: the loop saves
``checkpoint-last.pt`` and re-raises ``KeyboardInterrupt``. A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from automri.data.datasets import set_epoch
from automri.data.sample import Batch, collate
from automri.errors import AutoMRIError
from automri.train import distributed
from automri.train.checkpoint import load_checkpoint, save_checkpoint
from automri.train.device import resolve_device
from automri.train.progress import make_progress
from automri.train.runs import RunDir
from automri.train.seed import (
    capture_rng_state,
    derive_seed,
    restore_rng_state,
    seed_everything,
    seeded_generator,
    worker_init_fn,
)
from automri.train.stepper import Stepper, SupervisedStepper
from automri.train.tensorboard import log_epoch, open_writer

__all__ = [
    "DivergenceError", "Stepper", "SupervisedStepper", "epoch_batches", "epoch_loader", "epoch_steps",
    "local_epochs", "run_loop", "steps_per_epoch",
]

CHECKPOINT_FORMAT = "automri-checkpoint-1"
_TRAIN_STREAM = 1
_VAL_STREAM = 2
_LOADER_STREAM = 3

EvaluateFn = Callable[[nn.Module], dict[str, float]]
EpochCallback = Callable[[int, dict[str, Any]], None]


def steps_per_epoch(num_samples: int, batch_size: int, max_steps: int | None = None) -> int:
    """Number of optimisation steps in one epoch: ``ceil(num_samples / batch_size)``, capped by ``max_steps``."""
    steps = math.ceil(num_samples / batch_size)
    return steps if max_steps is None else min(steps, max_steps)


def epoch_batches(
    num_samples: int, batch_size: int, seed: int, epoch: int, max_steps: int | None = None
) -> list[list[int]]:
    """The batches (lists of sample indices) of 0-based ``epoch``: a permutation seeded by
    ``(seed, epoch)`` cut into ``batch_size`` chunks (the last may be smaller), at most ``max_steps``."""
    generator = seeded_generator(derive_seed(seed, epoch, _TRAIN_STREAM))
    order = torch.randperm(num_samples, generator=generator).tolist()
    batches = [order[i : i + batch_size] for i in range(0, num_samples, batch_size)]
    return batches[: steps_per_epoch(num_samples, batch_size, max_steps)]


def epoch_loader(
    train_set: Dataset,
    batch_size: int,
    seed: int,
    epoch: int,
    max_steps: int | None = None,
    skip: int = 0,
    num_workers: int = 0,
    draw: int | None = None,
) -> DataLoader:
    """The loader of 0-based ``epoch`` (:func:`epoch_batches`), without its first ``skip`` batches
    (a resumed epoch). It first gives the training set the augmentation draws ``draw`` (default:
    ``epoch``; ``data.augment``), so every epoch sees new draws and fresh masks. In a data-parallel
    run each batch is this rank's shard of the global batch (:func:`automri.train.distributed.shard`)."""
    batches = [distributed.shard(b) for b in epoch_batches(len(train_set), batch_size, seed, epoch, max_steps)]
    batches = [b for b in batches if b]
    set_epoch(train_set, epoch if draw is None else draw)
    return DataLoader(
        train_set,
        batch_sampler=batches[skip:],
        collate_fn=collate,
        num_workers=num_workers,
        worker_init_fn=worker_init_fn,
        generator=seeded_generator(derive_seed(seed, epoch, _LOADER_STREAM)),
    )


def epoch_steps(
    stepper: Stepper,
    loader: DataLoader,
    val_stream: ValidationStream | None,
    on_step_start: Callable[[], None] | None = None,
) -> Iterator[dict[str, float]]:
    """The one epoch loop: one ``stepper.step`` per training batch of ``loader`` (paired with the
    next batch of ``val_stream`` for bi-level steppers), yielding each step's metrics.

    Divergence guard: a non-finite loss (or a non-finite weight after the step) stops the run with
    :class:`DivergenceError` before anything is saved from the diverged state.
    """
    for batch in loader:
        val_batch = val_stream.next() if val_stream is not None else None
        if on_step_start is not None:
            on_step_start()
        metrics = stepper.step(batch, val_batch)
        check_finite(stepper.model, metrics)
        yield metrics


class DivergenceError(AutoMRIError):
    """Training diverged: a non-finite loss or weight (lower the learning rate or clip gradients)."""


def check_finite(model: nn.Module, metrics: dict[str, float]) -> None:
    """Raise :class:`DivergenceError` when ``metrics["loss"]`` or any parameter of ``model`` is not finite."""
    loss = metrics.get("loss", 0.0)
    if not math.isfinite(loss):
        raise DivergenceError(f"training diverged: loss is {loss} (lower --lr or set grad_clip); the last good checkpoint is kept")
    named = list(model.named_parameters())
    largest = torch._foreach_norm([p.detach() for _, p in named], float("inf")) if named else []
    if named and bool(torch.isfinite(torch.stack(largest)).all()):  # one fused max |w| per tensor, one sync
        return
    bad = next((name for (name, _), value in zip(named, largest) if not bool(torch.isfinite(value))), None)
    if bad is not None:
        raise DivergenceError(f"training diverged: parameter {bad!r} is not finite (lower --lr or set grad_clip); the last good checkpoint is kept")


def local_epochs(
    stepper: Stepper,
    train_set: Dataset,
    val_set: Dataset | None,
    epochs: int,
    batch_size: int,
    max_steps: int | None,
    seed: int,
) -> dict[str, float]:
    """``epochs`` epochs of ``stepper`` without a run directory (a federated client's local work in
    one round): data order, validation stream and augmentation draws all seeded by ``seed``.

    Returns ``{"train-loss": mean step loss, "local-steps": number of steps}``.
    """
    seed_everything(seed)
    stepper.model.train()
    val_stream = ValidationStream(val_set, batch_size, seed) if stepper.needs_val_batch else None
    losses = []
    for epoch in range(epochs):
        loader = epoch_loader(train_set, batch_size, seed, epoch, max_steps, draw=derive_seed(seed, epoch))
        losses += [metrics["loss"] for metrics in epoch_steps(stepper, loader, val_stream)]
    if not losses:
        raise AutoMRIError("local training ran no step (empty training split or zero local epochs)")
    return {"train-loss": float(sum(losses) / len(losses)), "local-steps": float(len(losses))}


class ValidationStream:
    """An endless, seeded, resumable stream of validation batches for bi-level steppers.

    Cycle ``c`` visits ``dataset`` in a permutation seeded by ``(seed, c)``; ``drawn`` counts the
    batches handed out so far, so the stream can restart at any point.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, drawn: int = 0) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.drawn = drawn
        self.per_cycle = math.ceil(len(dataset) / batch_size)
        self._cycle = -1
        self._order: list[int] = []

    def next(self) -> Batch:
        """The next validation batch."""
        cycle, position = divmod(self.drawn, self.per_cycle)
        if cycle != self._cycle:
            generator = seeded_generator(derive_seed(self.seed, cycle, _VAL_STREAM))
            self._order = torch.randperm(len(self.dataset), generator=generator).tolist()
            self._cycle = cycle
        chunk = self._order[position * self.batch_size : (position + 1) * self.batch_size]
        indices = distributed.shard(chunk) or chunk  # a last chunk smaller than the world: every rank takes it
        self.drawn += 1
        return collate([self.dataset[i] for i in indices])


@dataclass
class LoopState:
    """Counters saved in ``checkpoint-last.pt``.

    ``epoch``: completed epochs; ``step_in_epoch``: batches consumed in the epoch in progress;
    ``global_step``: steps since the start; ``val_batches_drawn``: position of the validation stream;
    ``best_psnr`` / ``best_epoch``: best validation PSNR so far; ``sums`` / ``count``: running sums of
    the step metrics of the epoch in progress (for the epoch means).
    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    val_batches_drawn: int = 0
    best_psnr: float = -math.inf
    best_epoch: int | None = None
    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value)
        self.count += 1

    def means(self) -> dict[str, float]:
        return {f"train_{name}": total / self.count for name, total in self.sums.items()} if self.count else {}


class _InterruptFlag:
    """Within the ``with`` block the first SIGINT only sets ``requested`` (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)  # a second Ctrl-C interrupts at once

    def __enter__(self) -> _InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _validate_arguments(stepper: Stepper, train_set: Dataset, val_set: Dataset | None, epochs: int,
                        batch_size: int, max_steps: int | None, checkpoint_every: int | None) -> None:
    if epochs < 0:
        raise AutoMRIError(f"--epochs: expected a non-negative integer, got {epochs}")
    if batch_size < 1:
        raise AutoMRIError(f"--batch-size: expected a positive integer, got {batch_size}")
    if max_steps is not None and max_steps < 1:
        raise AutoMRIError(f"--steps: expected a positive integer, got {max_steps}")
    if checkpoint_every is not None and checkpoint_every < 1:
        raise AutoMRIError(f"checkpoint_every: expected a positive integer, got {checkpoint_every}")
    if len(train_set) == 0:
        raise AutoMRIError("training set is empty (check --dataset and its split)")
    if stepper.needs_val_batch and (val_set is None or len(val_set) == 0):
        raise AutoMRIError("this stepper needs validation batches but the validation set is empty")


def _evaluate(model: nn.Module, evaluate_fn: EvaluateFn) -> dict[str, float]:
    """Run ``evaluate_fn`` in eval mode without gradients, leaving the global RNG untouched."""
    rng = capture_rng_state()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return dict(evaluate_fn(model))
    finally:
        model.train(was_training)
        restore_rng_state(rng)


def _tensorboard_writer(run: RunDir, enabled: bool | str | os.PathLike) -> Any:
    """The TensorBoard writer of ``run``: ``True`` logs to ``RUN/tensorboard``, a path (``--tensorboard
    DIR``) to that folder, ``False`` / ``None`` / ``""`` not at all."""
    if not enabled:
        return None
    return open_writer(run.path / "tensorboard" if enabled is True else enabled)


def run_loop(
    stepper: Stepper,
    train_set: Dataset,
    val_set: Dataset | None,
    run: RunDir,
    epochs: int,
    batch_size: int,
    max_steps: int | None = None,
    seed: int = 0,
    resume: bool = False,
    evaluate_fn: EvaluateFn | None = None,
    checkpoint_every: int | None = None,
    device: str | torch.device = "cpu",
    on_epoch_end: EpochCallback | None = None,
    *,
    meta: dict[str, Any] | None = None,
    tensorboard: bool | str | os.PathLike = False,
    progress: bool = True,
    num_workers: int = 0,
    preview_set: Dataset | None = None,
) -> dict[str, Any]:
    """Train ``stepper`` for ``epochs`` epochs of at most ``max_steps`` batches; see the module docstring.

    Args:
        stepper: performs the optimisation steps (its ``model`` is checkpointed here).
        train_set / val_set: datasets of :class:`~automri.data.sample.Sample`; ``val_set`` feeds
            bi-level steppers (``needs_val_batch``) and may be ``None`` otherwise.
        run: the run directory (checkpoints, ``metrics.jsonl``, ``summary.json``).
        epochs: total number of epochs (a resumed run continues up to this number).
        batch_size: samples per step. max_steps: cap on steps per epoch (``None``: all batches).
        seed: seeds the global RNGs at the start and every data order.
        resume: continue from ``run.checkpoint_last`` when it exists (else start fresh); the seed
            and batch size must match the checkpoint's.
        evaluate_fn: ``evaluate_fn(model) -> {"psnr": ..., ...}`` run at each epoch end (eval mode,
            no grad); its scores are logged as ``val_<name>`` and the best ``psnr`` is kept in
            ``checkpoint-best.pt``.
        checkpoint_every: also save ``checkpoint-last.pt`` every this many steps.
        device: ``auto`` | ``cpu`` | ``cuda[:N]``; the model is moved there.
        on_epoch_end: ``on_epoch_end(epoch, record)`` after each epoch (1-based), before the record
            is logged; it may add entries to ``record`` or write its own logs.
        meta: extra information saved in every checkpoint under ``"meta"`` (e.g. how to rebuild the
            model: name, keyword arguments, genotype).
        tensorboard: also write TensorBoard logs (:mod:`automri.train.tensorboard`: scalars, the first
            slice of ``preview_set`` (default ``val_set``), alpha histograms of search networks)
            under ``RUN/tensorboard`` (``True``) or in the given folder (needs ``automri[tensorboard]``).
        progress: show a Rich progress bar (still off when stderr is not a terminal).
        num_workers: DataLoader worker processes for the training set.

    Returns (and writes to ``summary.json``): ``{"epochs", "global_step", "best_psnr",
    "best_epoch", "last", "resumed_from"}`` where ``last`` is the final ``metrics.jsonl`` record.
    """
    _validate_arguments(stepper, train_set, val_set, epochs, batch_size, max_steps, checkpoint_every)
    device = resolve_device(device)
    model = stepper.model.to(device)
    seed_everything(seed)
    state = LoopState()
    resumed_from = None
    if resume and run.checkpoint_last.is_file():
        state = _restore(run, stepper, seed, batch_size, device)
        resumed_from = {"epoch": state.epoch, "step_in_epoch": state.step_in_epoch, "global_step": state.global_step}
    if resume:
        run.truncate_logs(state.epoch, state.step_in_epoch)
    distributed.check_batch(batch_size)
    distributed.distribute(stepper)

    val_stream = (
        ValidationStream(val_set, batch_size, seed, state.val_batches_drawn) if stepper.needs_val_batch else None
    )
    meta = dict(meta or {})
    rng_after_step = capture_rng_state()

    def save_last(rng: dict[str, Any]) -> None:
        if val_stream is not None:
            state.val_batches_drawn = val_stream.drawn
        save_checkpoint(
            run.checkpoint_last,
            {
                "format": CHECKPOINT_FORMAT,
                "model": model.state_dict(),
                "stepper": stepper.state_dict(),
                "rng": rng,
                **asdict(state),
                "seed": seed,
                "batch_size": batch_size,
                "meta": meta,
            },
        )

    writer = _tensorboard_writer(run, tensorboard)
    last_record: dict[str, Any] | None = None
    consistent = True  # model, stepper and counters describe the same point in training

    def mark_inconsistent() -> None:
        nonlocal consistent
        consistent = False

    try:
        with make_progress(disable=not progress) as bar, _InterruptFlag() as interrupt:
            for epoch in range(state.epoch, epochs):
                loader = epoch_loader(train_set, batch_size, seed, epoch, max_steps, state.step_in_epoch, num_workers)
                task = bar.add_task(
                    f"epoch {epoch + 1}/{epochs}", total=len(loader) + state.step_in_epoch,
                    completed=state.step_in_epoch, loss=math.nan,
                )
                started = time.perf_counter()
                model.train()
                for metrics in epoch_steps(stepper, loader, val_stream, on_step_start=mark_inconsistent):
                    metrics = distributed.average_metrics(metrics)  # data parallel: the global batch's
                    state.step_in_epoch += 1
                    state.global_step += 1
                    state.add(metrics)
                    rng_after_step = capture_rng_state()
                    consistent = True
                    bar.update(task, advance=1, loss=metrics.get("loss", math.nan))
                    if checkpoint_every is not None and state.global_step % checkpoint_every == 0:
                        save_last(rng_after_step)
                    if interrupt.requested:
                        raise KeyboardInterrupt
                consistent = False
                record: dict[str, Any] = {"epoch": epoch + 1, "global_step": state.global_step, **state.means()}
                record.update(stepper.end_epoch(epoch + 1))
                if evaluate_fn is not None:
                    scores = _evaluate(model, evaluate_fn)
                    record.update({f"val_{name}": value for name, value in scores.items()})
                    if "psnr" in scores and scores["psnr"] > state.best_psnr:
                        state.best_psnr, state.best_epoch = float(scores["psnr"]), epoch + 1
                        save_checkpoint(
                            run.checkpoint_best,
                            {"format": CHECKPOINT_FORMAT, "model": model.state_dict(), "epoch": epoch + 1,
                             "scores": scores, "meta": meta},
                        )
                record["time_s"] = time.perf_counter() - started
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, record)
                run.log_metrics(record)
                if writer is not None:
                    log_epoch(writer, record, epoch + 1, model, preview_set if preview_set is not None else val_set,
                              device)
                last_record = record
                state.epoch, state.step_in_epoch, state.sums, state.count = epoch + 1, 0, {}, 0
                rng_after_step = capture_rng_state()
                consistent = True
                save_last(rng_after_step)
                bar.remove_task(task)
                if interrupt.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if consistent:
            save_last(rng_after_step)
        raise
    finally:
        if writer is not None:
            writer.close()

    if last_record is None:
        records = run.read_jsonl()
        last_record = records[-1] if records else None
    summary = {
        "epochs": state.epoch,
        "global_step": state.global_step,
        "best_psnr": None if state.best_epoch is None else state.best_psnr,
        "best_epoch": state.best_epoch,
        "last": last_record,
        "resumed_from": resumed_from,
    }
    run.write_json("summary.json", summary)
    return summary


def _restore(run: RunDir, stepper: Stepper, seed: int, batch_size: int, device: torch.device) -> LoopState:
    """Load ``checkpoint-last.pt`` into ``stepper`` and the global RNGs; return the loop counters."""
    checkpoint = load_checkpoint(run.checkpoint_last, map_location=device)
    path = run.checkpoint_last
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise AutoMRIError(f"{path}: not a training checkpoint (format {checkpoint.get('format')!r})")
    if checkpoint["seed"] != seed:
        raise AutoMRIError(f"--seed {seed}: the run in {run.path} used seed {checkpoint['seed']}; resume with it")
    if checkpoint["batch_size"] != batch_size:
        raise AutoMRIError(
            f"--batch-size {batch_size}: the run in {run.path} used {checkpoint['batch_size']}; resume with it"
        )
    try:
        stepper.model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        raise AutoMRIError(f"{path}: model weights do not fit this model ({err})") from err
    stepper.load_state_dict(checkpoint["stepper"])
    restore_rng_state(checkpoint["rng"])
    names = {f.name for f in LoopState.__dataclass_fields__.values()}
    return LoopState(**{name: checkpoint[name] for name in names})
