"""``--bf16`` (bfloat16 autocast of the forward pass) and ``--channels-last`` (NHWC weights and
activations) on ``automri train``: both change how a step runs, not what it computes (within the
precision of the format)."""

from __future__ import annotations

import torch
import yaml
from train_fixtures import TinySlices, tiny_model
from typer.testing import CliRunner

from automri.cli import app
from automri.data.sample import collate
from automri.train.losses import build_loss
from automri.train.stepper import SupervisedStepper


def _step(**options) -> tuple[SupervisedStepper, float, list[torch.dtype]]:
    model = tiny_model(0)
    model.net[2].p = 0.0  # dropout draws its mask in memory order, which differs between the layouts
    stepper = SupervisedStepper(model, build_loss("mse"), lr=1e-3, **options)
    seen = []
    stepper.model.net[0].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    loss = stepper.step(collate([TinySlices()[i] for i in range(4)]))["loss"]
    return stepper, loss, seen


def test_channels_last_keeps_the_weights_in_nhwc_and_computes_the_same_step():
    plain, loss, _ = _step()
    nhwc, loss_nhwc, _ = _step(channels_last=True)
    assert nhwc.model.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.model.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert abs(loss - loss_nhwc) < 1e-6 * max(1.0, abs(loss))
    for a, b in zip(plain.model.parameters(), nhwc.model.parameters()):
        torch.testing.assert_close(a, b.contiguous(), atol=1e-6, rtol=1e-5)


def test_bf16_runs_the_convolutions_in_bfloat16_and_the_loss_in_float32():
    _, loss, seen = _step()
    _, loss_bf16, seen_bf16 = _step(bf16=True)
    assert seen == [torch.float32] and seen_bf16 == [torch.bfloat16]
    assert abs(loss - loss_bf16) < 0.05 * abs(loss)  # bfloat16 keeps about 3 significant digits


def test_the_flags_reach_the_run_config(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--model", "dccnn", "--dataset", "phantom", "--size", "32",
                                      "--epochs", "1", "--steps", "1", "--batch-size", "2", "--val-slices", "2",
                                      "--bf16", "--channels-last", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["train"]["bf16"] is True and saved["train"]["channels_last"] is True
