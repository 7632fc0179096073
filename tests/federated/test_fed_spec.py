"""Federation specs and run options: loading, validation, round trips."""

from __future__ import annotations

import pytest
import yaml
from fedtiny import TINY_SPEC

from automri.errors import AutoMRIError
from automri.federated.options import FedConfig, check_resume_compatible
from automri.federated.spec import load_spec, spec_from_dict


def test_default_spec_has_three_different_sites():
    spec = load_spec("default")
    assert len(spec.clients) == 3
    assert len({c.dataset for c in spec.clients}) == 3
    assert len({c.mask for c in spec.clients}) == 3
    assert {c.dataset for c in spec.clients} == {"colin27", "icbm152", "phantom"}
    assert load_spec("default", size=32).size == 32


def test_unknown_keys_are_named_with_the_file(tmp_path):
    path = tmp_path / "fed.yaml"
    bad = {**TINY_SPEC, "clients": [dict(TINY_SPEC["clients"][0], acceleration=4), TINY_SPEC["clients"][1]]}
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(AutoMRIError, match=r"fed.yaml: clients\[0\]: unknown key 'acceleration'"):
        load_spec(path)
    path.write_text(yaml.safe_dump({**TINY_SPEC, "rounds": 3}))
    with pytest.raises(AutoMRIError, match=r"fed.yaml: unknown key 'rounds'"):
        load_spec(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clients": [{"name": "a", "dataset": "phantom"}, {"name": "b", "dataset": "phantom", "mask": "x"}]}, "missing key 'mask'"),
        ({"clients": [TINY_SPEC["clients"][0], TINY_SPEC["clients"][0]]}, "duplicate client name 'a'"),
        ({"clients": [TINY_SPEC["clients"][0]]}, "at least 2 clients"),
        ({"size": "big"}, "size"),
        ({"clients": [dict(TINY_SPEC["clients"][0], noise=-1), TINY_SPEC["clients"][1]]}, "noise"),
        ({"clients": [dict(TINY_SPEC["clients"][0], augment="zoom=2"), TINY_SPEC["clients"][1]]},
         r"clients\[0\].augment: augment spec 'zoom=2'"),
    ],
)
def test_invalid_specs(change, message):
    with pytest.raises(AutoMRIError, match=message):
        spec_from_dict({**TINY_SPEC, **change}, "x.yaml")


def test_missing_spec_file(tmp_path):
    with pytest.raises(AutoMRIError, match="--spec .*not found"):
        load_spec(tmp_path / "nope.yaml")


def test_relative_dataset_paths_resolve_against_the_spec_file(tmp_path):
    (tmp_path / "site.nii.gz").write_bytes(b"")
    spec = {**TINY_SPEC, "clients": [dict(TINY_SPEC["clients"][0], dataset="site.nii.gz"), TINY_SPEC["clients"][1]]}
    path = tmp_path / "fed.yaml"
    path.write_text(yaml.safe_dump(spec))
    loaded = load_spec(path)
    assert loaded.clients[0].dataset == str(tmp_path / "site.nii.gz")
    assert loaded.clients[1].dataset == "phantom"


def test_config_round_trip_and_validation(tiny_spec):
    config = FedConfig("fedprox", tiny_spec, rounds=3, mu=0.1, model_options={"chans": 4})
    again = FedConfig.from_json(config.to_json())
    assert again == config
    with pytest.raises(AutoMRIError, match="--algorithm 'fedsgd'"):
        FedConfig("fedsgd", tiny_spec)
    with pytest.raises(AutoMRIError, match="faults.client_raise"):
        FedConfig("fedavg", tiny_spec, faults={"client_raise": {"zz": 1}})
    with pytest.raises(AutoMRIError, match="unknown federated option 'epochs'"):
        FedConfig.from_dict({**config.to_dict(), "epochs": 3})


def test_resume_may_change_rounds_but_not_the_computation(tiny_spec):
    saved = FedConfig("fedavg", tiny_spec, rounds=2)
    check_resume_compatible(saved, saved.with_changes(rounds=5), "run")
    with pytest.raises(AutoMRIError, match="option 'lr' differs"):
        check_resume_compatible(saved, saved.with_changes(lr=0.5), "run")


def test_augmented_client_draws_new_training_samples_every_local_epoch():
    """``augment`` in a client's spec augments its train split only, with new draws per round and epoch."""
    import torch

    from automri.data.datasets import set_epoch
    from automri.federated.task import client_splits
    from automri.train.seed import derive_seed

    spec = spec_from_dict({**TINY_SPEC, "clients": [dict(TINY_SPEC["clients"][0], augment="rotate=90"),
                                                    TINY_SPEC["clients"][1]]}, "x.yaml")
    client = spec.clients[0]
    assert client.augment == "rotate=90" and spec.clients[1].augment == "none"
    splits = client_splits(client, 16)
    train, test = splits["train"], splits["test"]
    assert train.augment is not None and test.augment is None and splits["val"].augment is None
    set_epoch(train, derive_seed(7, 0))  # the draw of local epoch 0 in the round seeded 7 (train.loop.local_epochs)
    first = train[0].target
    set_epoch(train, derive_seed(7, 1))
    assert not torch.allclose(train[0].target, first)
    set_epoch(train, derive_seed(7, 0))
    assert torch.equal(train[0].target, first)


def test_a_federated_run_that_failed_before_its_first_round_does_not_block_a_retry(tmp_path, tiny_spec):
    """``open_run`` writes config.yaml, the run token (and Flower's log); a start that failed there
    leaves nothing that refuses the same command again."""
    from automri.federated.options import FedConfig
    from automri.federated.state import RUN_TOKEN_FILE, open_run

    config = FedConfig("fedavg", tiny_spec, out=str(tmp_path / "run"))
    run, first = open_run(config, resume=False)
    assert (run.path / RUN_TOKEN_FILE).is_file()
    (run.path / "flower.log").write_text("the failure of the first attempt\n")
    again, second = open_run(config, resume=False)  # no "directory is not empty"
    assert second != first and (again.path / RUN_TOKEN_FILE).read_text().strip() == second
