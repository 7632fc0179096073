"""``automri evaluate`` and ``automri report`` on every kind of run directory: train, search (cell
with and without retraining, rir), federated and experiment runs, plus a folder that is no run."""

from __future__ import annotations

import json
import sys

import pytest
from cli_helpers import one_error_line, run_cli
from federated.fedtiny import TINY_SPEC, UNET  # tests/federated's tiny federation

from automri.cli import main
from automri.experiments.run_kinds import run_kind
from automri.federated.options import build_config
from automri.federated.spec import spec_from_dict
from automri.federated.state import save_server_checkpoint
from automri.federated.task import build_client_model, weights_of
from automri.train.runs import RunDir

pytestmark = pytest.mark.usefixtures("single_thread")

SEARCH = ["search", "--dataset", "phantom", "--size", "16", "--steps", "1", "--batch-size", "2", "--device", "cpu",
          "--mask", "random:rate=0.4,center=0.1", "--epochs", "1", "--seed", "3"]
CELL = ["--space", "cell", "--hidden", "4", "--cells", "1", "--iterations", "1"]
RIR = ["--space", "rir", "--width", "4", "--warmup-epochs", "0", "--folds", "1"]
EVAL = ["--max-slices", "2", "--panels", "1", "--json"]


def cli(monkeypatch, capsys, *args: str) -> str:
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs of every kind, made once: ``{kind: path}``."""
    root = tmp_path_factory.mktemp("kinds")
    mp = pytest.MonkeyPatch()
    paths = {"cell": root / "cell", "cell-untrained": root / "cell-untrained", "rir": root / "rir",
             "train": root / "exp" / "setting" / "unet"}
    _main(mp, *SEARCH, *CELL, "--retrain-epochs", "1", "--out", str(paths["cell"]), "--json")
    _main(mp, *SEARCH, *CELL, "--out", str(paths["cell-untrained"]), "--json")
    _main(mp, *SEARCH, *RIR, "--retrain-epochs", "1", "--out", str(paths["rir"]), "--json")
    _main(mp, "train", "--model", "unet", "--dataset", "phantom", "--size", "32", "--epochs", "1", "--steps", "1",
          "--batch-size", "2", "--params", "20000", "--val-slices", "2", "--device", "cpu", "--out", str(paths["train"]),
          "--json")
    (root / "exp" / "summary.json").write_text(json.dumps({"experiment": "baselines"}))
    paths["experiment"] = root / "exp"
    paths["federated"] = _federated_run(root / "fed")
    mp.undo()
    return paths


def _main(monkeypatch, *args: str) -> None:
    """``automri ARGS`` through the real entry point (module-scoped: no capsys)."""
    monkeypatch.setattr(sys, "argv", ["automri", *args])
    try:
        main()
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), args


def _federated_run(out):
    """A federated run directory as ``automri fed train`` leaves it after one round (config.yaml and
    the server's checkpoint-last.pt), written without starting Flower."""
    config = build_config("fedavg", spec_from_dict(TINY_SPEC, "tiny"), out, rounds=1, model="unet",
                          model_options=dict(UNET), batch_size=2)
    run = RunDir(out)
    run.write_config(config.to_dict())
    model = build_client_model(config)
    save_server_checkpoint(run, {"round": 1, "arrays": weights_of(model), "strategy": {}, "history": [],
                                 "config": config.to_dict()})
    run.write_json("summary.json", {"algorithm": "fedavg", "rounds": 1, "rounds_done": 1,
                                    "mean": {"global-psnr": 20.0}})
    return out


def test_run_kinds_are_told_apart(runs):
    expected = {"cell": "search", "cell-untrained": "search", "rir": "search", "train": "train",
                "experiment": "experiment", "federated": "federated"}
    assert {name: run_kind(runs[name]) for name in expected} == expected
    assert run_kind(runs["cell"] / "retrain") == "search"


def test_evaluate_a_cell_search_scores_its_retrained_network(runs, monkeypatch, capsys):
    result = json.loads(cli(monkeypatch, capsys, "evaluate", str(runs["cell"]), *EVAL))
    assert result["kind"] == "search" and "retrained" in result["model"] and "retrain" in result["model"]
    assert result["dataset"] == "phantom" and len(result["slices"]) == 2 and result["psnr"] > 0
    assert (runs["cell"] / "eval-test" / "metrics.json").is_file()
    untrained = json.loads(cli(monkeypatch, capsys, "evaluate", str(runs["cell-untrained"]), *EVAL))
    assert "untrained" in untrained["model"] and "genotype.json" in untrained["model"]


def test_evaluate_a_rir_search_and_report_it(runs, monkeypatch, capsys):
    result = json.loads(cli(monkeypatch, capsys, "evaluate", str(runs["rir"]), *EVAL))
    assert result["kind"] == "search" and "rir" in result["model"] and "fold-0" in result["model"]
    reports = json.loads(cli(monkeypatch, capsys, "report", str(runs["rir"]), str(runs["cell"]), "--json"))
    assert reports == [str(runs["rir"] / "report.md"), str(runs["cell"] / "report.md")]
    text = (runs["cell"] / "report.md").read_text()
    assert "# search run" in text and "| genotype |" in text and "figures/alpha.png" in text


def test_evaluate_a_federated_run_scores_the_global_model_on_each_site(runs, monkeypatch, capsys):
    result = json.loads(cli(monkeypatch, capsys, "evaluate", str(runs["federated"]), *EVAL))
    assert result["kind"] == "federated" and "global fedavg network after round 1" in result["model"]
    assert set(result["clients"]) == {"a", "b", "c"}
    for name, scores in result["clients"].items():
        assert len(scores["slices"]) <= 2 and scores["psnr"] > 0
        assert (runs["federated"] / "eval-test" / name / "metrics.json").is_file()
    text = cli(monkeypatch, capsys, "evaluate", str(runs["federated"]), "--max-slices", "1", "--panels", "0")
    assert "global fedavg" in text and "a: per volume" in text
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", str(runs["federated"]), "--dataset", "phantom")
    assert code == 2 and "not used with a federated run" in one_error_line(err)
    cli(monkeypatch, capsys, "report", str(runs["federated"]))
    assert "# federated run" in (runs["federated"] / "report.md").read_text()


def test_evaluate_an_experiment_scores_its_sub_runs_and_a_train_run_still_works(runs, monkeypatch, capsys):
    result = json.loads(cli(monkeypatch, capsys, "evaluate", str(runs["experiment"]), *EVAL))
    assert result["kind"] == "experiment" and list(result["runs"]) == ["setting/unet"]
    assert result["runs"]["setting/unet"]["kind"] == "train"
    train = json.loads(cli(monkeypatch, capsys, "evaluate", str(runs["train"]), *EVAL))
    assert train["kind"] == "train" and train["model"].startswith("unet")
    cli(monkeypatch, capsys, "report", str(runs["train"]))
    assert "# train run" in (runs["train"] / "report.md").read_text()


def test_a_folder_that_is_no_run_is_one_clear_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    for command in ("evaluate", "report"):
        code, _, err = run_cli(monkeypatch, capsys, command, str(tmp_path))
        assert code == 2 and "not a run directory" in one_error_line(err)
