"""The alpha-movement trace runs each loss from the same start and writes its page."""

from __future__ import annotations

from automri.experiments import alpha_movement


def test_trace_per_loss_and_page(tmp_path) -> None:
    doc = tmp_path / "alpha.md"
    results = alpha_movement.main(["--dataset", "phantom", "--size", "16", "--hidden", "4", "--cells", "1",
                                   "--iterations", "1", "--steps", "3", "--every", "2", "--doc", str(doc)])
    assert set(results) == {"mse_mag", "mse_mag_z"}
    for trace in results.values():
        assert [p["step"] for p in trace["points"]] == [2, 3] and trace["grad_abs_mean"] > 0
        assert 0 < trace["points"][-1]["alpha_absmax"] < 3 * 3e-3 + 0.01  # Adam: about lr per step at most
    assert "python benchmarks/alpha_movement.py" in doc.read_text()
