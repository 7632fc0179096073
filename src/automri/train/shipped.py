"""Shipped models: trained networks that ship inside the package, found by name.

Each entry is a folder ``automri/shipped/<name>/`` (package data, no code) holding

- ``model.pt``: a checkpoint ``{"model": state_dict, "meta": {"config": resolved RunConfig dict}}``
  (the format :func:`automri.train.engine.load_trained` reads, so a path to it works too);
- ``config.yaml``: the training run's resolved configuration (``automri train --config`` retrains it);
- ``entry.json``: ``{"name", "description", "model", "params", "recipe" (the resolved configuration:
  model name + options or genotype, data, training recipe), "train_command" (the command that
  trained it), "history" (how the run was actually produced, e.g. an interruption and resume),
  "ship_command" (the command that made the entry), "data": {"dataset", "size",
  "mask", "phase", "seed", "split", "slices", "volumes"}, "test": {"psnr", "ssim", "nmse"}
  (fastMRI per-volume means on ``data.split``, source units) plus "test_slice" (per-slice means),
  "sha256": {"model.pt": hex digest}, "created"}``.

:func:`load_shipped` verifies the checksum before it builds the network (a mismatch is an
:class:`AutoMRIError`), then builds it by the one factory and loads the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.train.checkpoint import load_checkpoint
from automri.train.config import RunConfig, config_from_dict
from automri.train.device import resolve_device
from automri.train.engine import build_from_config, load_trained

SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "shipped"
"""Where the package's shipped entries live (``src/automri/shipped``)."""
ENTRY_FILE = "entry.json"
WEIGHTS_FILE = "model.pt"
REQUIRED_KEYS = ("name", "model", "recipe", "train_command", "data", "test", "sha256")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of the file at ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_names(root: str | os.PathLike = SHIPPED_ROOT) -> list[str]:
    """Names of the entries under ``root`` (folders holding an ``entry.json``), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / ENTRY_FILE).is_file())


def read_entry(name: str, root: str | os.PathLike = SHIPPED_ROOT) -> dict[str, Any]:
    """The ``entry.json`` of shipped model ``name``; unknown names and malformed entries are
    :class:`AutoMRIError` naming what is wrong."""
    folder = Path(root) / name
    path = folder / ENTRY_FILE
    if name not in shipped_names(root):
        names = ", ".join(shipped_names(root)) or "none"
        raise AutoMRIError(f"{name!r}: not a shipped model (shipped: {names})")
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AutoMRIError(f"{path}: unreadable shipped-model entry ({err})") from err
    missing = [key for key in REQUIRED_KEYS if not isinstance(entry, dict) or key not in entry]
    if missing:
        raise AutoMRIError(f"{path}: shipped-model entry lacks {', '.join(missing)}")
    return entry


def list_shipped(root: str | os.PathLike = SHIPPED_ROOT) -> list[dict[str, Any]]:
    """Every shipped entry (``entry.json`` dicts), by name."""
    return [read_entry(name, root) for name in shipped_names(root)]


def verify_checksum(name: str, entry: dict[str, Any], root: str | os.PathLike = SHIPPED_ROOT) -> Path:
    """Path of the entry's ``model.pt`` after checking its SHA-256 against ``entry["sha256"]``."""
    weights = Path(root) / name / WEIGHTS_FILE
    if not weights.is_file():
        raise AutoMRIError(f"{weights}: shipped model {name!r} has no weights file")
    expected = entry["sha256"].get(WEIGHTS_FILE) if isinstance(entry["sha256"], dict) else None
    actual = sha256_file(weights)
    if actual != expected:
        raise AutoMRIError(
            f"{weights}: checksum mismatch for shipped model {name!r} (sha256 {actual}, entry.json says {expected}); "
            "the file is damaged or was replaced"
        )
    return weights


def load_shipped(
    name: str, device: str | torch.device = "cpu", root: str | os.PathLike = SHIPPED_ROOT
) -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    """``(model in eval mode, its configuration, its entry)`` of shipped model ``name``, with the
    checksum verified first."""
    entry = read_entry(name, root)
    weights = verify_checksum(name, entry, root)
    device = resolve_device(device)
    checkpoint = load_checkpoint(weights, map_location=device)
    config = config_from_dict(entry["recipe"], f"{Path(root) / name / ENTRY_FILE} (recipe)")
    model = build_from_config(config).to(device)
    try:
        model.load_state_dict(checkpoint["model"])
    except (KeyError, RuntimeError) as err:
        raise AutoMRIError(f"{weights}: weights do not fit the recipe of shipped model {name!r} ({err})") from err
    return model.eval(), config, entry


def resolve_checkpoint(
    spec: str, device: str | torch.device = "cpu", root: str | os.PathLike = SHIPPED_ROOT
) -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    """A ``--checkpoint NAME|PATH``: a shipped model's name (when no such path exists), a run
    directory or a checkpoint file. Returns ``(model, config, origin)`` where ``origin`` is
    ``{"kind": "shipped" | "run" | "checkpoint", "checkpoint": spec, ...}`` (shipped: with its entry)."""
    path = Path(spec)
    if not path.exists() and spec in shipped_names(root):
        model, config, entry = load_shipped(spec, device, root)
        return model, config, {"kind": "shipped", "checkpoint": spec, "entry": entry}
    if not path.exists():
        names = ", ".join(shipped_names(root)) or "none"
        raise AutoMRIError(f"--checkpoint {spec!r}: not a shipped model ({names}) and no such run directory or checkpoint file")
    model, config = load_trained(path, device)
    return model, config, {"kind": "run" if path.is_dir() else "checkpoint", "checkpoint": str(path)}


__all__ = [
    "SHIPPED_ROOT", "list_shipped", "load_shipped", "read_entry", "resolve_checkpoint", "sha256_file",
    "shipped_names", "verify_checksum",
]
