"""``automri.limits`` (memory cap) and strict JSON (``automri.atomic.strict_json``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from automri.atomic import dumps_strict, strict_json, write_json_atomic
from automri.errors import AutoMRIError
from automri.limits import format_bytes, memory_cap, parse_bytes, require_within_cap


def test_memory_cap_comes_from_the_environment_or_the_ram(monkeypatch):
    monkeypatch.setenv("AUTOMRI_MAX_MEMORY", "512M")
    assert memory_cap() == 512 * 2**20
    monkeypatch.delenv("AUTOMRI_MAX_MEMORY")
    assert memory_cap() > 0
    assert parse_bytes("8GiB") == 8 * 2**30 and parse_bytes("1000") == 1000
    for bad in ("lots", "-1G", "inf", "nanM"):
        with pytest.raises(AutoMRIError, match="AUTOMRI_MAX_MEMORY"):
            parse_bytes(bad)


def test_require_within_cap_names_where_and_what(monkeypatch):
    monkeypatch.setenv("AUTOMRI_MAX_MEMORY", "1K")
    require_within_cap(1024, "x.h5", "a slice")
    with pytest.raises(AutoMRIError, match=r"x.h5: a slice would need 2.0 KiB, more than the memory cap of 1.0 KiB"):
        require_within_cap(2048, "x.h5", "a slice")
    assert format_bytes(3 * 2**40) == "3.0 TiB"


def test_error_messages_are_always_one_line():
    assert str(AutoMRIError("a.nii: cannot read (Expected 8 bytes\n - could the file be damaged?)")) == (
        "a.nii: cannot read (Expected 8 bytes - could the file be damaged?)")


def test_strict_json_replaces_non_finite_numbers_and_says_why(tmp_path):
    result = strict_json({"psnr": math.inf, "per_slice": [1.0, np.float32("nan")], "n": np.int64(3)})
    assert result == {"psnr": None, "per_slice": [1.0, None], "n": 3,
                      "non_finite": {"psnr": "inf", "per_slice.1": "nan"}}
    assert "NaN" not in dumps_strict([math.nan]) and json.loads(dumps_strict([math.nan])) == [None]
    path = write_json_atomic(tmp_path / "summary.json", {"best_psnr": -math.inf})
    assert json.loads(path.read_text(), parse_constant=lambda token: pytest.fail(token)) == {
        "best_psnr": None, "non_finite": {"best_psnr": "-inf"}}
