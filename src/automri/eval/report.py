"""Small helpers for Markdown reports: tables, mean ± std, machine description, the report file.

``atomic_path`` and ``write_text_atomic`` (from :mod:`automri.atomic`) stay importable from here for
``benchmarks/fedautomri_search.py``.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from automri.atomic import atomic_path, write_text_atomic

__all__ = ["atomic_path", "format_mean_std", "machine_info", "markdown_table", "write_report", "write_text_atomic"]


def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return format(float(value), floatfmt)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, floatfmt: str = ".4f") -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (one dict per row).

    ``columns``: which keys, in order (default: the keys of the first row). Floats are formatted
    with ``floatfmt``; missing values and ``None`` give empty cells; ``|`` in text is escaped.
    """
    if columns is None:
        columns = list(rows[0]) if rows else []
    if not columns:
        raise ValueError("markdown_table needs at least one column")
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c), floatfmt) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def format_mean_std(values: Iterable[float], fmt: str = ".2f") -> str:
    """``"mean ± std"`` of ``values`` (sample std, ddof=1; ``± 0`` for a single value)."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        raise ValueError("format_mean_std needs at least one value")
    std = array.std(ddof=1) if array.size > 1 else 0.0
    return f"{array.mean():{fmt}} ± {std:{fmt}}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Where numbers were measured: CPU model, cores, torch threads, GPU (if any), versions, date."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": _dt.date.today().isoformat(),
    }


def write_report(path: str | Path, sections: Sequence[tuple[str, str]], title: str | None = None) -> Path:
    """Write a Markdown report atomically: optional ``# title``, then ``## heading`` + body per section."""
    parts = [f"# {title}\n"] if title else []
    parts += [f"## {heading}\n\n{body.rstrip()}\n" for heading, body in sections]
    return write_text_atomic(path, "\n".join(parts))
