"""The binarization comparison runs both rules on the same folds and writes its page."""

from __future__ import annotations

from automri.experiments import binarization


def test_both_rules_on_the_same_search_and_the_page(tmp_path) -> None:
    argv = ["--dataset", "phantom", "--size", "16", "--folds", "2", "--width", "4", "--components", "1",
            "--steps", "1", "--warmup-epochs", "1", "--epochs", "2", "--retrain-epochs", "1",
            "--out", str(tmp_path / "run"), "--doc", str(tmp_path / "binarization.md")]
    results = binarization.main(argv)
    assert set(results) == {"sample", "argmax"}
    for entry in results.values():
        assert len(entry["margins"]) == 2 and all(len(curve) == 2 for curve in entry["margins"])  # search epochs only
        assert len(entry["fold_test"]) == 2
    page = (tmp_path / "binarization.md").read_text()
    assert "python benchmarks/binarization.py" in page and "argmax − sample" in page
    again = binarization.main(argv)  # resumes: nothing is searched or trained again
    assert again["sample"]["test"] == results["sample"]["test"]
