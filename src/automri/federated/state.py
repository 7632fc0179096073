"""Durable state of a federated run: the clients' private state and the server's checkpoint.

*Client side.* Flower keeps ``context.state`` per (node, run) only: it is empty in a new run (a
resumed server starts a new run) and lost when a SuperNode restarts. :class:`ClientStore` therefore
mirrors it to the client's own folder (``state-r<round>.pt``, written atomically, the two latest
kept) and tags it with the run token, so a resumed run continues from the client's own copy and a
new run never picks up a stale one. Nothing in here is ever sent to the server.

*Server side.* :func:`open_run` creates or reopens the run directory; the server writes
``checkpoint-last.pt`` (global weights, strategy state, round, history; no optimiser: clients
re-create theirs every round) atomically after every round, and ``--resume`` continues from it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context

from automri.errors import AutoMRIError
from automri.federated.logs import LOG_FILE
from automri.federated.options import FedConfig, check_resume_compatible
from automri.train.checkpoint import load_checkpoint, save_checkpoint
from automri.train.runs import RunDir

StateDict = dict[str, torch.Tensor]
RUN_TOKEN_FILE = "run-token.txt"
START_FILES = (RUN_TOKEN_FILE, LOG_FILE)
"""What a federated run writes before its first round: a run that failed there does not block a retry."""
_META = "automri-meta"
_PREFIX = "automri-w:"
_SNAPSHOT = re.compile(r"state-r(\d+)\.pt$")
KEEP_SNAPSHOTS = 2


@dataclass
class ClientState:
    """A client's private state after ``round``: named weight sets and numeric counters."""

    round: int
    weights: dict[str, StateDict] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)


class ClientStore:
    """Read and write one client's :class:`ClientState` in ``context.state`` and ``folder``.

    ``token`` identifies the run series (same across a server resume); state from another token
    is ignored. ``folder=None`` keeps the state in memory only (``context.state``).
    """

    def __init__(self, context: Context, folder: Path | None, token: str) -> None:
        self.context, self.folder, self.token = context, folder, token

    def load(self, at_most_round: int) -> ClientState | None:
        """The newest state saved for a round ``<= at_most_round`` (``None``: nothing yet)."""
        state = self._from_context()
        if state is not None and state.round <= at_most_round:
            return state
        return self._from_disk(at_most_round)

    def save(self, state: ClientState) -> None:
        """Keep ``state`` in ``context.state`` and (atomically) on disk."""
        records = self.context.state
        for name in [n for n in records if n.startswith(_PREFIX) or n == _META]:
            del records[name]
        for name, weights in state.weights.items():
            records[_PREFIX + name] = ArrayRecord({k: v.detach().cpu() for k, v in weights.items()})
        records[_META] = ConfigRecord(
            {"round": state.round, "token": self.token, **{k: float(v) for k, v in state.counters.items()}}
        )
        if self.folder is None:
            return
        save_checkpoint(
            self.folder / f"state-r{state.round:05d}.pt",
            {"round": state.round, "token": self.token, "weights": state.weights, "counters": state.counters},
        )
        for old in self._snapshots()[:-KEEP_SNAPSHOTS]:
            old[1].unlink(missing_ok=True)

    def _from_context(self) -> ClientState | None:
        records = self.context.state
        if _META not in records or records[_META]["token"] != self.token:
            return None
        meta = dict(records[_META])
        weights = {
            name[len(_PREFIX):]: records[name].to_torch_state_dict() for name in records if name.startswith(_PREFIX)
        }
        counters = {k: float(v) for k, v in meta.items() if k not in ("round", "token")}
        return ClientState(int(meta["round"]), weights, counters)

    def _snapshots(self) -> list[tuple[int, Path]]:
        if self.folder is None or not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _SNAPSHOT.search(p.name))]
        return sorted(found)

    def _from_disk(self, at_most_round: int) -> ClientState | None:
        for round_, path in reversed(self._snapshots()):
            if round_ > at_most_round:
                continue
            data = load_checkpoint(path)
            if data.get("token") != self.token:
                return None
            return ClientState(int(data["round"]), data["weights"], dict(data["counters"]))
        return None


def client_folder(config: FedConfig, node_config: dict[str, Any], client_name: str) -> Path | None:
    """A client's private folder: the node's ``state-dir`` (deployment) or
    ``<config.client_root>/<client name>`` (simulation); ``None`` when neither is set."""
    if node_config.get("state-dir"):
        return Path(str(node_config["state-dir"]))
    if config.client_root:
        return Path(config.client_root) / client_name
    return None


# --- server side --------------------------------------------------------------------------
def open_run(config: FedConfig, resume: bool, overwrite: bool = False) -> tuple[RunDir, str]:
    """Create (or with ``resume`` reopen) the run directory ``config.out`` before the apps start;
    returns it and the run token. A fresh run writes ``config.yaml`` and a new token (``overwrite``
    replaces an earlier run there); a resumed run checks that the saved configuration is compatible
    (:func:`check_resume_compatible`) and rewrites ``config.yaml`` with the new rounds/timeouts."""
    run = RunDir(config.out, resume=resume, overwrite=overwrite, start_files=START_FILES)
    token_path = run.path / RUN_TOKEN_FILE
    if resume:
        saved = FedConfig.from_dict(run.read_config(), str(run.path / "config.yaml"))
        check_resume_compatible(saved, config, str(run.path / "config.yaml"))
        if not token_path.is_file():
            raise AutoMRIError(f"--resume: {token_path} missing ({run.path} is not a federated run)")
        token = token_path.read_text(encoding="utf-8").strip()
    else:
        token = uuid.uuid4().hex
        token_path.write_text(token + "\n", encoding="utf-8")
    run.write_config(config.to_dict())
    return run, token


def attach_run(config: FedConfig) -> tuple[RunDir, str]:
    """The run directory prepared by :func:`open_run`, as the ServerApp sees it, and its token."""
    run = RunDir(config.out, resume=True)
    token_path = run.path / RUN_TOKEN_FILE
    if not token_path.is_file():
        raise AutoMRIError(f"{token_path} missing: prepare the run with open_run() before starting the ServerApp")
    return run, token_path.read_text(encoding="utf-8").strip()


def save_server_checkpoint(run: RunDir, state: dict[str, Any]) -> None:
    """Atomically write the server's state after a round to ``RUN/checkpoint-last.pt``."""
    save_checkpoint(run.checkpoint_last, state)


def load_server_checkpoint(run: RunDir) -> dict[str, Any] | None:
    """The server checkpoint of ``run`` (``None`` when the run has not finished a round yet)."""
    return load_checkpoint(run.checkpoint_last) if run.checkpoint_last.is_file() else None
