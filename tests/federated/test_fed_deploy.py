"""Flower's deployment engine on loopback: a SuperLink and SuperNodes as real processes.

The secure 1-round run (TLS + SuperNode authentication, the default of ``automri fed deploy``) is in
the default suite; the insecure one is marked slow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from fedtiny import TINY_SPEC, UNET
from typer.testing import CliRunner

from automri.cli import app
from automri.federated.certs import make_node_key, make_self_signed
from automri.federated.deploy import deploy_local, format_plan, plan_deployment
from automri.federated.options import build_config
from automri.federated.spec import spec_from_dict

TWO_CLIENTS = {**TINY_SPEC, "clients": TINY_SPEC["clients"][:2]}


def _processes_using(folder: Path) -> list[int]:
    """PIDs of live processes whose environment points FLWR_HOME into ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"FLWR_HOME={folder}".encode() in environ:
            found.append(int(entry.name))
    return found


def test_self_signed_certificates_and_node_keys(tmp_path):
    files = make_self_signed(tmp_path, hosts=("localhost", "127.0.0.1"))
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    ca.public_key().verify(server.signature, server.tbs_certificate_bytes, padding.PKCS1v15(), server.signature_hash_algorithm)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert os.stat(files.server_key).st_mode & 0o077 == 0
    key = make_node_key(tmp_path, "node0")
    assert key.public.read_text().startswith("ecdsa-sha2-nistp384 ")
    load_ssh_public_key(key.public.read_bytes())
    assert b"OPENSSH PRIVATE KEY" in key.private.read_bytes()


def test_print_only_lists_every_site_command(tmp_path):
    spec_file = tmp_path / "fed.yaml"
    spec_file.write_text(yaml.safe_dump(TINY_SPEC))
    result = CliRunner().invoke(app, [
        "fed", "deploy", "--algorithm", "fedavg", "--spec", str(spec_file), "--rounds", "1", "--size", "16",
        "--tls", "--auth", "--print-only", "--port", "9555", "--out", str(tmp_path / "run"),
    ])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "flower-superlink" in text and "--enable-supernode-auth" in text and "--ssl-certfile" in text
    assert "--disable-runtime-dependency-installation" in text and "127.0.0.1:9555" in text
    assert text.count("supernode register") == 3 and text.count("flower-supernode") == 3
    for pid in range(3):
        assert f"partition-id={pid} num-partitions=3" in text
    assert "flwr run" in text
    pyproject = (tmp_path / "run" / "deploy" / "app" / "pyproject.toml").read_text()
    assert "automri-config" in pyproject and "automri_fedapp.client:app" in pyproject
    # sites own their data: each SuperNode names its dataset, the run config every node receives names none
    assert text.count("dataset=") == 3 and text.count("phantom") == 3  # in each SuperNode's --node-config
    assert pyproject.count('\\"dataset\\": \\"site\\"') == 3 and "phantom" not in pyproject


def test_auth_requires_tls(tmp_path):
    config = build_config("fedavg", spec_from_dict(TWO_CLIENTS), tmp_path / "run", model_options=UNET)
    with pytest.raises(Exception, match="--auth needs --tls"):
        plan_deployment(config, tmp_path / "work", auth=True)
    plan = plan_deployment(config, tmp_path / "work")
    assert "--insecure" in format_plan(plan)


def _deploy(tmp_path, tls: bool):
    out, work = tmp_path / "run", tmp_path / "work"
    config = build_config("fedavg", spec_from_dict(TWO_CLIENTS), out, rounds=1, local_epochs=1, steps=1,
                          batch_size=2, model_options=UNET, round_timeout=300, node_wait=120,
                          discovery_timeout=300)  # a loaded CI machine starts SuperNodes slowly
    summary = deploy_local(config, work, tls=tls, auth=tls)
    assert summary["rounds_done"] == 1 and set(summary["clients"]) == {"a", "b"}
    assert not summary["missing"]
    for name in ("a", "b"):
        assert "global-psnr" in summary["clients"][name]
        assert (work / "clients" / name / "state-r00001.pt").is_file()  # the node's own state-dir
    assert _processes_using(work) == []  # every process we started (and its children) is gone
    if tls:  # each site's partition is bound to its registered key's node id
        shipped = (work / "app" / "pyproject.toml").read_text()
        assert shipped.count('\\"node_partitions\\": {\\"') == 1 and '\\": 1}' in shipped
    saved = yaml.safe_load((out / "config.yaml").read_text())  # the server's run directory holds no site data
    assert [client["dataset"] for client in saved["spec"]["clients"]] == ["site", "site"]


@pytest.mark.optin  # the secure test below runs the same engine by default
def test_deployment_engine_one_round_two_supernodes_insecure(tmp_path):
    _deploy(tmp_path, tls=False)


def test_deployment_engine_with_tls_and_supernode_auth(tmp_path):
    _deploy(tmp_path, tls=True)


def test_deploy_is_secure_by_default_and_insecure_warns(tmp_path):
    spec_file = tmp_path / "fed.yaml"
    spec_file.write_text(yaml.safe_dump(TINY_SPEC))
    base = ["fed", "deploy", "--algorithm", "fedavg", "--spec", str(spec_file), "--rounds", "1", "--size", "16",
            "--print-only", "--port", "9556"]
    secure = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "secure")])
    assert secure.exit_code == 0, secure.output
    assert "--ssl-certfile" in secure.output and "--enable-supernode-auth" in secure.output
    assert "--insecure" not in secure.output and "WARNING: --insecure" not in secure.output
    assert "WARNING: no --bind" in secure.output  # authenticated nodes are not yet bound to partitions
    insecure = CliRunner().invoke(app, [*base, "--insecure", "--out", str(tmp_path / "insecure")])
    assert insecure.exit_code == 0, insecure.output
    assert "WARNING: --insecure" in insecure.output and "--insecure" in insecure.output.replace("WARNING: --insecure", "")
    assert "--ssl-certfile" not in insecure.output and "--enable-supernode-auth" not in insecure.output


def test_deploy_takes_the_training_and_robustness_flags_of_fed_train(tmp_path):
    spec_file = tmp_path / "fed.yaml"
    spec_file.write_text(yaml.safe_dump(TINY_SPEC))
    result = CliRunner().invoke(app, [
        "fed", "deploy", "--algorithm", "fedmri", "--spec", str(spec_file), "--rounds", "1", "--size", "16",
        "--print-only", "--port", "9558", "--out", str(tmp_path / "run"), "--aggregation", "median",
        "--clip-norm", "5", "--min-clients", "2", "--discovery-timeout", "30", "--fedmri-beta", "50", "--mu", "0.1",
    ])
    assert result.exit_code == 0, result.output
    pyproject = (tmp_path / "run" / "deploy" / "app" / "pyproject.toml").read_text()
    for text in ('\\"aggregation\\": \\"median\\"', '\\"clip_norm\\": 5.0', '\\"min_clients\\": 2',
                 '\\"discovery_timeout\\": 30.0', '\\"fedmri_beta\\": 50.0', '\\"mu\\": 0.1'):
        assert text in pyproject, text


def test_deploy_binds_node_ids_to_partitions_from_the_cli(tmp_path):
    spec_file = tmp_path / "fed.yaml"
    spec_file.write_text(yaml.safe_dump(TINY_SPEC))
    base = ["fed", "deploy", "--algorithm", "fedavg", "--spec", str(spec_file), "--rounds", "1", "--size", "16",
            "--print-only", "--port", "9559"]
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "run"), "--bind", "111=0", "--bind", "222=2"])
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output
    pyproject = (tmp_path / "run" / "deploy" / "app" / "pyproject.toml").read_text()
    assert '\\"node_partitions\\": {\\"111\\": 0, \\"222\\": 2}' in pyproject
    bad = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "bad"), "--bind", "node-a=0"])
    assert "--bind 'node-a=0': expected NODE_ID=PARTITION" in str(bad.exception)  # main() prints it, exit 2
