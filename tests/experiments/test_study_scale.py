"""The ``study`` scale: the structure the evidence issue asks for, and its overrides reaching the runs."""

from __future__ import annotations

from automri.experiments.baselines import model_config
from automri.experiments.scales import PRESETS, get_scale


def test_study_scale_keeps_the_papers_structure_and_enough_alpha_steps() -> None:
    assert "study" in PRESETS
    fed = get_scale("fedautomri", "study")
    steps = fed.client_slices // fed.search_batch  # a client's 32-slice train split, one step per batch
    assert fed.steps is None and fed.search_rounds * fed.search_local_epochs * steps >= 250  # alpha steps per client
    assert fed.train_seeds == 3 and fed.search_size < fed.size
    emr = get_scale("emrnas", "study")
    assert emr.folds == 3 and (emr.warmup_epochs + emr.search_epochs) * emr.steps >= 300
    assert emr.search_epochs * emr.steps >= 250


def test_baselines_study_overrides_every_learned_recipe_schedule_but_not_classical() -> None:
    scale = get_scale("baselines", "study")
    assert scale.settings == ("random1d-4x",)
    for name in ("unet", "dccnn", "modl", "rdn", "cddn_tdc"):
        config = model_config(name, "colin27", "fastmri-random:cf=0.08,acc=4", scale, 0, "cpu")
        assert config.train.schedule == "cosine" and config.train.epochs == 20
    assert model_config("cs_tv", "colin27", "fastmri-random:cf=0.08,acc=4", scale, 0, "cpu").train.schedule != "cosine"
