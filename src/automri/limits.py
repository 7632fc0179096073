"""Resource limits checked before anything large is allocated: the memory cap.

Readers compare the bytes a file *declares* (shapes times item sizes) with this cap before reading,
so that a corrupt or hostile header cannot exhaust memory; ``automri train`` compares its estimate
of a run's memory with it before building the network. The cap is ``AUTOMRI_MAX_MEMORY`` (bytes,
or with a suffix ``K``/``M``/``G``/``T``, e.g. ``8G``) or, by default, three quarters of the
physical memory. Standard library only, so every layer may import it.
"""

from __future__ import annotations

import math
import os

from automri.errors import AutoMRIError

ENV_VAR = "AUTOMRI_MAX_MEMORY"
_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_FALLBACK_BYTES = 8 * 2**30


def parse_bytes(text: str, where: str = ENV_VAR) -> int:
    """``"8G"`` -> ``8 * 2**30``; a plain number is bytes. Raises :class:`AutoMRIError` naming ``where``."""
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    number, suffix = (cleaned[:-1], cleaned[-1]) if cleaned[-1:] in _SUFFIXES else (cleaned, "")
    try:
        value = float(number) * _SUFFIXES[suffix]
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1:
        raise AutoMRIError(f"{where}={text!r}: expected a positive size in bytes, e.g. 8G or 512M")
    return int(value)


def physical_memory() -> int:
    """Bytes of physical memory (a fixed 8 GiB where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return _FALLBACK_BYTES


def memory_cap() -> int:
    """The most bytes one read or one run may plan to allocate (``AUTOMRI_MAX_MEMORY`` or 3/4 of RAM)."""
    text = os.environ.get(ENV_VAR, "").strip()
    return parse_bytes(text) if text else physical_memory() * 3 // 4


def format_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"`` (binary units), for error messages."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def require_within_cap(count: float, where: str, what: str) -> None:
    """Raise :class:`AutoMRIError` naming ``where`` when ``count`` bytes (of ``what``) exceed the cap."""
    cap = memory_cap()
    if count > cap:
        raise AutoMRIError(
            f"{where}: {what} would need {format_bytes(count)}, more than the memory cap of {format_bytes(cap)} "
            f"(set {ENV_VAR} to raise it)"
        )
