"""Pure unit tests of the federated pieces: EMA, aggregation, objectives, guard, accounting, state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fedtiny import CELL, UNET
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict

from automri.errors import AutoMRIError
from automri.federated.accounting import message_bytes
from automri.federated.client_app import SiteError, make_client_app
from automri.federated.guard import OutgoingMessageError, check_reply
from automri.federated.local import FedMRI, update_personal_state
from automri.federated.objectives import fedmri_regulariser, proximal_term
from automri.federated.options import FedConfig
from automri.federated.personalise import PrivateWeightsError, check_private, ema_personalised, ema_update, personal_ema
from automri.federated.simulation import run_federated
from automri.federated.state import ClientState, ClientStore
from automri.federated.strategies import FedNASStrategy, Reply, average_weights
from automri.federated.task import build_client_model, client_spec, from_record, to_record


# --- EMA ------------------------------------------------------------------------------------
def test_ema_arithmetic_by_hand():
    gamma = 0.8
    w = [torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.0]), torch.tensor([-1.0, 5.0])]
    m = None
    for t, wt in enumerate(w, start=1):
        m = ema_update(None if m is None else m, {"p": wt}, gamma)
        raw = sum((1 - gamma) * gamma ** (t - 1 - i) * w[i] for i in range(t))
        torch.testing.assert_close(m["p"], raw)
        # correction outside the recursion: weights sum to 1
        corrected = raw / (1 - gamma**t)
        torch.testing.assert_close(ema_personalised(m, gamma, t)["p"], corrected)
    # the buffer itself is never corrected: the next update uses the raw m
    assert not torch.allclose(m["p"], ema_personalised(m, gamma, 3)["p"])


def test_ema_of_a_constant_is_that_constant():
    weights = {"w": torch.randn(3, 3), "n": torch.tensor(7)}
    m = None
    for t in range(1, 6):
        m = ema_update(m, weights, 0.9)
        personal = ema_personalised(m, 0.9, t)
        torch.testing.assert_close(personal["w"], weights["w"])
        assert int(personal["n"]) == 7
    with pytest.raises(ValueError):
        ema_personalised(m, 0.9, 0)


def test_ema_state_updates_once_per_round():
    state = ClientState(1, {"model": {"p": torch.zeros(2)}})
    g1 = {"p": torch.ones(2)}
    s1 = update_personal_state(state, g1, 0.5, 1, reading="global")
    assert s1.counters["ema-t"] == 1 and s1.counters["ema-round"] == 1
    assert update_personal_state(s1, {"p": 9 * torch.ones(2)}, 0.5, 1, reading="global") is s1  # same round
    s2 = update_personal_state(s1, {"p": 3 * torch.ones(2)}, 0.5, 2, reading="global")
    torch.testing.assert_close(s2.weights["ema"]["p"], torch.full((2,), 0.5 * 0.5 + 0.5 * 3))
    torch.testing.assert_close(s2.weights["personal"]["p"], s2.weights["ema"]["p"] / (1 - 0.5**2))


def test_personal_ema_is_eq7_with_the_clients_own_weights():
    """Eq. 7 with w_c^(t-1) = the client's own model: bias-corrected, coefficients summing to 1."""
    gamma, own, glob = 0.8, {"p": torch.tensor([2.0, 0.0]), "n": torch.tensor(3)}, {"p": torch.tensor([0.0, 1.0]),
                                                                                  "n": torch.tensor(5)}
    first = personal_ema(own, glob, gamma, 1)
    torch.testing.assert_close(first["p"], glob["p"])  # no history yet: the global model
    third = personal_ema(own, glob, gamma, 3)
    expected = (gamma * (1 - gamma**2) * own["p"] + (1 - gamma) * glob["p"]) / (1 - gamma**3)
    torch.testing.assert_close(third["p"], expected)
    assert int(third["n"]) == 5
    same = personal_ema({"p": torch.ones(2)}, {"p": torch.ones(2)}, gamma, 4)
    torch.testing.assert_close(same["p"], torch.ones(2))  # a constant stays that constant
    with pytest.raises(ValueError):
        personal_ema(own, glob, gamma, 0)


def test_personal_reading_differs_between_clients_and_global_reading_does_not():
    glob = {"p": torch.tensor([1.0, 1.0])}
    clients = [ClientState(2, {"model": {"p": torch.tensor([float(c), 0.0])}}, {"ema-t": 1, "ema-round": 1})
               for c in range(3)]
    personal = [update_personal_state(s, glob, 0.9, 2).weights["personal"]["p"] for s in clients]
    assert not torch.allclose(personal[0], personal[1]) and not torch.allclose(personal[1], personal[2])
    shared = [update_personal_state(ClientState(2, dict(s.weights)), glob, 0.9, 2, reading="global")
              .weights["personal"]["p"] for s in clients]
    assert all(torch.equal(shared[0], s) for s in shared)  # today's reading: one Polyak average for all


def test_personalised_weights_never_leave_a_client():
    personal = {"w": torch.randn(3), "n": torch.tensor(1)}
    check_private({"arrays": {"w": personal["w"] + 1e-3, "n": personal["n"]}}, personal, "client a")
    check_private({}, personal, "client a")
    check_private({"arrays": dict(personal)}, None, "client a")
    with pytest.raises(PrivateWeightsError, match="client a: record 'arrays' holds the personalised weights"):
        check_private({"arrays": {"w": personal["w"].clone(), "n": personal["n"]}}, personal, "client a")


def test_fedautomri_trains_from_global_by_default_and_from_ema_on_request(tiny_spec):
    from automri.federated.local import FedAutoMRI

    config = FedConfig("fedautomri", tiny_spec, space_options=CELL, ema_gamma=0.5, ema_reading="global")
    model = build_client_model(config)
    global_w = {k: v + 1.0 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    state = update_personal_state(ClientState(1, {}), {k: v * 3 for k, v in global_w.items()}, 0.5, 1, "global")
    key = next(k for k, v in global_w.items() if v.is_floating_point())
    default = FedAutoMRI(config, 0, None).start_model({"arrays": global_w}, state)
    torch.testing.assert_close(default.state_dict()[key], global_w[key])
    personal = FedAutoMRI(config.with_changes(ema_train_from="personal"), 0, None).start_model({"arrays": global_w}, state)
    torch.testing.assert_close(personal.state_dict()[key], 3 * global_w[key])  # m / (1 - gamma) after one update
    ablation = FedAutoMRI(config.with_changes(ema_train_from="personal", ema=False), 0, None)
    torch.testing.assert_close(ablation.start_model({"arrays": global_w}, state).state_dict()[key], global_w[key])


# --- aggregation -----------------------------------------------------------------------------
def _reply(pid: int, n: int, records: dict[str, dict[str, torch.Tensor]]) -> Reply:
    content = RecordDict({**{k: to_record(v) for k, v in records.items()},
                          "metrics": MetricRecord({"num-examples": n, "partition-id": pid})})
    return Reply(f"c{pid}", pid, content, {"num-examples": float(n), "partition-id": float(pid)}, 0)


def test_fednas_server_averages_w_and_alpha_by_sample_count(tiny_spec):
    config = FedConfig("fednas", tiny_spec, space_options=CELL)
    strategy = FedNASStrategy(config, "token")
    model = build_client_model(config)
    (alpha_key,) = strategy.alpha
    weights = {k: v for k, v in model.state_dict().items() if k != alpha_key}
    counts = [2, 5, 13]
    alphas = [torch.randn_like(strategy.alpha[alpha_key]) for _ in counts]
    ws = [{k: torch.randn_like(v) for k, v in weights.items()} for _ in counts]
    replies = [_reply(i, n, {"arrays": w, "alpha": {alpha_key: a}}) for i, (n, w, a) in enumerate(zip(counts, ws, alphas))]
    new_w = from_record(strategy.aggregate(1, to_record(weights), replies))
    total = sum(counts)
    expected_alpha = sum(n * a for n, a in zip(counts, alphas)) / total
    torch.testing.assert_close(strategy.alpha[alpha_key], expected_alpha)
    assert not torch.allclose(strategy.alpha[alpha_key], alphas[0])  # not client 0's alpha (the FedML bug)
    key = next(iter(weights))
    torch.testing.assert_close(new_w[key], sum(n * w[key] for n, w in zip(counts, ws)) / total)
    equal = FedNASStrategy(config.with_changes(weighting="equal"), "token")
    equal.aggregate(1, to_record(weights), replies)
    torch.testing.assert_close(equal.alpha[alpha_key], sum(alphas) / 3)


def test_average_weights_keeps_dtype_and_integers():
    sets = [{"f": torch.tensor([1.0, 2.0]), "i": torch.tensor(3)}, {"f": torch.tensor([3.0, 6.0]), "i": torch.tensor(4)}]
    out = average_weights(sets, [1.0, 3.0])
    torch.testing.assert_close(out["f"], torch.tensor([2.5, 5.0]))
    assert out["f"].dtype == torch.float32 and int(out["i"]) == 3
    with pytest.raises(ValueError):
        average_weights(sets, [0.0, 0.0])


# --- local objectives ------------------------------------------------------------------------
def test_proximal_term_value_and_gradient():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    global_w = {"weight": torch.tensor([[0.0, 0.0]])}
    term = proximal_term(model, global_w, mu=0.5)
    assert float(term.detach()) == pytest.approx(0.25 * (1 + 4))
    term.backward()
    torch.testing.assert_close(model.weight.grad, 0.5 * torch.tensor([[1.0, 2.0]]))  # mu (w - w_global)


def test_fedmri_regulariser_is_the_coded_ratio():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -1.0]]))
    server = {"weight": torch.tensor([[0.0, 0.0]])}
    peers = [{"weight": torch.tensor([[2.0, 1.0]])}, {"weight": torch.tensor([[1.0, -1.0]])}]
    value = fedmri_regulariser(model, server, peers, beta=100.0)
    posi, nega = 2.0, (1 + 2) + 0
    assert float(value.detach()) == pytest.approx(100.0 * posi / nega)


def test_fedmri_shares_only_the_encoder(tiny_spec):
    config = FedConfig("fedmri", tiny_spec, model_options=UNET)
    shared = FedMRI.shared_keys(config)["arrays"]
    keys = set(build_client_model(config).state_dict())
    assert shared and shared < keys
    assert all(k.split(".")[0] in ("down_sample_layers", "conv") for k in shared)
    with pytest.raises(Exception, match="needs a U-Net"):
        FedMRI.shared_keys(config.with_changes(model="dccnn", model_options={}))


# --- what may leave a client, and how big it is --------------------------------------------
def test_guard_accepts_allowed_and_refuses_everything_else():
    shared = {"arrays": {"w"}}
    ok = RecordDict({"arrays": ArrayRecord({"w": torch.zeros(2)}), "metrics": MetricRecord({"num-examples": 3})})
    assert check_reply(ok, shared, 10_000, "c") == 2 * 4 + 8
    leaks = [
        RecordDict({"config": ConfigRecord({"path": "/data/patient.h5"})}),
        RecordDict({"metrics": MetricRecord({"patient-age": 40})}),
        RecordDict({"arrays": ArrayRecord({"w": torch.zeros(2), "image": torch.zeros(4, 4)})}),
        RecordDict({"image": ArrayRecord({"w": torch.zeros(2)})}),
    ]
    for content in leaks:
        with pytest.raises(OutgoingMessageError):
            check_reply(content, shared, 10_000, "c")
    with pytest.raises(OutgoingMessageError, match="exceeds max_message_bytes=7"):
        check_reply(ok, shared, 7, "c")


def test_message_bytes_equals_array_nbytes_plus_metadata(tiny_spec):
    state = build_client_model(FedConfig("fedavg", tiny_spec, model_options=UNET)).state_dict()
    content = RecordDict({"arrays": to_record(state), "metrics": MetricRecord({"a": 1.0, "b": [1, 2, 3]}),
                          "config": ConfigRecord({"s": "abc"})})
    expected = sum(v.numpy().nbytes for v in state.values()) + 8 * 4 + 3
    assert message_bytes(content) == expected


# --- client state ----------------------------------------------------------------------------
def _context() -> Context:
    return Context(run_id=1, node_id=1, node_config={"partition-id": 0}, state=RecordDict(), run_config={})


def test_client_store_survives_a_new_run_and_ignores_other_runs(tmp_path):
    store = ClientStore(_context(), tmp_path, "tok")
    for r in (1, 2, 3):
        store.save(ClientState(r, {"ema": {"p": torch.full((2,), float(r))}}, {"ema-t": r}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state-r00002.pt", "state-r00003.pt"]
    assert store.load(3).round == 3 and store.load(2).round == 2  # from context, then from disk
    fresh = ClientStore(_context(), tmp_path, "tok")  # a new run (resume): empty context.state
    state = fresh.load(2)
    assert state.round == 2 and state.counters["ema-t"] == 2
    np.testing.assert_allclose(state.weights["ema"]["p"].numpy(), [2.0, 2.0])
    assert ClientStore(_context(), tmp_path, "other-run").load(5) is None
    assert fresh.load(0) is None


# --- recipes ----------------------------------------------------------------------------------
def test_training_phase_recipes_follow_the_paper(tiny_spec, monkeypatch):
    """FedAutoMRI's training phase uses AdamW; MiLeNAS uses one L_tr for the w and the alpha step."""
    from automri.federated import task
    from automri.federated.task import ClientData

    seen = {}

    def spy_local_epochs(stepper, *args):
        seen["stepper"] = stepper
        return {"train-loss": 0.0, "local-steps": 1.0}

    monkeypatch.setattr(task, "local_epochs", spy_local_epochs)
    data = ClientData([], [], [])
    for algorithm, optimizer in (("fedautomri", torch.optim.AdamW), ("fedavg", torch.optim.Adam)):
        config = FedConfig(algorithm, tiny_spec, space_options=CELL, model="unet", model_options=UNET)
        task.train_local(build_client_model(config), data, config, seed=0)
        assert type(seen["stepper"].optimizer) is optimizer
    search = FedConfig("fednas", tiny_spec, space_options=CELL)
    task.search_local(build_client_model(search), data, search, seed=0)
    assert seen["stepper"].arch_loss is seen["stepper"].loss


def test_table2_baseline_is_the_authors_modl_at_the_paper_scale():
    from automri.experiments.scales import get_scale
    from automri.models.registry import build_model, count_params

    scale = get_scale("fedautomri", "paper")
    model = build_model(scale.baseline_model, **scale.baseline_options)
    assert count_params(model) == 260_867  # 260,866 conv weights + lambda: the paper's 0.26M, no BatchNorm
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_a_site_names_its_own_dataset_when_the_spec_leaves_it(tiny_spec, tmp_path):
    config = FedConfig("fedavg", tiny_spec.site_owned(), model_options=UNET)
    assert client_spec(config, 1, {"dataset": "colin27"}).dataset == "colin27"
    assert client_spec(config, 1, {"dataset": "colin27"}).mask == tiny_spec.clients[1].mask  # the rest from the spec
    with pytest.raises(AutoMRIError, match="client 'b': the spec leaves its dataset to the site; start its SuperNode "
                                           "with --node-config \"dataset='PATH'\""):
        client_spec(config, 1, {"partition-id": 1})
    fixed = FedConfig("fedavg", tiny_spec, model_options=UNET)
    assert client_spec(fixed, 0, {}) == tiny_spec.clients[0]
    with pytest.raises(AutoMRIError, match="node config dataset='colin27': the spec fixes client 'a'"):
        client_spec(fixed, 0, {"dataset": "colin27"})
    with pytest.raises(AutoMRIError, match="client 'a': dataset 'site' is for deployment"):
        run_federated("fedavg", tiny_spec.site_owned(), rounds=1, local_epochs=1, steps=1, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything starts


@pytest.mark.usefixtures("task_identity")
def test_a_failing_site_sends_the_error_type_but_never_its_text(tiny_spec, tmp_path, caplog):
    """A client exception names the site's files; only its type leaves the site (Flower's error
    reply reaches the SuperLink and the server), the full text goes to the site's own log."""
    secret = str(tmp_path / "hospital" / "patients")
    config = FedConfig("fedavg", tiny_spec.site_owned(), model_options=UNET, client_root=None)
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0, "dataset": secret}, state=RecordDict(),
                      run_config={})
    arrays = to_record(build_client_model(config).state_dict())
    msg = Message(content=RecordDict({"arrays": arrays, "config": ConfigRecord({"server-round": 1, "run-token": "t",
                                                                                "final": False})}),
                  dst_node_id=7, message_type=MessageType.TRAIN)
    with caplog.at_level("ERROR"), pytest.raises(SiteError) as err:
        make_client_app(config)(msg, context)
    assert "AutoMRIError at the site" in str(err.value) and secret not in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is not None  # suppressed, not chained into the reply
    assert secret in caplog.text  # kept at the site
