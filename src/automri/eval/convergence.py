"""Whether a learning curve has converged: the rise of a least-squares line over its last 20%.

The evidence issue's rule: a run has converged when its validation PSNR is flat over the last 20%
of its steps. "Flat" here: the straight line fitted to the curve's last ``fraction`` of points
rises by less than ``FLAT_RISE_DB`` from the first of those points to the last (a fit, so that one
noisy round neither hides nor fakes a trend).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

FLAT_RISE_DB = 0.2
TAIL_FRACTION = 0.2


def tail_rise(values: Sequence[float], fraction: float = TAIL_FRACTION) -> float | None:
    """Rise (dB) of the least-squares line through the last ``fraction`` of ``values`` (at least
    3 points), over their span; ``None`` when the curve has fewer than 3 finite points."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if len(finite) < 3:
        return None
    tail = np.asarray(finite[-max(3, math.ceil(fraction * len(finite))):])
    slope = np.polyfit(np.arange(len(tail), dtype=float), tail, 1)[0]
    return float(slope * (len(tail) - 1))


def converged(values: Sequence[float], fraction: float = TAIL_FRACTION, tolerance: float = FLAT_RISE_DB) -> bool | None:
    """Whether the curve is flat over its last ``fraction`` (``None``: too short to say)."""
    rise = tail_rise(values, fraction)
    return None if rise is None else rise < tolerance


def convergence_sentence(name: str, values: Sequence[float], unit: str = "point") -> str:
    """One sentence: the curve's rise over its last 20% and the verdict."""
    rise = tail_rise(values)
    if rise is None:
        return f"{name}: fewer than 3 {unit}s, convergence not assessed."
    verdict = "converged" if rise < FLAT_RISE_DB else "still rising: not converged"
    return (f"{name}: validation PSNR rose {rise:+.2f} dB over the last {TAIL_FRACTION:.0%} of its {len(values)} "
            f"{unit}s (fitted line; flat below {FLAT_RISE_DB} dB): {verdict}.")
