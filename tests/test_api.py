"""The package root exposes the documented API, and docs/api.md's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import automri

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_every_documented_name_resolves_and_is_listed():
    text = DOC.read_text()
    for name in automri.API:
        assert callable(getattr(automri, name)), name
        assert f"`{name}" in text, f"{name} is not documented in docs/api.md"
    assert automri.__version__ and set(automri.API) <= set(dir(automri))


def test_unknown_names_raise_attribute_error():
    try:
        automri.no_such_thing  # noqa: B018
    except AttributeError as err:
        assert "no_such_thing" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_the_documented_example_runs(tmp_path):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.search(r"test PSNR \d+\.\d+ dB \(zero-filled \d+\.\d+ dB\), \d+ parameters", result.stdout)
