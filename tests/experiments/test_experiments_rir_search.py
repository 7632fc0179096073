"""EMR-NAS pipeline on tiny data: k-fold search, ensemble genotype, retraining, summary, resume."""

import json

import nibabel as nib
import numpy as np
import pytest

from automri.errors import AutoMRIError
from automri.experiments.rir_ablations import run_ablations
from automri.experiments.rir_search import run_rir_search
from automri.nas.options import SearchOptions
from automri.nas.rir.genotype import ensemble_genotype, format_genotype
from automri.nas.rir.network import RIRNet


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> str:
    """4 subjects x 3 axial slices of 16 x 16 smooth blobs (NIfTI), so 2 subject folds are quick."""
    folder = tmp_path_factory.mktemp("tiny-nifti")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:16, :16]
    for subject in range(4):
        volume = np.zeros((16, 16, 3), np.float32)
        for k in range(3):
            cy, cx = rng.uniform(5, 11, 2)
            volume[:, :, k] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0) + 0.3 * (((yy - 8) ** 2 + (xx - 8) ** 2) < 36)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), folder / f"subject{subject}.nii.gz")
    return str(folder)


def tiny_options(out, dataset: str = "phantom", **overrides) -> SearchOptions:
    values = dict(
        space="rir", strategy="proxyless", dataset=dataset, size=16, mask="random:rate=0.4,center=0.1",
        epochs=1, warmup_epochs=1, steps=2, batch_size=2, folds=2, seed=0, out=out, device="cpu",
        retrain_epochs=1, space_options={"width": 4, "components": 1},
    )
    values.update(overrides)
    return SearchOptions(**values)


def test_two_fold_search_writes_genotype_and_summary(tmp_path, tiny_dataset) -> None:
    out = tmp_path / "run"
    summary = run_rir_search(tiny_options(out, tiny_dataset))
    genotype = json.loads((out / "genotype.json").read_text())
    assert genotype["space"] == "rir" and len(genotype["ops"]) == 3 and genotype["width"] == 4
    net = RIRNet.from_genotype(genotype)
    assert net.genotype()["ops"] == genotype["ops"]
    # the ensemble is the argmax of the summed per-fold probabilities written in summary.json
    written = json.loads((out / "summary.json").read_text())
    assert written["genotype"]["ops"] == ensemble_genotype([f["probabilities"] for f in written["folds"]])
    assert written["display"] == format_genotype(genotype["ops"]) == summary["display"]
    assert len(written["folds"]) == 2 and all("psnr" in f["test"] for f in written["folds"])
    assert set(written["test"]["mean_std"]) == {"psnr", "ssim", "nmse"}
    assert "±" in written["test"]["table"]["PSNR"]
    for k in range(2):
        alpha = [json.loads(line) for line in (out / f"fold-{k}" / "search" / "alpha.jsonl").read_text().splitlines()]
        assert [r["phase"] for r in alpha] == ["warmup", "search"]
        assert alpha[0]["alpha"] != alpha[1]["alpha"]  # the search epoch moved alpha
        assert len(alpha[-1]["separation"]["margin"]) == len(alpha[-1]["probabilities"])
        assert (out / f"fold-{k}" / "retrain" / "checkpoint-last.pt").is_file()
    assert (out / "figures" / "genotype.png").is_file()

    # resuming a finished run redoes nothing and gives the same answer
    again = run_rir_search(tiny_options(out, tiny_dataset, resume=True), figures=False)
    assert again["genotype"] == summary["genotype"] and again["test"] == summary["test"]
    with pytest.raises(AutoMRIError, match="not empty"):
        run_rir_search(tiny_options(out, tiny_dataset))


def test_random_ablation_needs_no_search(tmp_path) -> None:
    results = run_ablations(tiny_options(tmp_path / "abl", retrain_epochs=0), ["D"], figures=False)
    assert results["D"]["search"] is None and len(results["D"]["display"].split()) == 3
    assert not (tmp_path / "abl" / "ablations" / "search-D").exists()


def test_bad_options_are_user_errors(tmp_path) -> None:
    with pytest.raises(AutoMRIError, match="strategy"):
        run_rir_search(tiny_options(tmp_path / "a", strategy="milenas"))
    with pytest.raises(AutoMRIError, match="space_options"):
        run_rir_search(tiny_options(tmp_path / "b", space_options={"hidden": 16}))


def test_derivation_rules_of_the_ablations() -> None:
    from automri.experiments.rir_search import derive_ops

    space = {"components": 1, "cells_per_block": 3}
    one_hot = lambda *ks: [[1.0 if i == k else 0.0 for i in range(8)] for k in ks]  # noqa: E731
    searches = [
        {"ops": ["O1", "O2", "O2"], "probabilities": one_hot(0, 1, 1)},
        {"ops": ["O3", "O2", "O4"], "probabilities": one_hot(2, 1, 3)},
    ]
    assert derive_ops("per_fold", searches, space, 0) == [["O1", "O2", "O2"], ["O3", "O2", "O4"]]
    # ties between folds go to the lower op index
    assert derive_ops("ensemble", searches, space, 0) == [["O1", "O2", "O2"]] * 2
    assert derive_ops("homogeneous", searches, space, 0) == [["O2", "O2", "O2"]] * 2
    random_a = derive_ops("random", searches, space, 7)
    assert random_a == derive_ops("random", searches, space, 7) and len(random_a[0]) == 3
    with pytest.raises(AutoMRIError, match="derivation"):
        derive_ops("vote", searches, space, 0)


def test_baselines_are_recipes_at_the_budget_with_scale_overrides(tmp_path) -> None:
    from automri.experiments.rir_baselines import recipe_options, run_baselines

    assert recipe_options("unet") == {"num_pool_layers": 4, "drop_prob": 0.0, "in_chans": 1}  # no width
    options = tiny_options(tmp_path / "b", folds=1, size=32, augment="flip=0.5")  # 4 pools need 32 px
    results = run_baselines(options, ["unet"], params=30_000, model_options={"unet": {"residual": True}}, figures=False)
    kwargs = results["unet"]["kwargs"]
    assert kwargs["residual"] is True and kwargs["in_chans"] == 1 and kwargs["num_pool_layers"] == 4
    assert abs(results["unet"]["params"] - 30_000) < 15_000 and "psnr" in results["unet"]["folds"][0]


def test_bad_augment_names_the_flag() -> None:
    with pytest.raises(AutoMRIError, match="--augment"):
        SearchOptions(augment="spin=3")
