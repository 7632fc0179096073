"""``automri --help`` starts without the heavy libraries: the CLI imports torch, Flower, SciPy and
scikit-image only inside the command that needs them (measured: --help in 0.3 s)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "flwr", "scipy", "skimage", "ray", "matplotlib", "h5py")


def test_importing_the_cli_and_printing_help_loads_no_heavy_library() -> None:
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom automri.cli import app\n"
            "result = CliRunner().invoke(app, ['--help'])\nassert result.exit_code == 0, result.output\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
