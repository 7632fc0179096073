"""Progress bars switch themselves off outside terminals and with AUTOMRI_NO_PROGRESS=1."""

from __future__ import annotations

import sys

from automri.train.progress import make_progress, progress_enabled


def test_progress_follows_the_tty_and_the_environment(monkeypatch):
    monkeypatch.delenv("AUTOMRI_NO_PROGRESS", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress_enabled() and not make_progress().disable
    assert make_progress(disable=True).disable
    monkeypatch.setenv("AUTOMRI_NO_PROGRESS", "1")
    assert not progress_enabled() and make_progress().disable
    monkeypatch.delenv("AUTOMRI_NO_PROGRESS")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not progress_enabled()


def test_progress_bar_tracks_loss_fields():
    with make_progress(disable=True) as bar:
        task = bar.add_task("epoch 1/1", total=3, loss=float("nan"))
        bar.update(task, advance=2, loss=0.5)
        assert bar.tasks[0].completed == 2 and bar.tasks[0].fields["loss"] == 0.5
