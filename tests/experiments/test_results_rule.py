"""The verdict rule of docs/results.md: ties, significance, claims, and the page without runs."""

from __future__ import annotations

import numpy as np
import pytest

from automri.errors import AutoMRIError
from automri.experiments.results import claim_verdict, outcome, paired_test, results_page


def test_a_difference_within_the_tie_band_is_a_tie_even_if_significant() -> None:
    assert outcome(0.29, True) == "tie" and outcome(0.5, True) == "beats" and outcome(-0.5, True) == "loses"
    assert outcome(0.5, False) == "inconclusive"
    assert claim_verdict(["beats", "beats"]) == "reproduced" and claim_verdict(["beats", "tie"]) == "partly"
    assert claim_verdict(["tie", "loses"]) == "not reproduced" and claim_verdict([]) == "not reproduced"


def test_paired_test_pairs_slices_by_key_and_detects_a_consistent_gain() -> None:
    rng = np.random.default_rng(0)
    base = {("v", str(k)): 20 + rng.standard_normal() for k in range(20)}
    better = {key: value + 1.0 + 0.1 * rng.standard_normal() for key, value in base.items()}
    better[("other", "0")] = 99.0  # not in the other run: not paired
    test = paired_test(better, base)
    assert test["n"] == 20 and test["diff"] == pytest.approx(1.0, abs=0.1) and test["p"] < 1e-3
    assert paired_test(base, dict(base))["p"] == 1.0
    with pytest.raises(AutoMRIError, match="common test slices"):
        paired_test(base, {("x", "1"): 1.0})


def test_page_without_runs_lists_every_experiment_as_not_run_with_its_command() -> None:
    page = results_page({})
    assert page.count("| not run |") == 3 and "--scale study" in page and "**Rule.**" in page
