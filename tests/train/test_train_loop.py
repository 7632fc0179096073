"""The training loop: exact resume (mid-epoch, after Ctrl-C or a crash), logs, best checkpoint."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from train_fixtures import tiny_model

from automri.errors import AutoMRIError
from automri.train.checkpoint import load_checkpoint
from automri.train.loop import SupervisedStepper, epoch_batches, run_loop, steps_per_epoch
from automri.train.losses import build_loss
from automri.train.runs import RunDir

EPOCHS, BATCH = 2, 2  # 8 training samples -> 4 steps per epoch


def _stepper(model_seed: int = 0) -> SupervisedStepper:
    return SupervisedStepper(
        tiny_model(model_seed), build_loss("mse"), optimizer="adamw", lr=1e-2, weight_decay=1e-4,
        schedule="cosine", epochs=EPOCHS, steps_per_epoch=4, grad_clip=1.0,
    )


def _psnr(val_set):
    def evaluate(model):
        errors = []
        for sample in val_set:
            pred = model(sample.kspace[None], sample.mask[None])[0]
            errors.append(((pred.abs() - sample.target.abs()) ** 2).mean())
        return {"psnr": float(-10 * torch.log10(torch.stack(errors).mean()))}

    return evaluate


class FailAtStep:
    """Wraps a stepper; at global step ``at`` sends itself SIGINT (Ctrl-C) or raises ``error``."""

    def __init__(self, inner: SupervisedStepper, at: int, error: Exception | None = None) -> None:
        self.inner, self.at, self.error, self.calls = inner, at, error, 0
        self.model, self.needs_val_batch = inner.model, inner.needs_val_batch

    def step(self, batch, val_batch):
        self.calls += 1
        if self.calls == self.at:
            if self.error is not None:
                raise self.error
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives in the middle of this step
        return self.inner.step(batch, val_batch)

    def end_epoch(self, epoch):
        return self.inner.end_epoch(epoch)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def _train(run, stepper, data, resume=False, **kwargs):
    train_set, val_set = data
    return run_loop(stepper, train_set, val_set, run, epochs=EPOCHS, batch_size=BATCH, seed=5, resume=resume,
                    evaluate_fn=_psnr(val_set), **kwargs)


def _assert_same_weights(a, b):
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name


def _reference(tmp_path, data):
    stepper = _stepper()
    summary = _train(RunDir(tmp_path / "reference"), stepper, data)
    return stepper, summary, RunDir(tmp_path / "reference", resume=True).read_jsonl()


def test_ctrl_c_mid_epoch_then_resume_is_bit_identical(tmp_path, tiny_data):
    reference, _, reference_log = _reference(tmp_path, tiny_data)

    run = RunDir(tmp_path / "interrupted")
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in the background
    with pytest.raises(KeyboardInterrupt):
        _train(run, FailAtStep(_stepper(), at=6), tiny_data)  # epoch 2, step 2
    saved = load_checkpoint(run.checkpoint_last)
    assert (saved["epoch"], saved["step_in_epoch"], saved["global_step"]) == (1, 2, 6)
    assert signal.getsignal(signal.SIGINT) is handler_before  # handler restored

    resumed = _stepper(model_seed=99)  # different initial weights: they must come from the checkpoint
    summary = _train(RunDir(run.path, resume=True), resumed, tiny_data, resume=True)
    _assert_same_weights(resumed.model, reference.model)
    assert summary["resumed_from"] == {"epoch": 1, "step_in_epoch": 2, "global_step": 6}
    log = run.read_jsonl()
    assert [r["epoch"] for r in log] == [1, 2]
    for got, expected in zip(log, reference_log, strict=True):
        for key in ("train_loss", "train_grad_norm", "val_psnr", "lr", "global_step"):
            assert got[key] == expected[key], key


def test_crash_then_resume_from_periodic_checkpoint_without_duplicate_logs(tmp_path, tiny_data):
    reference, reference_summary, reference_log = _reference(tmp_path, tiny_data)

    run = RunDir(tmp_path / "crashed")
    with pytest.raises(RuntimeError, match="power cut"):
        _train(run, FailAtStep(_stepper(), at=7, error=RuntimeError("power cut")), tiny_data, checkpoint_every=1)
    saved = load_checkpoint(run.checkpoint_last)
    assert (saved["epoch"], saved["step_in_epoch"]) == (1, 2)
    run.log_metrics({"epoch": 2, "train_loss": -1.0})  # a record written just before the crash

    resumed = _stepper(model_seed=3)
    summary = _train(RunDir(run.path, resume=True), resumed, tiny_data, resume=True, checkpoint_every=1)
    _assert_same_weights(resumed.model, reference.model)
    assert [r["epoch"] for r in run.read_jsonl()] == [1, 2]
    assert run.read_jsonl()[1]["train_loss"] == reference_log[1]["train_loss"]
    assert summary["best_psnr"] == reference_summary["best_psnr"]


def test_best_checkpoint_summary_and_resume_of_a_finished_run(tmp_path, tiny_data):
    stepper = _stepper()
    run = RunDir(tmp_path / "run")
    summary = _train(run, stepper, tiny_data, meta={"model": "tiny"})
    log = run.read_jsonl()
    best = max(log, key=lambda r: r["val_psnr"])
    assert summary["best_epoch"] == best["epoch"] and summary["best_psnr"] == best["val_psnr"]
    best_checkpoint = load_checkpoint(run.checkpoint_best)
    assert best_checkpoint["epoch"] == best["epoch"] and best_checkpoint["meta"] == {"model": "tiny"}
    assert summary["last"] == log[-1]
    assert (run.path / "summary.json").is_file()
    assert log[0]["train_loss"] > log[-1]["train_loss"]  # it learns
    # resuming a finished run trains nothing more and keeps the log as it was
    again = _train(RunDir(run.path, resume=True), _stepper(), tiny_data, resume=True)
    assert again["global_step"] == 8 and run.read_jsonl() == log


def test_resume_refuses_a_different_seed_or_batch_size(tmp_path, tiny_data):
    run = RunDir(tmp_path / "run")
    train_set, val_set = tiny_data
    run_loop(_stepper(), train_set, val_set, run, epochs=1, batch_size=2, max_steps=1, seed=1)
    with pytest.raises(AutoMRIError, match="--seed 2: the run in .* used seed 1"):
        run_loop(_stepper(), train_set, val_set, run, epochs=1, batch_size=2, max_steps=1, seed=2, resume=True)
    with pytest.raises(AutoMRIError, match="--batch-size 4: the run in .* used 2"):
        run_loop(_stepper(), train_set, val_set, run, epochs=1, batch_size=4, max_steps=1, seed=1, resume=True)


def test_data_order_is_seeded_per_epoch_and_capped_by_max_steps():
    assert epoch_batches(10, 3, seed=0, epoch=1) == epoch_batches(10, 3, seed=0, epoch=1)
    assert epoch_batches(10, 3, seed=0, epoch=0) != epoch_batches(10, 3, seed=0, epoch=1)
    full = epoch_batches(10, 3, seed=0, epoch=0)
    assert [len(b) for b in full] == [3, 3, 3, 1] and sorted(sum(full, [])) == list(range(10))
    assert epoch_batches(10, 3, seed=0, epoch=0, max_steps=2) == full[:2]
    assert steps_per_epoch(10, 3) == 4 and steps_per_epoch(10, 3, max_steps=2) == 2


class RecordingBilevelStepper:
    """A bi-level stepper that records which validation samples it was given."""

    needs_val_batch = True

    def __init__(self) -> None:
        self.model = tiny_model()
        self.seen: list[tuple[str, ...]] = []

    def step(self, batch, val_batch):
        self.seen.append(tuple(f"{m['volume']}/{m['slice']}" for m in val_batch.meta))
        return {"loss": 0.0}

    def end_epoch(self, epoch):
        return {}

    def state_dict(self):
        return {"seen": len(self.seen)}

    def load_state_dict(self, state):
        pass


def test_validation_batches_cycle_through_the_val_set_and_resume(tmp_path, tiny_data):
    train_set, val_set = tiny_data  # 4 val samples, batch 2 -> 2 val batches per cycle
    stepper = RecordingBilevelStepper()
    run_loop(stepper, train_set, val_set, RunDir(tmp_path / "a"), epochs=1, batch_size=2, seed=0)
    assert len(stepper.seen) == 4
    for cycle in (stepper.seen[:2], stepper.seen[2:]):
        assert sorted(sum(cycle, ())) == sorted(f"{s.meta['volume']}/{s.meta['slice']}" for s in val_set)
    with pytest.raises(AutoMRIError, match="needs validation batches"):
        run_loop(RecordingBilevelStepper(), train_set, None, RunDir(tmp_path / "b"), epochs=1, batch_size=2)

    # interrupted after 3 steps and resumed: the stream continues where it stopped
    first = RecordingBilevelStepper()
    run = RunDir(tmp_path / "c")
    run_loop(first, train_set, val_set, run, epochs=1, batch_size=2, max_steps=3, seed=0)
    second = RecordingBilevelStepper()
    run_loop(second, train_set, val_set, RunDir(run.path, resume=True), epochs=2, batch_size=2, max_steps=3,
             seed=0, resume=True)
    reference = RecordingBilevelStepper()
    run_loop(reference, train_set, val_set, RunDir(tmp_path / "d"), epochs=2, batch_size=2, max_steps=3, seed=0)
    assert first.seen + second.seen == reference.seen


def test_bad_arguments_and_missing_tensorboard(tmp_path, tiny_data, monkeypatch):
    train_set, val_set = tiny_data
    with pytest.raises(AutoMRIError, match="--batch-size: expected a positive integer"):
        run_loop(_stepper(), train_set, val_set, RunDir(tmp_path / "a"), epochs=1, batch_size=0)
    with pytest.raises(AutoMRIError, match="training set is empty"):
        run_loop(_stepper(), [], val_set, RunDir(tmp_path / "b"), epochs=1, batch_size=1)
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(AutoMRIError, match=r"TensorBoard is not installed \(pip install 'automri\[tensorboard\]'\)"):
        run_loop(_stepper(), train_set, val_set, RunDir(tmp_path / "c"), epochs=1, batch_size=2, tensorboard=True)


def test_multistep_schedule_decays_after_its_milestone_epochs(tmp_path, tiny_data):
    train_set, _ = tiny_data
    stepper = SupervisedStepper(tiny_model(), build_loss("mse_mag"), optimizer="adamw", lr=1e-3,
                                schedule="multistep", milestones=[1], gamma=0.1, epochs=2, steps_per_epoch=1)
    run = RunDir(tmp_path / "run")
    run_loop(stepper, train_set, None, run, epochs=2, batch_size=4, max_steps=1)
    assert [r["lr"] for r in run.read_jsonl()] == pytest.approx([1e-4, 1e-4])
    with pytest.raises(AutoMRIError, match="milestones must list at least one epoch"):
        SupervisedStepper(tiny_model(), build_loss("mse"), schedule="multistep")
    with pytest.raises(AutoMRIError, match="schedule 'linear': unknown"):
        SupervisedStepper(tiny_model(), build_loss("mse"), schedule="linear")


def test_augmented_training_draws_per_epoch_and_resumes_bit_identical(tmp_path):
    """With ``augment`` the loop sets the epoch of the training set, so a resumed run sees the same draws."""
    from automri.data.augment import STANDARD
    from automri.data.datasets import build_dataset

    def data():
        return (build_dataset("phantom", "train", size=16, max_slices=8, augment=STANDARD),
                build_dataset("phantom", "val", size=16, max_slices=2))

    reference_data = data()
    reference = _stepper()
    _train(RunDir(tmp_path / "reference"), reference, reference_data)
    assert reference_data[0].epoch == EPOCHS - 1
    run = RunDir(tmp_path / "interrupted")
    with pytest.raises(KeyboardInterrupt):
        _train(run, FailAtStep(_stepper(), at=6), data())
    resumed = _stepper(model_seed=99)
    _train(RunDir(run.path, resume=True), resumed, data(), resume=True)
    _assert_same_weights(resumed.model, reference.model)


class PoisonAtStep(FailAtStep):
    """Wraps a stepper; from global step ``at`` on, the step leaves a NaN weight (training diverged)."""

    def step(self, batch, val_batch):
        metrics = self.inner.step(batch, val_batch)
        self.calls += 1
        if self.calls >= self.at:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("nan"))
        return metrics


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, tiny_data):
    """The divergence guard of the shared epoch loop: a non-finite weight (or loss) stops the run with
    one clear error; checkpoint-last.pt stays the last finite state (saved every 2 steps here)."""
    from automri.train.loop import DivergenceError, local_epochs

    run = RunDir(tmp_path / "run")
    with pytest.raises(DivergenceError, match="training diverged: parameter .* is not finite"):
        _train(run, PoisonAtStep(_stepper(), at=5), tiny_data, checkpoint_every=2)
    saved = load_checkpoint(run.checkpoint_last)
    assert saved["global_step"] == 4 and all(torch.isfinite(v).all() for v in saved["model"].values())
    with pytest.raises(DivergenceError):  # a federated client's local round goes through the same guard
        local_epochs(PoisonAtStep(_stepper(), at=1), tiny_data[0], None, epochs=1, batch_size=BATCH,
                     max_steps=None, seed=0)
