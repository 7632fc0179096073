"""EMR-NAS 3-fold ensemble of architecture probabilities and the paper's display notation."""

import pytest

from automri.errors import AutoMRIError
from automri.nas.rir.genotype import ensemble_genotype, format_genotype, homogeneous_genotype

OPS3 = ("O1", "O2", "O3")


def test_sum_of_fold_probabilities_not_a_majority_vote() -> None:
    folds = [
        [[0.40, 0.35, 0.25], [0.1, 0.2, 0.7]],
        [[0.40, 0.35, 0.25], [0.1, 0.8, 0.1]],
        [[0.05, 0.90, 0.05], [0.1, 0.8, 0.1]],
    ]
    # cell 0: two folds vote O1 but the sums are O1 0.85, O2 1.60, O3 0.55 -> O2.
    # cell 1: sums O1 0.3, O2 1.8, O3 0.9 -> O2.
    assert ensemble_genotype(folds, OPS3) == ["O2", "O2"]
    assert ensemble_genotype(folds[:1], OPS3) == ["O1", "O3"]


def test_homogeneous_takes_one_op_per_block() -> None:
    folds = [[[0.6, 0.3, 0.1], [0.0, 0.5, 0.5], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6]]]
    # block 0 sums: O1 0.6, O2 0.8, O3 0.6 -> O2; block 1: O1 0.3, O2 0.3, O3 1.4 -> O3.
    assert homogeneous_genotype(folds, cells_per_block=2, op_names=OPS3) == ["O2", "O2", "O3", "O3"]


def test_display_in_paper_notation() -> None:
    ops = "O5 O8 O8 O8 O8 O8 O4 O1 O2 O8 O8 O8 O6 O8 O8".split()
    assert format_genotype(ops) == "[O5 O8 O8|O8 O8 O8|O4 O1 O2|O8 O8 O8|O6 O8 O8]"
    assert format_genotype(ops[:4], cells_per_block=2) == "[O5 O8|O8 O8]"


def test_mismatched_folds_are_rejected() -> None:
    with pytest.raises(AutoMRIError, match="fold 1"):
        ensemble_genotype([[[0.5, 0.3, 0.2]], [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]], OPS3)
    with pytest.raises(AutoMRIError, match="at least one fold"):
        ensemble_genotype([], OPS3)
