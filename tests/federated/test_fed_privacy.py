"""Differential privacy of the updates (issue 15): Flower's mechanisms (central noise, LocalDpMod),
its RDP accountant, the options' checks, a central-DP round on the fake Grid, and a local-DP run
in Flower's simulation engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from fedtiny import TINY_RUN, UNET, FakeGrid
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.supercore.differential_privacy import compute_clip_model_update
from flwr.supercore.privacy_accounting import GaussianPrivacyEvent, NeighboringRelation, PrivacyConfig, SamplingMethod
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

from automri.errors import AutoMRIError
from automri.federated.client_app import local_dp_mod
from automri.federated.options import RUN_CONFIG_KEY, FedConfig
from automri.federated.privacy import PrivacyLedger, add_central_noise, local_dp, local_noise_multiplier
from automri.federated.robust import clip_update
from automri.federated.simulation import run_federated
from automri.federated.state import load_server_checkpoint
from automri.federated.strategies import build_strategy
from automri.federated.task import build_client_model, check_dp_model, from_record, to_record, weights_of
from automri.train.runs import RunDir


def _flower_epsilon(noise_multiplier: float, releases: list[int], clients: int, delta: float) -> float:
    accountant = RdpAccountant(PrivacyConfig(target_delta=delta, population_size=clients,
                                             neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                                             sampling_method=SamplingMethod.NO_AMPLIFICATION))
    for participants in releases:
        accountant.compose(GaussianPrivacyEvent(noise_multiplier, participants, clients))
    return accountant.get_privacy_spent().epsilon


def test_central_noise_has_flowers_std_on_floats_only_and_is_secret_unless_seeded():
    weights, reference = {"w": torch.zeros(200_000), "n": torch.tensor(3)}, {"w": torch.zeros(200_000), "n": torch.tensor(0)}
    state = np.random.get_state()[1].copy()
    noised = add_central_noise(weights, reference, accepted=4, clients=4, noise_multiplier=1.0, clip_norm=0.5, seed=7)
    assert abs(float(noised["w"].std()) - 0.5 / 4) < 0.002  # Flower's compute_stdv: z * C / K
    assert int(noised["n"]) == 3 and noised["w"].dtype == torch.float32
    torch.testing.assert_close(noised["w"], add_central_noise(weights, reference, 4, 4, 1.0, 0.5, seed=7)["w"])
    assert not torch.equal(noised["w"], add_central_noise(weights, reference, 4, 4, 1.0, 0.5, seed=8)["w"])
    # by default the noise comes from OS entropy: two releases of the same run options never share it
    first, second = (add_central_noise(weights, reference, 4, 4, 1.0, 0.5, seed=None)["w"] for _ in range(2))
    assert abs(float(torch.corrcoef(torch.stack([first, second]))[0, 1])) < 0.02
    assert np.array_equal(np.random.get_state()[1], state)  # NumPy's global generator is left as it was
    assert torch.equal(weights["w"], torch.zeros(200_000))  # the input is not changed


def test_central_release_divides_the_clipped_sum_by_the_fixed_number_of_sites():
    """Fixed denominator: 2 of 4 sites answered with updates of +1, the release moves by 2/4, not 1."""
    reference, mean = {"w": torch.zeros(10)}, {"w": torch.ones(10)}
    released = add_central_noise(mean, reference, accepted=2, clients=4, noise_multiplier=1e-9, clip_norm=1.0, seed=0)
    torch.testing.assert_close(released["w"], torch.full((10,), 0.5))


def test_server_clipping_equals_flowers_flat_clip():
    rng = torch.Generator().manual_seed(0)
    reference = {"a": torch.randn(5, 3, generator=rng), "b": torch.randn(7, generator=rng)}
    reply = {k: v + 3 * torch.randn(v.shape, generator=rng) for k, v in reference.items()}
    ours = clip_update(reply, reference, 0.7)
    theirs = [v.numpy().copy() for v in reply.values()]
    compute_clip_model_update(theirs, [v.numpy() for v in reference.values()], 0.7)
    for (key, value), expected in zip(ours.items(), theirs):
        np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dp_options_are_checked(tiny_spec):
    with pytest.raises(AutoMRIError, match="--dp central: expected --algorithm fedavg or fedprox or fedautomri"):
        FedConfig("fednas", tiny_spec, dp="central", dp_clip=1.0)
    with pytest.raises(AutoMRIError, match="--dp local: expected --aggregation fedavg without --clip-norm"):
        FedConfig("fedavg", tiny_spec, dp="local", dp_clip=1.0, aggregation="median")
    with pytest.raises(AutoMRIError, match="without --clip-norm"):
        FedConfig("fedavg", tiny_spec, dp="central", dp_clip=1.0, clip_norm=2.0)
    with pytest.raises(AutoMRIError, match="--dp-clip None: expected a clipping norm > 0"):
        FedConfig("fedavg", tiny_spec, dp="central")
    with pytest.raises(AutoMRIError, match="--dp-delta 1.0"):
        FedConfig("fedavg", tiny_spec, dp="local", dp_clip=1.0, dp_delta=1.0)
    with pytest.raises(AutoMRIError, match="--dp-epsilon 0.0"):
        FedConfig("fedavg", tiny_spec, dp="local", dp_clip=1.0, dp_epsilon=0.0)
    with pytest.raises(AutoMRIError, match="--dp 'secagg'"):
        FedConfig("fedavg", tiny_spec, dp="secagg")
    central = FedConfig("fedprox", tiny_spec, dp="central", dp_clip=1.0)
    assert central.weighting == "equal" and central.update_clip == 1.0  # the noise assumes the plain mean
    assert FedConfig.from_json(central.to_json()) == central
    assert FedConfig("fedavg", tiny_spec, dp="local", dp_clip=1.0).update_clip is None  # clipped at the sites


def test_dp_flags_reach_the_options_through_the_cli(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "fed", "train", "--algorithm", "fedavg", "--rounds", "1",
                           "--dp", "central", "--out", str(tmp_path / "run"))
    assert code == 2 and "--dp-clip None: expected a clipping norm > 0" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("task_identity")
def test_a_central_dp_round_clips_averages_equally_adds_noise_and_accounts(tiny_spec, tmp_path):
    config = FedConfig("fedavg", tiny_spec, model_options=UNET, node_wait=0.0, dp="central", dp_clip=0.5,
                       dp_noise=1.0, dp_delta=1e-3, out=str(tmp_path))
    strategy = build_strategy(config, "token")
    start = weights_of(build_client_model(config))
    grid = FakeGrid({0: "ok", 1: "nan", 2: "ok"}, shared=strategy.shared_keys)  # replies: w + (pid + 1)
    messages = strategy.configure_train(1, to_record(start), ConfigRecord(), grid)
    new_arrays, _ = strategy.aggregate_train(1, grid.send_and_receive(messages, timeout=1.0))
    assert strategy.log.errors == {"train/b": "non-finite"}  # rejected before clipping, never averaged in
    floats = [k for k, v in start.items() if v.is_floating_point()]
    size = sum(start[k].numel() for k in floats)
    # every update (a constant shift over all floats) is clipped to norm 0.5; 2 accepted of K = 3 sites:
    # the release is start + (2 / 3) * 0.5 / sqrt(size), plus noise of std z * C / K
    clean = 2 / 3 * 0.5 / math.sqrt(size)
    residual = torch.cat([(from_record(new_arrays)[k] - start[k] - clean).flatten() for k in floats])
    assert abs(float(residual.std()) - 1.0 * 0.5 / 3) < 0.02
    assert abs(float(residual.mean())) < 0.02
    privacy = strategy.log.record()["privacy"]
    assert privacy["releases"] == 1 and privacy["delta"] == 1e-3
    assert privacy["epsilon"] == pytest.approx(_flower_epsilon(1.0, [3], 3, 1e-3))
    # the ledger was written at the release itself: a server restarted after it (resume) continues the budget
    assert (tmp_path / "privacy.json").is_file()
    assert build_strategy(config, "token").privacy.spent() == strategy.privacy.spent()


def test_the_ledger_composes_rounds_like_flowers_accountant():
    ledger = PrivacyLedger(noise_multiplier=0.8, delta=1e-4, clients=3)
    assert ledger.spent() == {"epsilon": 0.0, "delta": 1e-4, "releases": 0}
    for participants in (3, 3, 2):
        ledger.release(participants)
    spent = ledger.spent()
    assert spent["releases"] == 3 and spent["epsilon"] == pytest.approx(_flower_epsilon(0.8, [3, 3, 2], 3, 1e-4))
    ledger.release(3)
    assert ledger.spent()["epsilon"] > spent["epsilon"]
    assert local_noise_multiplier(2.0, 1e-5) == pytest.approx(math.sqrt(2 * math.log(1.25e5)) / 2.0)


@pytest.mark.usefixtures("task_identity")
def test_local_dp_clips_and_noises_the_reply_with_flowers_mod():
    sent = {"w": torch.zeros(50_000)}
    msg = Message(content=RecordDict({"arrays": to_record(sent), "config": ConfigRecord({"server-round": 1})}),
                  dst_node_id=1, message_type=MessageType.TRAIN)

    def client(message, context):  # a client whose update is 10 in every coordinate, and that reseeds NumPy
        np.random.seed(0)  # as seed_everything does in local training
        return Message(content=RecordDict({"arrays": to_record({"w": sent["w"] + 10})}), reply_to=message)

    def update(epsilon, seed):
        reply = local_dp(msg, None, client, clip_norm=2.0, epsilon=epsilon, delta=1e-5, seed=seed)
        return reply.content["arrays"]["w"].numpy()

    almost_noiseless = update(epsilon=1e9, seed=0)
    assert np.linalg.norm(almost_noiseless) == pytest.approx(2.0, rel=1e-3)  # clipped to the norm
    noisy = update(epsilon=1.0, seed=0)
    assert float(noisy.std()) == pytest.approx(2.0 * local_noise_multiplier(1.0, 1e-5), rel=0.02)
    np.testing.assert_array_equal(noisy, update(epsilon=1.0, seed=0))  # dp_seeded_noise: repeats
    other = update(epsilon=1.0, seed=1)  # another round or site: independent noise, whatever the app seeded
    assert abs(float(np.corrcoef(noisy, other)[0, 1])) < 0.05
    secret = update(epsilon=1.0, seed=None)  # the default: OS entropy, never the run's seed
    assert abs(float(np.corrcoef(noisy, secret)[0, 1])) < 0.05
    assert abs(float(np.corrcoef(secret, update(epsilon=1.0, seed=None))[0, 1])) < 0.05


def test_local_dp_runs_at_every_site_in_the_simulation(tiny_spec, tmp_path):
    """Flower's LocalDpMod runs inside the simulated ClientApps: the global model moves by the
    noise (std 0.1 * 3.8 / sqrt(3) = 0.22 per weight: independent at each site) where one Adam step at lr 1e-3 moves it by 1e-3."""
    out = tmp_path / "local-dp"
    summary = run_federated("fedavg", tiny_spec, out=out, **{**TINY_RUN, "rounds": 1}, model_options=UNET,
                            dp="local", dp_clip=0.1, dp_epsilon=1.0, dp_delta=1e-3)
    assert summary["privacy"]["mode"] == "local" and summary["privacy"]["releases"] == 1
    assert not summary["privacy"]["seeded_noise"]
    assert summary["privacy"]["epsilon"] == pytest.approx(_flower_epsilon(local_noise_multiplier(1.0, 1e-3), [3], 3, 1e-3))
    assert all(math.isfinite(row["global-psnr"]) for row in summary["clients"].values())
    config = FedConfig("fedavg", tiny_spec, model_options=UNET)
    start = weights_of(build_client_model(config))
    final = load_server_checkpoint(RunDir(out, resume=True))["arrays"]
    moved = torch.cat([(final[k] - start[k]).flatten() for k in start])
    assert 0.15 < float(moved.std()) < 0.3  # independent noise per site: 0.378 / sqrt(3) = 0.22 (0.38 if shared)


@pytest.mark.usefixtures("task_identity")
@pytest.mark.parametrize("dp,message_type,clipped", [("local", MessageType.TRAIN, True),
                                                     ("local", MessageType.EVALUATE, False),
                                                     ("none", MessageType.TRAIN, False)])
def test_the_client_mod_reads_dp_from_the_run_config_as_in_deployment(tiny_spec, dp, message_type, clipped):
    """``make_client_app()`` in deployment has no captured options: its mod reads them from the run
    config of each message and applies LocalDpMod to train replies of ``dp="local"`` runs only."""
    options = {"dp": dp, "dp_clip": 1.0, "dp_epsilon": 1e9} if dp == "local" else {}
    config = FedConfig("fedavg", tiny_spec, model_options=UNET, **options)
    context = Context(run_id=1, node_id=5, node_config={"partition-id": 0}, state=RecordDict(),
                      run_config={RUN_CONFIG_KEY: config.to_json()})
    sent = {"w": torch.zeros(1000)}
    msg = Message(content=RecordDict({"arrays": to_record(sent), "config": ConfigRecord({"server-round": 2})}),
                  dst_node_id=5, message_type=message_type)

    def client(message, ctx):
        return Message(content=RecordDict({"arrays": to_record({"w": sent["w"] + 10})}), reply_to=message)

    reply = local_dp_mod(None)(msg, context, client)
    norm = float(np.linalg.norm(reply.content["arrays"]["w"].numpy()))
    assert norm == pytest.approx(1.0 if clipped else 10 * math.sqrt(1000), rel=1e-3)


@pytest.mark.usefixtures("task_identity")
def test_local_dp_counts_every_round_the_sites_released_even_without_an_aggregate(tiny_spec, tmp_path):
    config = FedConfig("fedavg", tiny_spec, model_options=UNET, node_wait=0.0, dp="local", dp_clip=1.0,
                       dp_epsilon=5.0, min_clients=3, out=str(tmp_path))
    strategy = build_strategy(config, "token")
    start = to_record(weights_of(build_client_model(config)))
    grid = FakeGrid({0: "ok", 1: "nan", 2: "ok"}, shared=strategy.shared_keys)  # 2 accepted < quorum 3
    new_arrays, _ = strategy.aggregate_train(1, grid.send_and_receive(strategy.configure_train(1, start, ConfigRecord(), grid)))
    assert new_arrays is None and strategy.log.errors["aggregate"] == "quorum"
    assert strategy.log.record()["privacy"]["releases"] == 1  # the sites' noised updates left them anyway


def test_dp_refuses_models_with_buffers_and_the_search_has_no_dp_flags(tiny_spec, monkeypatch, capsys, tmp_path):
    with pytest.raises(AutoMRIError, match="--dp central: the network \\(MoDL\\) keeps buffers .*expected a network without"):
        check_dp_model(FedConfig("fedavg", tiny_spec, model="modl", dp="central", dp_clip=1.0))
    check_dp_model(FedConfig("fedavg", tiny_spec, model_options=UNET, dp="central", dp_clip=1.0))  # InstanceNorm: none
    code, _, err = run_cli(monkeypatch, capsys, "fed", "search", "--dp", "central", "--out", str(tmp_path / "s"))
    assert code == 2 and "No such option '--dp'" in err  # fed search (FedNAS) takes no DP flags
