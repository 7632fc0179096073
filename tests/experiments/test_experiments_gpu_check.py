"""``benchmarks/gpu_check.sh`` is ready for a GPU run: executable, ``bash -n`` clean, and without CUDA it
stops at once with one clear line (exit 3); the page it writes is rendered from its results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from automri.experiments import gpu_check

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
NO_CUDA = not torch.cuda.is_available()


def test_script_is_executable_and_parses():
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False, capture_output=True).returncode == 0


@pytest.mark.skipif(not NO_CUDA, reason="CUDA is present: the no-CUDA path does not apply")
def test_without_cuda_it_fails_fast_with_one_line(tmp_path):
    out = tmp_path / "speed-gpu.md"
    result = subprocess.run(["bash", str(SCRIPT)], check=False, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHON": sys.executable, "OUT_MD": str(out)})
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.strip() == gpu_check.NO_CUDA and not out.exists()


@pytest.mark.skipif(not NO_CUDA, reason="CUDA is present: the no-CUDA path does not apply")
def test_the_python_check_refuses_to_run_without_cuda(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--out", str(tmp_path / "x.md")])
    assert exit_info.value.code == 3 and gpu_check.NO_CUDA in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


def test_page_has_both_tables():
    result = {"machine": {"date": "2026-12-02", "gpu": "NVIDIA H200"},
              "agreement": [{"model": "unet", "max_abs": 1.5e-6, "rel": 2.0e-7}],
              "throughput": [{"model": "unet", "fp32 slices/s": 900.0, "bf16 slices/s": 1500.0, "bf16 / fp32": 1.67}]}
    text = gpu_check.markdown(result, "bash benchmarks/gpu_check.sh")
    assert "Command: `bash benchmarks/gpu_check.sh`" in text and "NVIDIA H200" in text
    assert "| unet |" in text and "1.50e-06" in text and "bf16 slices/s" in text
