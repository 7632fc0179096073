"""Speed benchmark (``automri bench speed``): rates, FLOP accounting, profile breakdown, report files, CLI."""

import json
import runpy
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from automri.cli import app
from automri.errors import AutoMRIError
from automri.experiments import speed
from automri.experiments.speed import build_benchmark_model, flower_round_overhead, run_speed_benchmark
from automri.experiments.timing import (
    BREAKDOWN_CATEGORIES,
    classify_op,
    inference_ms,
    matmul_rate_gflops,
    operator_breakdown,
    train_step_rate,
    training_gflops,
)
from automri.models.registry import build_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One benchmark run at 32x32 on a trainable net (DC-CNN, default width) and one without weights."""
    folder = tmp_path_factory.mktemp("speed")
    threads_before = torch.get_num_threads()
    result = run_speed_benchmark(
        ["dccnn", "zero_filled"], size=32, batch=2, repeats=1, warmup=1, device="cpu", threads=1, memory=False,
        flower=False, matmul_size=128, out_md=folder / "speed.md", out_json=folder / "speed.json",
    )
    assert torch.get_num_threads() == threads_before  # --threads 1 applies during the run only
    return result, folder


def test_matmul_rate_is_positive():
    assert matmul_rate_gflops(n=64, repeats=2, warmup=1) > 0


def test_training_flops_are_three_forward_passes():
    # 1 GMAC per slice = 2 GFLOP forward, x3 with the backward, at 2 slices/s
    assert training_gflops(10**9, 2.0) == pytest.approx(12.0)


def test_train_rate_and_latency_are_positive_and_leave_the_model_unchanged():
    model = build_model("dccnn", nf=4, n_cascades=1, n_convs=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert train_step_rate(model, batch=2, size=16, repeats=1, warmup=1) > 0
    assert train_step_rate(model, batch=1, size=16, repeats=1, warmup=0, channels_last=True) > 0
    assert inference_ms(model, size=16, repeats=1, warmup=0) > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_train_rate_needs_trainable_weights():
    with pytest.raises(AutoMRIError, match="no trainable parameters"):
        train_step_rate(build_model("zero_filled"), batch=1, size=16, repeats=1)


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("aten::mkldnn_convolution", "conv"),
        ("aten::convolution_backward", "conv"),
        ("aten::slow_conv_transpose2d", "conv"),
        ("aten::_fft_c2c", "fft"),
        ("aten::mm", "matmul"),
        ("aten::add_", "elementwise"),
        ("aten::native_batch_norm", "elementwise"),
        ("autograd::engine::evaluate_function: ConvolutionBackward0", "overhead"),
        ("Optimizer.step#Adam.step", "overhead"),
    ],
)
def test_classify_op(name, category):
    assert classify_op(name) == category
    assert classify_op(name, in_optimizer=True) == "optimizer"


def test_breakdown_attributes_conv_fft_and_data_consistency():
    model = build_model("dccnn", nf=4, n_cascades=2, n_convs=2)
    result = operator_breakdown(model, batch=1, size=16)
    fractions = result["fractions"]
    assert set(fractions) == set(BREAKDOWN_CATEGORIES)
    assert sum(fractions.values()) == pytest.approx(1.0)
    assert fractions["conv"] > 0 and fractions["fft"] > 0 and fractions["optimizer"] > 0
    assert 0 < result["dc_forward_fraction"] < 1  # the hard DC layers run FFTs inside the forward
    assert result["step_ms"] > 0 and result["top_ops"]


def test_searched_nets_and_genotype_files_build(tmp_path):
    from automri.nas.cell.genotype import FEDNAS_V1
    from automri.nas.genotype import save_genotype

    assert type(build_benchmark_model("fedautomri_v1")).__name__ == "CellNet"
    cardiac = build_benchmark_model("emrnas_cardiac")
    assert type(cardiac).__name__ == "RIRNet" and cardiac.ops[:3] == ["O5", "O8", "O8"]
    path = save_genotype(tmp_path / "searched.json", FEDNAS_V1)
    assert type(build_benchmark_model(str(path))).__name__ == "CellNet"
    with pytest.raises(AutoMRIError, match="nosuch"):
        build_benchmark_model("nosuch")


def test_run_numbers_are_positive_and_fraction_is_achieved_over_matmul(tiny_run):
    result, _ = tiny_run
    assert result["matmul"]["gflops"] == pytest.approx((result["matmul"]["before"] + result["matmul"]["after"]) / 2)
    dccnn, zero_filled = result["models"]
    assert dccnn["params"] > 0 and dccnn["macs"] > 0 and dccnn["inference_ms"] > 0
    assert dccnn["train_slices_per_s"] > 0
    assert dccnn["train_gflops"] == pytest.approx(training_gflops(dccnn["macs"], dccnn["train_slices_per_s"]))
    assert dccnn["fraction_of_matmul"] == pytest.approx(dccnn["train_gflops"] / result["matmul"]["gflops"])
    assert dccnn["breakdown"]["fractions"]["conv"] > 0
    assert zero_filled["params"] == 0 and zero_filled["macs"] > 0  # its inverse FFT
    assert zero_filled["train_slices_per_s"] is None and zero_filled["fraction_of_matmul"] is None
    assert result["flower"]["measured"] is False
    assert result["machine"]["torch_threads"] == 1


def test_report_has_command_machine_and_table_and_json_parses(tiny_run):
    result, folder = tiny_run
    text = (folder / "speed.md").read_text()
    assert f"Command: `{result['command']}`" in text
    assert result["command"].startswith("automri bench speed --models dccnn,zero_filled --size 32 --batch-size 2")
    assert "- CPU: " in text and f"torch {torch.__version__}" in text and "torch.get_num_threads() = 1" in text
    assert f"- Date: {result['machine']['date']}" in text
    assert "| dccnn |" in text and "Where the training time goes" in text
    assert "Flower round overhead" in text and "Not measured: skipped (--no-flower)" in text
    assert json.loads((folder / "speed.json").read_text())["models"][0]["model"] == "dccnn"
    assert sorted(p.name for p in folder.iterdir()) == ["speed.json", "speed.md"]  # no temporary files left


def test_bad_model_name_fails_before_touching_the_report(tmp_path):
    report = tmp_path / "speed.md"
    report.write_text("previous report\n")
    with pytest.raises(AutoMRIError, match="nosuch"):
        run_speed_benchmark(["dccnn", "nosuch"], size=16, repeats=1, out_md=report)
    assert report.read_text() == "previous report\n"
    with pytest.raises(AutoMRIError, match="--size"):
        run_speed_benchmark(["dccnn"], size=4, out_md=report)


def test_peak_memory_is_measured_per_model_when_asked(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(speed, "peak_memory", lambda model, inputs: calls.append(inputs[0].shape) or 12.0)
    result = run_speed_benchmark(["zero_filled"], size=16, repeats=1, matmul_size=32, flower=False,
                                 out_md=tmp_path / "speed.md")
    assert calls == [torch.Size([1, 16, 16])] and result["models"][0]["peak_mem_mb"] == 12.0
    assert "| zero_filled | 0 | 0.000 | n/a |" in (tmp_path / "speed.md").read_text()


def test_flower_overhead_is_marked_measured(monkeypatch):
    monkeypatch.setattr(speed, "measure_round_overhead", lambda: {"round_overhead_s": 0.25, "rounds": 3})
    assert flower_round_overhead() == {"measured": True, "round_overhead_s": 0.25, "rounds": 3}


def test_cli_help_and_tiny_json_run(tmp_path):
    runner = CliRunner()
    help_text = runner.invoke(app, ["bench", "speed", "--help"]).output
    assert "--models" in help_text and "--channels-last" in help_text and "Example: automri bench speed" in help_text
    out = tmp_path / "docs" / "speed.md"
    result = runner.invoke(app, ["bench", "speed", "--models", "zero_filled", "--size", "16", "--repeats", "1",
                                 "--no-memory", "--no-flower", "--matmul-size", "32", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["models"][0]["model"] == "zero_filled" and data["matmul"]["gflops"] > 0
    assert out.is_file() and json.loads(out.with_suffix(".json").read_text())["command"] == data["command"]
    bad = runner.invoke(app, ["bench", "speed", "--models", "nosuch", "--out", str(out)])
    assert isinstance(bad.exception, AutoMRIError) and "nosuch" in str(bad.exception)


def test_script_is_the_cli_command(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["benchmarks/speed.py", "--size", "4"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / "benchmarks" / "speed.py"), run_name="__main__")
    assert exit_info.value.code == 2
    assert "error: --size: expected an integer >= 8, got 4" in capsys.readouterr().err
