"""Checkpoint files: atomic save, safe load.

A checkpoint is a ``dict`` of tensors, numbers, strings, lists and dicts (model and optimiser
``state_dict``s, RNG states, counters). It is written atomically (:mod:`automri.atomic`), so a
crash during ``save_checkpoint`` leaves the previous checkpoint intact, and it is read with
``torch.load(weights_only=True)``, so loading a checkpoint never runs arbitrary pickled code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from automri.atomic import atomic_open
from automri.errors import AutoMRIError


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically write ``state`` to ``path`` with ``torch.save`` (parent folders are created)."""
    with atomic_open(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`AutoMRIError` naming ``path`` when the file is missing, truncated or not a
    checkpoint dict.
    """
    path = Path(path)
    if not path.is_file():
        raise AutoMRIError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... on bad files
        raise AutoMRIError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict):
        raise AutoMRIError(f"{path}: expected a checkpoint dict, found {type(state).__name__}")
    return state
