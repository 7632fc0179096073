"""The convergence rule: a fitted rise over the last 20% of a curve."""

from __future__ import annotations

import numpy as np
import pytest

from automri.eval.convergence import converged, convergence_sentence, tail_rise


def test_rising_curve_is_not_converged_and_a_plateau_is() -> None:
    rising = list(np.linspace(15, 25, 50))
    plateau = [25 - 10 * np.exp(-k / 5) for k in range(50)]
    assert tail_rise(rising) == pytest.approx(10 / 49 * 9, rel=1e-6)
    assert converged(rising) is False and converged(plateau) is True
    assert "not converged" in convergence_sentence("DC-CNN", rising, "epoch")


def test_noise_alone_does_not_decide_and_short_curves_are_not_assessed() -> None:
    rng = np.random.default_rng(0)
    noisy_flat = list(22 + 0.3 * rng.standard_normal(100))
    assert converged(noisy_flat) is True
    assert converged([1.0, 2.0]) is None and tail_rise([1.0, float("nan"), 2.0]) is None
    assert "not assessed" in convergence_sentence("x", [1.0])
