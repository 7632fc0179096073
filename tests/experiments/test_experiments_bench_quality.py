"""``automri bench quality --experiment baselines`` at the test scale, and the verdict it reports."""

import json

from typer.testing import CliRunner

from automri.cli import app
from automri.experiments.baselines import beats_classical
from automri.experiments.results import results_page
from automri.experiments.scales import get_scale

runner = CliRunner()


def _row(model: str, psnr: float, ssim: float) -> dict:
    return {"model": model, "volume": {"psnr": {"mean": psnr}, "ssim": {"mean": ssim}}}


def test_learned_model_must_beat_every_classical_one_in_both_metrics() -> None:
    rows = [_row("zero_filled", 25.0, 0.70), _row("cs_tv", 28.0, 0.80), _row("unet", 30.0, 0.85),
            _row("modl", 29.0, 0.79), _row("rdn", 27.0, 0.90)]
    assert beats_classical(rows) == {"unet": True, "modl": False, "rdn": False}


def test_size_flag_replaces_the_scale_size() -> None:
    assert get_scale("emrnas", "paper").size == 256 and get_scale("emrnas", "paper", size=64).size == 64
    assert get_scale("fedautomri", "paper").search_rounds == 50 and get_scale("fedautomri", "paper").train_rounds == 150


def test_baselines_experiment_writes_tables_doc_and_resumes(tmp_path) -> None:
    out, doc = tmp_path / "run", tmp_path / "docs" / "baselines.md"
    args = ["bench", "quality", "--experiment", "baselines", "--dataset", "phantom", "--scale", "test",
            "--models", "zero_filled,unet", "--device", "cpu", "--out", str(out), "--json"]
    result = runner.invoke(app, [*args, "--doc", str(doc)])
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["results"]
    assert set(results["settings"]) == {"random1d-4x", "random-15pct"}
    for setting in results["settings"].values():
        rows = {r["model"]: r for r in setting["rows"]}
        assert rows["zero_filled"]["params"] == 0 and rows["unet"]["params"] > 0 and rows["unet"]["macs"] > 0
        assert set(setting["beats_classical"]) == {"unet"}
    text = (out / "report.md").read_text()
    assert "## 4x random 1D, 8% centre" in text and "## 15% random Cartesian" in text
    assert "| Zero-filled |" in text and "| U-Net |" in text and "Param/M" in text and "MACs/G" in text
    assert "Images are real-valued" in text and "Training slices are augmented (`flip=0.5" in text
    config = (out / "random1d-4x" / "unet" / "config.yaml").read_text()
    assert "phase: 0.0" in config and "augment: flip=0.5,rotate=180,scale=0.15,translate=0.1" in config
    assert (out / "figures" / "reconstructions-random1d-4x.png").is_file()
    assert "figures/baselines/figures-reconstructions-random1d-4x.png" in doc.read_text()
    exported = runner.invoke(app, ["report", str(out), "--doc", str(tmp_path / "again" / "baselines.md")])
    assert exported.exit_code == 0, exported.output  # automri report rebuilds and exports the same page
    assert (tmp_path / "again" / "figures" / "baselines" / "figures-reconstructions-random1d-4x.png").is_file()
    page = results_page({"baselines": out})
    assert "every learned model at least 2.0 dB above zero-filled" in page and "| U-Net |" in page
    # the test split of the zero-filled run is scored from the same slices as the learned model's
    zf = json.loads((out / "random1d-4x" / "zero_filled" / "test" / "metrics.json").read_text())
    unet = json.loads((out / "random1d-4x" / "unet" / "test" / "metrics.json").read_text())
    assert [s["slice"] for s in zf["slices"]] == [s["slice"] for s in unet["slices"]]

    checkpoint = out / "random1d-4x" / "unet" / "checkpoint-last.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert checkpoint.stat().st_mtime_ns == stamp  # finished sub-runs are reused, not retrained
    assert json.loads(again.output)["results"]["settings"] == results["settings"]
