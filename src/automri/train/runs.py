"""The run directory: one folder per training or search run.

Layout (``DESIGN.md``)::

    RUN/config.yaml           fully resolved configuration
    RUN/metrics.jsonl         one JSON record per epoch (and optional per-step records)
    RUN/checkpoint-last.pt    latest state, for --resume
    RUN/checkpoint-best.pt    weights with the best validation PSNR
    RUN/summary.json          final summary
    RUN/figures/              PNG figures
    RUN/*.jsonl               other logs, e.g. alpha.jsonl for searches

JSONL records carry the 1-based ``epoch`` they belong to (and, for per-step records, the 1-based
``step_in_epoch``); :meth:`RunDir.truncate_logs` uses them to drop what a resumed run will write again.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from automri.atomic import dumps_strict, remove_stale_temporaries, write_json_atomic, write_text_atomic
from automri.errors import AutoMRIError
from automri.train.checkpoint import previous_generation
from automri.train.config import parse_yaml

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
CHECKPOINT_LAST = "checkpoint-last.pt"
CHECKPOINT_BEST = "checkpoint-best.pt"
SUMMARY = "summary.json"
FIGURES = "figures"
CONFIG_MARK = "# run configuration written by automri\n"
"""First line of every ``config.yaml`` a run writes: :func:`never_started` only ever clears a folder
whose ``config.yaml`` carries it, never one holding a configuration a user wrote there."""


class RunDir:
    """Create or reopen a run directory.

    Args:
        path: the run folder (``--out``).
        resume: reopen an existing run to continue it (``--resume``); the folder must exist.
        overwrite: replace an existing run (a folder holding ``config.yaml``); without it a
            non-empty folder is refused so that no run is clobbered by accident.
        start_files: files a run of this kind writes when it opens, before any progress (a
            federated run's token and log): they do not make a failed start count as started.

    Opening removes the temporary files of a save killed mid-write. A run that failed before it
    made any progress (:func:`never_started`: only ``config.yaml`` and empty logs) does not block
    the next command: it is cleared and the new run starts. A ``checkpoint-last.pt`` lost between
    the two renames of a save is restored from ``checkpoint-last.prev.pt`` on resume.
    """

    def __init__(
        self, path: str | os.PathLike, resume: bool = False, overwrite: bool = False, start_files: tuple[str, ...] = ()
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise AutoMRIError(f"--out {self.path}: exists and is not a directory")
        remove_stale_temporaries(self.path)
        non_empty = self.path.is_dir() and any(self.path.iterdir())
        if resume:
            if not self.path.is_dir():
                raise AutoMRIError(f"--resume: run directory {self.path} does not exist (nothing to resume)")
            _restore_last_checkpoint(self.path)
        elif non_empty and never_started(self.path, start_files):
            shutil.rmtree(self.path)
        elif non_empty:
            if not overwrite:
                raise AutoMRIError(
                    f"--out {self.path}: directory is not empty; pass --resume to continue that run "
                    "or choose a new --out"
                )
            if not (self.path / CONFIG).is_file():
                raise AutoMRIError(
                    f"--out {self.path}: refusing to overwrite a non-empty directory that is not a run "
                    f"(no {CONFIG})"
                )
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.resume = resume

    # paths -------------------------------------------------------------------------------
    @property
    def checkpoint_last(self) -> Path:
        """``RUN/checkpoint-last.pt``."""
        return self.path / CHECKPOINT_LAST

    @property
    def checkpoint_best(self) -> Path:
        """``RUN/checkpoint-best.pt``."""
        return self.path / CHECKPOINT_BEST

    @property
    def metrics_path(self) -> Path:
        """``RUN/metrics.jsonl``."""
        return self.path / METRICS

    @property
    def figures_dir(self) -> Path:
        """``RUN/figures/`` (created on first access)."""
        folder = self.path / FIGURES
        folder.mkdir(exist_ok=True)
        return folder

    # config ------------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        """Atomically write the fully resolved configuration to ``RUN/config.yaml``."""
        write_text_atomic(self.path / CONFIG, CONFIG_MARK + yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        """The configuration saved by :meth:`write_config`."""
        path = self.path / CONFIG
        if not path.is_file():
            raise AutoMRIError(f"{path}: run configuration not found (is {self.path} a run directory?)")
        config = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        if not isinstance(config, dict):
            raise AutoMRIError(f"{path}: expected a mapping of settings, found {type(config).__name__}")
        return config

    # logs --------------------------------------------------------------------------------
    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one record to ``RUN/metrics.jsonl`` (flushed to disk)."""
        self.append_jsonl(METRICS, record)

    def append_jsonl(self, name: str, record: dict[str, Any]) -> None:
        """Append one strict JSON line to ``RUN/<name>`` (non-finite numbers as ``null``, listed under
        ``"non_finite"``, :func:`automri.atomic.strict_json`) and flush it to disk."""
        line = dumps_strict(record)
        with open(self.path / name, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read_jsonl(self, name: str = METRICS) -> list[dict[str, Any]]:
        """All records of ``RUN/<name>`` (an empty list when the file does not exist).

        A final line cut short by a crash is ignored; a damaged line elsewhere is an error.
        """
        path = self.path / name
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                if number == len(lines):
                    break
                raise AutoMRIError(f"{path}: line {number} is not valid JSON ({err})") from err
        return records

    def truncate_logs(self, epochs_done: int, step_in_epoch: int = 0) -> None:
        """Drop log records that a run resumed from a checkpoint will write again.

        Applies to every ``*.jsonl`` in the run directory. A record is kept when it has no
        ``epoch``, when ``epoch <= epochs_done``, or when it is a per-step record of the epoch in
        progress (``epoch == epochs_done + 1``) with ``step_in_epoch <= step_in_epoch``.
        """
        for path in sorted(self.path.glob("*.jsonl")):
            records = self.read_jsonl(path.name)
            kept = [r for r in records if _keep(r, epochs_done, step_in_epoch)]
            text = "".join(dumps_strict(r) + "\n" for r in kept)
            write_text_atomic(path, text)

    def write_json(self, name: str, obj: Any) -> None:
        """Atomically write ``obj`` as JSON to ``RUN/<name>`` (e.g. ``summary.json``)."""
        write_json_atomic(self.path / name, obj)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


def never_started(path: str | os.PathLike, start_files: tuple[str, ...] = ()) -> bool:
    """Whether ``path`` holds a run that failed before its first step: ``config.yaml`` written by
    :meth:`RunDir.write_config` and, besides it, only ``start_files``, empty ``*.jsonl`` logs and
    empty folders (no checkpoint, summary, figure or foreign file)."""
    root = Path(path)
    if not (root / CONFIG).is_file():
        return False
    with open(root / CONFIG, encoding="utf-8", errors="replace") as handle:
        if handle.readline() != CONFIG_MARK:
            return False
    for entry in root.iterdir():
        if entry.name == CONFIG or entry.name in start_files:
            continue
        if entry.is_dir() and not any(entry.iterdir()):
            continue
        if entry.is_file() and entry.suffix == ".jsonl" and entry.stat().st_size == 0:
            continue
        return False
    return True


def require_resumable(path: str | os.PathLike, nested: bool = False) -> None:
    """Raise :class:`AutoMRIError` unless ``path`` holds a ``checkpoint-last.pt`` (or its previous
    generation) to resume from, so that ``--resume`` never silently starts from step 0.
    ``nested``: a run made of sub-runs (an EMR-NAS search: one per fold) resumes when any of them
    saved a checkpoint."""
    root = Path(path)
    if not root.is_dir():
        raise AutoMRIError(f"--resume: run directory {root} does not exist (nothing to resume)")
    last = root / CHECKPOINT_LAST
    found = last.is_file() or previous_generation(last).is_file()
    if nested and not found:
        found = any(root.rglob(CHECKPOINT_LAST)) or any(root.rglob(previous_generation(last).name))
    if not found:
        raise AutoMRIError(
            f"--resume: {root} has no {CHECKPOINT_LAST} to continue from (the run never saved one); "
            "run the command without --resume to start it again"
        )


def _restore_last_checkpoint(root: Path) -> None:
    """Put ``checkpoint-last.prev.pt`` back as ``checkpoint-last.pt`` when a save was killed between its renames."""
    last = root / CHECKPOINT_LAST
    previous = previous_generation(last)
    if not last.exists() and previous.is_file():
        os.replace(previous, last)


def _keep(record: dict[str, Any], epochs_done: int, step_in_epoch: int) -> bool:
    epoch = record.get("epoch")
    if epoch is None or epoch <= epochs_done:
        return True
    return epoch == epochs_done + 1 and record.get("step_in_epoch", math.inf) <= step_in_epoch

