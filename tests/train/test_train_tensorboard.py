"""``--tensorboard DIR`` on train, search and fed: what is logged (through a recording writer, so it
runs without TensorBoard), the one-line error when TensorBoard is missing, and real event files
when it is installed."""

from __future__ import annotations

import builtins
import importlib.util

import pytest
import torch
from cli_helpers import one_error_line, run_cli

from automri.federated.server_app import _tensorboard_round
from automri.train import loop, tensorboard

pytestmark = pytest.mark.usefixtures("single_thread")

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
CELL_SEARCH = ["search", "--space", "cell", "--dataset", "phantom", "--size", "16", "--steps", "1", "--batch-size", "2",
               "--hidden", "4", "--cells", "1", "--iterations", "1", "--device", "cpu", "--epochs", "2",
               "--mask", "random:rate=0.4,center=0.1"]
TRAIN = ["train", "--model", "dccnn", "--dataset", "phantom", "--size", "16", "--epochs", "1", "--steps", "1",
         "--batch-size", "2", "--val-slices", "2", "--device", "cpu", "--mask", "random:rate=0.4,center=0.1"]


class RecordingWriter:
    """What ``SummaryWriter`` was asked to write: ``{kind: [(tag, value, step)]}``."""

    def __init__(self, log_dir=None):
        self.log_dir, self.calls = log_dir, {"scalar": [], "image": [], "histogram": []}

    def add_scalar(self, tag, value, step):
        self.calls["scalar"].append((tag, value, step))

    def add_image(self, tag, image, step, dataformats="CHW"):
        assert dataformats == "HW" and image.ndim == 2 and 0 <= float(image.min()) <= float(image.max()) <= 1
        self.calls["image"].append((tag, image, step))

    def add_histogram(self, tag, values, step):
        self.calls["histogram"].append((tag, values, step))

    def flush(self):
        pass

    def close(self):
        pass

    def tags(self, kind):
        return {tag for tag, _, _ in self.calls[kind]}


@pytest.fixture
def recording(monkeypatch):
    """Every writer the run opens is a :class:`RecordingWriter` (collected in the returned list)."""
    writers = []

    def fake(log_dir):
        writers.append(RecordingWriter(log_dir))
        return writers[-1]

    monkeypatch.setattr(tensorboard, "open_writer", fake)
    monkeypatch.setattr(loop, "open_writer", fake)
    return writers


def test_search_logs_scalars_first_validation_slice_and_alpha_histograms(recording, tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, *CELL_SEARCH, "--out", str(tmp_path / "run"),
                           "--tensorboard", str(tmp_path / "tb"), "--json")
    assert code == 0, err
    writer = recording[-1]
    assert writer.log_dir == str(tmp_path / "tb")
    assert {"train_loss", "val_psnr", "val_ssim"} <= writer.tags("scalar")
    assert writer.tags("image") == {"recon/target", "recon/zero_filled", "recon/reconstruction"}
    assert writer.tags("histogram") == {"alpha/logits", "alpha/softmax"}
    assert sorted({step for _, _, step in writer.calls["histogram"]}) == [1, 2]  # one per epoch
    softmax = next(v for tag, v, step in writer.calls["histogram"] if tag == "alpha/softmax" and step == 2)
    assert softmax.numel() == 9 * 8 and torch.allclose(softmax.view(9, 8).sum(-1), torch.ones(9))


def test_train_logs_scalars_and_images_but_no_alphas(recording, tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, *TRAIN, "--out", str(tmp_path / "run"), "--tensorboard",
                           str(tmp_path / "tb"), "--json")
    assert code == 0, err
    writer = recording[-1]
    assert {"train_loss", "val_psnr", "lr"} <= writer.tags("scalar") and len(writer.tags("image")) == 3
    assert not writer.calls["histogram"]
    assert "tensorboard: " in (tmp_path / "run" / "config.yaml").read_text()


def test_federated_round_logs_nested_scores_and_alphas():
    writer = RecordingWriter()
    record = {"round": 3, "mean": {"global-psnr": 21.5}, "clients": {"a": {"global-psnr": 20.0}},
              "bytes_up_total": 10, "alpha": [[0.0] * 8] * 9, "genotype": {"space": "cell"}}
    _tensorboard_round(writer, record)
    assert {("mean/global-psnr", 21.5, 3), ("clients/a/global-psnr", 20.0, 3), ("bytes_up_total", 10, 3)} <= set(
        writer.calls["scalar"])
    assert writer.tags("histogram") == {"alpha/logits", "alpha/softmax"}


@pytest.mark.parametrize("command", [
    [*TRAIN, "--out", "{tmp}/t"],
    [*CELL_SEARCH, "--out", "{tmp}/s"],
    ["fed", "train", "--algorithm", "fedavg", "--rounds", "1", "--size", "16", "--out", "{tmp}/f"],
    ["fed", "search", "--rounds", "1", "--size", "16", "--out", "{tmp}/g"],
])
def test_missing_tensorboard_is_one_line_naming_the_flag_and_the_extra(command, tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--tensorboard", str(tmp_path / "tb"))
    line = one_error_line(err)
    assert code == 2 and "--tensorboard" in line and "pip install 'automri[tensorboard]'" in line
    assert not (tmp_path / "tb").exists() and not any(tmp_path.glob("[tsfg]"))  # failed before any work


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard is not installed in this environment "
                    "(pip install 'automri[tensorboard]'); the recording-writer tests above cover what is logged")
def test_real_event_files_are_written(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, *TRAIN, "--out", str(tmp_path / "run"), "--tensorboard",
                           str(tmp_path / "tb"), "--json")
    assert code == 0, err
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
