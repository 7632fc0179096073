"""Quiet federated runs: Flower's and Ray's logs go to a file in the run directory, the console
gets one progress line per round (:func:`automri.federated.report.round_line`).

``flower_logs(path, verbose=False)`` is used around a simulation: it moves Flower's console
handler (logger ``flwr``) and Python warnings to ``path`` and tells Ray (``ray_init_args``) not to
forward its workers' output to the console (the workers' own logs stay in Ray's session folder).
With ``verbose=True`` everything is shown as before, and the file gets a copy.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROGRESS = logging.getLogger("automri.federated.progress")
"""The per-round progress lines (always on the console)."""
LOG_FILE = "flower.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def ray_init_args(verbose: bool) -> dict[str, Any]:
    """Extra ``ray.init`` arguments: quiet (no worker output, only Ray errors) unless ``verbose``."""
    return {} if verbose else {"log_to_driver": False, "logging_level": logging.ERROR}


@contextmanager
def flower_logs(path: Path, verbose: bool = False) -> Iterator[None]:
    """Route Flower's log records and Python warnings to ``path`` (and, unless ``verbose``, away
    from the console) for the duration of the block; progress lines go to stderr."""
    flower = logging.getLogger("flwr")
    warnings_logger = logging.getLogger("py.warnings")
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    progress = logging.StreamHandler(sys.stderr)
    progress.setFormatter(logging.Formatter("%(message)s"))
    consoles = [] if verbose else [h for h in flower.handlers if isinstance(h, logging.StreamHandler)
                                   and not isinstance(h, logging.FileHandler)]
    for handler in consoles:
        flower.removeHandler(handler)
    flower.addHandler(file_handler)
    warnings_logger.addHandler(file_handler)
    previous_propagate = warnings_logger.propagate
    warnings_logger.propagate = verbose
    logging.captureWarnings(True)
    PROGRESS.addHandler(progress)
    PROGRESS.setLevel(logging.INFO)
    PROGRESS.propagate = False
    try:
        yield
    finally:
        logging.captureWarnings(False)
        PROGRESS.removeHandler(progress)
        warnings_logger.removeHandler(file_handler)
        warnings_logger.propagate = previous_propagate
        flower.removeHandler(file_handler)
        file_handler.close()
        for handler in consoles:
            flower.addHandler(handler)
