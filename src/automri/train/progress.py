"""Rich progress bars for long loops (training epochs, evaluation).

The bar shows the task, a bar, ``done/total``, the latest loss and the ETA. It is turned off
automatically when standard error is not a terminal (logs, CI, pipes) or when the environment
variable ``AUTOMRI_NO_PROGRESS=1`` is set.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_enabled() -> bool:
    """Whether progress bars should be shown: stderr is a TTY and ``AUTOMRI_NO_PROGRESS`` is not 1."""
    if os.environ.get("AUTOMRI_NO_PROGRESS", "").strip() in ("1", "true", "yes"):
        return False
    return sys.stderr.isatty()


def make_progress(disable: bool = False) -> Progress:
    """A Rich :class:`~rich.progress.Progress` on stderr with a ``loss`` field.

    Use ``task = progress.add_task("epoch 1/10", total=n, loss=float("nan"))`` and
    ``progress.update(task, advance=1, loss=value)``. Disabled (a silent no-op) when ``disable``
    is true or :func:`progress_enabled` is false.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4g}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=disable or not progress_enabled(),
        transient=False,
    )
