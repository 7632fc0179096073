"""Fixtures of the training-engine tests: no progress bars, tiny datasets (see train_fixtures.py)."""

from __future__ import annotations

import pytest
from train_fixtures import TinySlices


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMRI_NO_PROGRESS", "1")


@pytest.fixture
def tiny_data() -> tuple[TinySlices, TinySlices]:
    """(train, val) tiny datasets."""
    return TinySlices(n=8, seed=1), TinySlices(n=4, seed=2)

