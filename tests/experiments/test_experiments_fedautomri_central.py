"""Smoke test of ``benchmarks/fedautomri_search.py`` (the FedAutoMRI search evidence page) and of the
fresh-process memory helper it shares with ``benchmarks/memory_rir_search.py``."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from torch import nn

from automri.eval.memory import available_memory_mib, in_fresh_process
from automri.experiments import fedautomri_central
from automri.models.registry import build_model, count_params
from automri.nas.cell.genotype import FEDNAS_V1
from automri.nas.factory import build_network
from automri.nas.genotype import load_genotype

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def script():
    """The experiment behind ``benchmarks/fedautomri_search.py``."""
    return fedautomri_central


@pytest.fixture(scope="module")
def tiny_run(script, single_thread, tmp_path_factory: pytest.TempPathFactory):
    """One tiny run of the whole script without the memory cases: (argv, results, run folder, doc)."""
    root = tmp_path_factory.mktemp("fedautomri")
    argv = ["--dataset", "colin27", "--size", "16", "--epochs", "1", "--steps", "1", "--retrain-epochs", "1",
            "--profile-size", "16", "--latency-repeats", "1", "--no-memory", "--threads", "1", "--seed", "3",
            "--out", str(root / "run"), "--doc", str(root / "docs" / "fedautomri-search.md")]
    return argv, script.main(argv), root / "run", root / "docs" / "fedautomri-search.md"


def test_page_reports_the_run(tiny_run) -> None:
    argv, results, run, doc = tiny_run
    text = doc.read_text(encoding="utf-8")
    assert "python benchmarks/fedautomri_search.py " + " ".join(argv) in text
    genotype = load_genotype(run / "search" / "genotype.json")
    assert json.dumps(genotype["nodes"]) in text
    assert genotype == results["search"]["genotype"]
    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):  # figures copied next to the page
        copied = doc.parent / target
        original = run / "search" / "figures" / copied.name.removeprefix("fedautomri-search-")
        assert copied.read_bytes() == original.read_bytes()
    assert "found genotype, retrained" in text and "MoDL (K = 5)" in text
    for paper_number in ("0.016", "4.92", "0.26", "85.65"):
        assert paper_number in text
    assert "Peak memory" not in text  # --no-memory
    saved = json.loads((run / "results.json").read_text())
    assert saved["search"]["genotype"] == genotype and saved["run"]["command"].endswith(" ".join(argv))


def test_both_models_are_scored_on_the_test_split(tiny_run) -> None:
    _, results, run, _ = tiny_run
    quality, slices = results["quality"], results["search"]["slices"]
    for name in ("found", "modl"):
        assert quality[name]["slice"]["psnr"]["n"] == slices["test"] > 1
        assert quality[name]["volume"]["psnr"]["n"] == 1  # colin27 is one volume
        assert quality[name]["slice"]["psnr"]["std"] > 0
    assert quality["found"]["params"] == count_params(build_network(results["search"]["genotype"]))
    assert results["modl"]["options"]["iterations"] == 5
    modl = yaml.safe_load((run / "modl" / "config.yaml").read_text())
    search = yaml.safe_load((run / "search" / "config.yaml").read_text())
    assert {k: modl["data"][k] for k in ("dataset", "size", "mask")} == {k: search[k] for k in ("dataset", "size", "mask")}
    assert modl["seed"] == search["seed"] == 3 and modl["train"]["batch_size"] == search["batch_size"]
    assert quality["found"]["slice"]["psnr"]["mean"] != quality["modl"]["slice"]["psnr"]["mean"]


def _conv_weights(model: nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))


def test_cost_counts_convolutions_ffts_and_cg(script) -> None:
    size = 16
    row = script.cost(build_network(FEDNAS_V1), size, repeats=1)
    assert row["params"] == 48_691  # methods.md 1.5: FedNAS_V1 has about 48.7k parameters
    # A stride-1 "same" convolution does (weights) MACs per output pixel; K = 5 shared-weight passes.
    assert row["conv_macs"] == 5 * size * size * _conv_weights(build_network(FEDNAS_V1))
    assert row["macs"] == row["conv_macs"] + row["fft_macs"] and row["fft_macs"] > 0
    assert row["macs_cg"] > row["macs"]  # CG applies A^H A (two FFTs) per iteration
    assert count_params(build_model("modl", **script.AUTHORS_MODL)) == 260_866 + 1  # + lambda; paper 0.26M


def test_bad_flags_raise_one_clear_error(script) -> None:
    from automri.errors import AutoMRIError

    with pytest.raises(AutoMRIError, match="--memory-batch 0"):
        script.parse_args(["--memory-batch", "0"])
    assert script.parse_args(["--retrain-epochs", "7"]).modl_epochs == 7


def test_search_step_needs_more_memory_than_training_step(script) -> None:
    cap = available_memory_mib()
    search = in_fresh_process(script.memory_case, "search", 32, 1, FEDNAS_V1, "cpu", max_memory_mib=cap)
    derived = in_fresh_process(script.memory_case, "derived", 32, 1, FEDNAS_V1, "cpu", max_memory_mib=cap)
    assert search["params"] > derived["params"] == 48_691
    assert search["peak_rss_mib"] >= search["rss_before_mib"] > 0
    assert search["step_mib"] > 2 * derived["step_mib"] > 0


def test_case_too_big_for_the_cap_fails_alone(script) -> None:
    result = in_fresh_process(script.memory_case, "search", 64, 1, FEDNAS_V1, "cpu", max_memory_mib=300)
    assert set(result) == {"error"} and "allocate" in result["error"]
