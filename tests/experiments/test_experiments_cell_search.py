"""``automri search --space cell`` end to end on tiny phantom data, resume, and flag errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from automri.cli import app
from automri.errors import AutoMRIError
from automri.nas.factory import build_network
from automri.nas.genotype import load_genotype

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = [
    "search", "--space", "cell", "--dataset", "phantom", "--size", "16", "--steps", "2", "--batch-size", "2",
    "--hidden", "4", "--cells", "1", "--iterations", "1", "--device", "cpu", "--seed", "3",
    "--mask", "random:rate=0.4,center=0.1",
]


def invoke(*args: str):
    result = CliRunner().invoke(app, [*TINY, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, single_thread):
    """2 search epochs in one go, then 1 retraining epoch of the derived net."""
    out = tmp_path_factory.mktemp("search") / "straight"
    result = invoke("--epochs", "2", "--retrain-epochs", "1", "--out", str(out), "--json")
    return out, json.loads(result.stdout)


def test_search_writes_genotype_alphas_summary_and_figures(straight_run):
    out, summary = straight_run
    genotype = load_genotype(out / "genotype.json", space="cell")
    assert genotype == summary["genotype"]
    assert (genotype["hidden"], genotype["cells"], genotype["iterations"]) == (4, 1, 1)
    assert [len(node) for node in genotype["nodes"]] == [2, 2, 2]
    load_genotype(out / "genotype-best.json", space="cell")
    alphas = read_jsonl(out / "alpha.jsonl")
    assert [r["epoch"] for r in alphas] == [1, 2]
    weights = torch.tensor(alphas[-1]["weights"])
    assert weights.shape == (9, 8)
    torch.testing.assert_close(weights.sum(-1), torch.ones(9))
    assert alphas[-1]["genotype"] == genotype
    separation = alphas[-1]["separation"]  # search diagnostics per edge: entropy and margin
    assert len(separation["entropy"]) == len(separation["margin"]) == 9
    assert 0.99 < separation["mean_entropy"] <= 1.0 and not separation["separated"]  # 2 tiny epochs: ~uniform
    assert "did not separate its ops" in summary["separation_note"]
    assert summary["params"] == sum(p.numel() for p in build_network(genotype).parameters())
    assert summary["macs"] > 0 and 0 < summary["val"]["ssim"] <= 1
    assert summary["retrain"]["epochs"] == 1 and summary["retrain"]["test"]["psnr"] > 0
    assert json.loads((out / "summary.json").read_text())["genotype"] == genotype
    assert (out / "figures" / "alpha.png").stat().st_size > 0
    assert (out / "figures" / "genotype.png").stat().st_size > 0
    assert (out / "retrain" / "test.json").is_file()
    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2] and "val_psnr" in metrics[-1]


def test_resume_continues_to_the_same_alphas(straight_run, tmp_path):
    straight, _ = straight_run
    out = tmp_path / "resumed"
    invoke("--epochs", "1", "--out", str(out), "--json")
    assert len(read_jsonl(out / "alpha.jsonl")) == 1
    summary = json.loads(invoke("--epochs", "2", "--out", str(out), "--resume", "--json").stdout)
    assert summary["search"]["resumed_from"]["epoch"] == 1
    resumed, uninterrupted = read_jsonl(out / "alpha.jsonl"), read_jsonl(straight / "alpha.jsonl")
    assert [r["epoch"] for r in resumed] == [1, 2]
    assert resumed[-1]["alpha"] == uninterrupted[-1]["alpha"]


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    result = CliRunner().invoke(app, [*TINY, "--epochs", "1", "--out", str(tmp_path / "never"), "--resume"])
    assert isinstance(result.exception, AutoMRIError) and "--resume" in str(result.exception)


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--space", "rir", "--strategy", "milenas"], "--strategy"),
        (["--strategy", "proxyless"], "--strategy"),
        (["--space", "unet"], "--space"),
        (["--width", "8"], "--width"),
        (["--strategy", "darts1", "--beta", "0.5"], "--beta"),
        (["--train-portion", "1.5"], "--train-portion"),
        (["--folds", "3"], "--folds"),
        (["--augment", "flip=2"], "--augment"),
    ],
)
def test_bad_flags_raise_one_error_naming_the_flag(tmp_path, args, flag):
    result = CliRunner().invoke(app, [*TINY, "--epochs", "1", "--out", str(tmp_path / "x"), *args])
    assert isinstance(result.exception, AutoMRIError)
    assert flag in str(result.exception)


def test_rir_space_dispatches_to_run_rir_search_with_its_flags(tmp_path, monkeypatch):
    import automri.experiments.rir_search as rir_search

    seen = {}

    def fake_run_rir_search(options):
        seen["options"] = options
        return {"space": "rir", "strategy": options.strategy, "display": "[O1]", "params": 10}

    monkeypatch.setattr(rir_search, "run_rir_search", fake_run_rir_search)
    args = ["search", "--space", "rir", "--dataset", "phantom", "--width", "8", "--folds", "3",
            "--warmup-epochs", "2", "--epochs", "4", "--phase", "0", "--augment", "flip=0.5", "--out", str(tmp_path / "rir"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    options = seen["options"]
    assert (options.space, options.strategy, options.folds, options.warmup_epochs, options.epochs) == ("rir", "proxyless", 3, 2, 4)
    assert options.space_options == {"width": 8} and options.strategy_options == {} and options.phase == 0.0
    assert options.augment == "flip=0.5"
    assert json.loads(result.stdout)["display"] == "[O1]"


def test_augment_reaches_the_slices_that_train_weights_and_alphas_only():
    from automri.data.augment import STANDARD
    from automri.experiments.cell_search import search_datasets
    from automri.nas.options import SearchOptions

    data = search_datasets(SearchOptions(dataset="phantom", size=16, augment=STANDARD))
    train = data["train"]
    assert train.augment is not None and data["weights"].dataset is train and data["arch"].dataset is train
    assert data["val"].augment is None and data["test"].augment is None
