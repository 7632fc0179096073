"""The EMR-NAS and FedAutoMRI experiments end to end at the test scale (the demo's two big stages).

The full ``automri demo`` (both experiments, seven Flower simulations) takes minutes even at the
test scale, so each stage is tested here on its own; ``test_pipelines_demo_report`` covers the
demo command itself (overview stage) and ``automri report``.
"""

import dataclasses
import json

import pytest
import yaml

from automri.experiments.emrnas import run_emrnas_experiment, search_options
from automri.experiments.fedautomri import federation, run_fedautomri_experiment
from automri.experiments.rebuild_report import rebuild_report
from automri.experiments.results import results_page
from automri.experiments.rir_search import fold_datasets
from automri.experiments.scales import get_scale
from automri.nas.rir.network import RIRNet


def _strip_dates(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(("Started", "Machine")))


def test_emrnas_experiment_table2_table3_and_rebuild(tmp_path) -> None:
    out = tmp_path / "emrnas"
    results = run_emrnas_experiment(out, "phantom", "test", baselines=("dccnn",), ablations=("D",), device="cpu")
    ours, per_fold, zero_filled, dccnn = results["rows"]
    assert ours["model"] == "ours" and zero_filled["model"] == "zero_filled" and dccnn["model"] == "dccnn"
    assert per_fold["model"] == "ours_per_fold" and len(per_fold["folds"]) == 2  # the row free of test exposure
    assert (out / "search" / "per-fold" / "fold-1" / "retrain" / "test.json").is_file()
    assert zero_filled["params"] == 0 and len(zero_filled["folds"]) == 2  # tested, not trained
    assert not (out / "search" / "baselines" / "zero_filled" / "fold-0" / "checkpoint-last.pt").exists()
    assert ours["params"] == sum(p.numel() for p in RIRNet.from_genotype(results["genotype"]).parameters())
    assert abs(dccnn["params"] - ours["params"]) / ours["params"] < 0.5  # widened to the searched size
    assert len(ours["folds"]) == 2 and ours["macs"] > 0
    text = (out / "report.md").read_text()
    assert "| Model | PSNR phantom | SSIM phantom | Param/M | MACs/G |" in text
    assert "| DCCNN |" in text and "| Ours (EMR-NAS, ensemble) |" in text and "| Zero-filled |" in text and "±" in text
    assert "| Ours, per-fold search (no test exposure) |" in text
    assert "chosen partly by searches that trained on fold k's test slices" in text
    assert "S_train:S_val slices per fold" in text and "The search of fold 0" in text
    assert "## Table 3: ablations" in text and "| D | random architecture |" in text
    assert "Images are real-valued (as EMR-NAS's cardiac data" in text
    fold = fold_datasets(search_options("phantom", "random:rate=0.5", get_scale("emrnas", "test"), tmp_path, 0, "cpu",
                                        False))[0]
    assert all(float(fold[split][0].target.imag.abs().max()) == 0.0 for split in ("train", "val", "test"))
    # weights train on augmented slices; alphas and scores see the slices as they are
    assert fold["train"].augment is not None and fold["val"].augment is None and fold["test"].augment is None
    assert "Slices that train weights (search, retraining, baselines) are augmented (`flip=0.5," in text
    # the baselines are their recipes' architectures at the searched size
    assert dccnn["kwargs"]["n_cascades"] == 5 and dccnn["kwargs"]["n_convs"] == 5
    assert f"DCCNN `nf={dccnn['kwargs']['nf']}, n_cascades=5, n_convs=5, dc=hard`" in text
    for figure in ("genotype.png", "alpha-fold-0.png", "alpha-fold-1.png", "training-loss.png", "reconstructions.png"):
        assert (out / "figures" / figure).is_file()
    page = results_page({"emrnas": out})  # the paired tests read every fold's per-slice scores
    assert "the searched net beats U-Net, DC-CNN, RDN and CDDN-TDC" in page and "over 2 fold comparisons" in page
    assert "Without test-data exposure" in page and "A minus D (random architecture)" in page
    (out / "report.md").unlink()
    assert _strip_dates(rebuild_report(out).read_text()) == _strip_dates(text)


def test_federation_from_one_dataset_gives_three_masks() -> None:
    spec = federation(("phantom",), 32, 4)
    assert len(spec.clients) == 3 and len({c.mask for c in spec.clients}) == 3
    assert all(c.max_slices == 4 and c.dataset == "phantom" for c in spec.clients) and spec.size == 32


@pytest.mark.slow
def test_fedautomri_experiment_search_derive_train_report(tmp_path) -> None:
    out = tmp_path / "fed"
    scale = dataclasses.replace(get_scale("fedautomri", "test"), train_seeds=2, search_size=12)
    results = run_fedautomri_experiment(out, ("default",), scale, comparisons=("fedavg",), ablation=False)
    genotype = json.loads((out / "search" / "genotype.json").read_text())
    assert results["genotype"] == genotype and genotype["space"] == "cell"
    row = results["runs"]["fedautomri"]
    assert row["role"] == "personal" and row["params"] > 0 and row["macs"] > 0
    assert set(row["clients"]) == set(results["clients"]) and len(results["clients"]) == 3
    # every Table 1 run is repeated over the scale's seeds; the search ran once, on the proxy size
    assert [r["run"] for r in row["seeds"]] == ["fedautomri", "fedautomri-seed1"]
    assert [r["seed"] for r in results["runs"]["fedavg"]["seeds"]] == [0, 1]
    assert row["seeds"][0]["clients"] != row["seeds"][1]["clients"]  # another seed, other numbers
    assert yaml.safe_load((out / "search" / "config.yaml").read_text())["spec"]["size"] == 12
    assert yaml.safe_load((out / "fedautomri" / "config.yaml").read_text())["spec"]["size"] == 16
    assert set(results["zero_filled"]) == set(results["clients"])
    text = (out / "report.md").read_text()
    assert "| Zero-filled | input |" in text and "| FedAutoMRI | personal |" in text and "| FedAutoMRI | global |" in text
    assert "±" in text and "mean ± std over 2 seeds" in text and "Convergence (mean over clients, per round)" in text
    page = results_page({"fedautomri": out})
    assert "FedAutoMRI beats FedMRI, FedProx, FedAvg and Non-Fed on every site (Table 1)" in page
    assert "over 3 site comparisons" in page and page.count("| not run |") == 2
    assert "## Table 1: comparison with federated methods" in text and "| FedAutoMRI |" in text
    assert "The federated search did not separate its ops" in text  # one tiny round: said next to the genotype
    assert "separation" in json.loads((out / "search" / "alpha.jsonl").read_text().splitlines()[-1])
    for client in results["clients"]:
        assert f"PSNR/dB {client}" in text
        assert f"fedautomri/clients/{client}/figures/reconstruction-{client}.png" in text
    for figure in ("genotype.png", "alpha.png", "training-psnr.png"):
        assert (out / "figures" / figure).is_file()
    (out / "figures" / "genotype.png").unlink()
    assert _strip_dates(rebuild_report(out).read_text()) == _strip_dates(text)
    assert (out / "figures" / "genotype.png").is_file()
