"""Fixtures of the federated tests (constants live in ``fedtiny.py``)."""

from __future__ import annotations

import pytest
import yaml
from fedtiny import TINY_SPEC
from flwr.supercore.task_identity import TaskIdentity

from automri.federated.spec import FederationSpec, spec_from_dict


@pytest.fixture
def task_identity(monkeypatch):
    """The task identity Flower sets in a ServerApp process (``Message(...)`` needs a run id)."""
    for name in ("_task_id", "_run_id", "_node_id"):
        monkeypatch.setattr(TaskIdentity, name, 1)


@pytest.fixture
def tiny_spec() -> FederationSpec:
    return spec_from_dict(TINY_SPEC, "tiny")


@pytest.fixture
def tiny_spec_file(tmp_path):
    path = tmp_path / "federation.yaml"
    path.write_text(yaml.safe_dump(TINY_SPEC))
    return path
