"""What every experiment run directory shares: opening it, progress lines, the exact command,
finished sub-runs on ``--resume``, the summary and the common report sections.

An experiment directory (``OUT``) holds ``config.yaml`` (experiment name, scale, options),
``summary.json`` (``{"experiment", "scale", "command", "machine", "started", "finished",
"results"}``), ``report.md``, ``figures/`` and one sub-directory per sub-run (each a run directory
of :mod:`automri.train.runs` or of a federated run). ``automri report OUT`` rebuilds ``report.md``
and ``figures/`` from these files alone (:mod:`automri.experiments.rebuild_report`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from automri.atomic import atomic_path
from automri.errors import AutoMRIError
from automri.eval.report import machine_info, markdown_table
from automri.train.runs import RunDir

SUMMARY = "summary.json"
REPORT = "report.md"
EXAMPLES = "examples.npz"
Say = Callable[[str], None]


def command_line() -> str:
    """The command that started this process, as a user would type it (``automri demo ...``)."""
    program = Path(sys.argv[0]).name if sys.argv else "python"
    if program == "automri" or program.endswith("automri"):
        return shlex.join(["automri", *sys.argv[1:]])
    return shlex.join(["python", *sys.argv])


def console_say(enabled: bool = True) -> Say:
    """A progress printer: ``[hh:mm:ss] message`` on stderr through Rich (no-op when disabled)."""
    if not enabled:
        return lambda message: None

    console = Console(stderr=True, highlight=False)
    return lambda message: console.print(f"[dim]{_dt.datetime.now():%H:%M:%S}[/dim] {message}")


def open_experiment(out: str | os.PathLike, experiment: str, config: dict[str, Any], resume: bool,
                    overwrite: bool = False) -> RunDir:
    """Create (or, with ``resume``, reopen) the experiment directory and write ``config.yaml``."""
    out = Path(out)
    if resume and out.is_dir() and (out / "config.yaml").is_file():
        saved = RunDir(out, resume=True).read_config()
        if saved.get("experiment") != experiment:
            raise AutoMRIError(f"--resume: {out} holds a {saved.get('experiment')!r} run, not {experiment!r}")
    run = RunDir(out, resume=resume and out.is_dir(), overwrite=overwrite)
    run.write_config({"experiment": experiment, **config})
    return run


def finished(path: Path) -> bool:
    """Whether the sub-run in ``path`` completed (it wrote ``summary.json``)."""
    return (path / SUMMARY).is_file()


def read_json(path: Path) -> Any:
    """JSON content of ``path``; a clear error naming the file when missing or broken."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise AutoMRIError(f"{path}: missing (is this a finished experiment directory?)") from err
    except json.JSONDecodeError as err:
        raise AutoMRIError(f"{path}: not valid JSON ({err})") from err


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL log (empty list when the file does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_summary(run: RunDir, experiment: str, scale: dict[str, Any], command: str, started: str,
                  results: dict[str, Any]) -> dict[str, Any]:
    """Write ``summary.json`` with the machine, the date, the exact command and ``results``."""
    summary = {
        "experiment": experiment,
        "scale": scale,
        "command": command,
        "machine": machine_info(),
        "started": started,
        "finished": _dt.datetime.now().isoformat(timespec="seconds"),
        "results": results,
    }
    run.write_json(SUMMARY, summary)
    return summary


def write_examples(path: Path, arrays: dict[str, Any]) -> None:
    """Save the example images ``arrays`` (name -> real ``[H, W]``, e.g. ``target``, ``mask`` and one
    magnitude per model) as float32 in a compressed ``.npz`` at ``path``, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})


def now() -> str:
    """The current local time, ISO format to the second."""
    return _dt.datetime.now().isoformat(timespec="seconds")


def link(path: str | os.PathLike, base: str | os.PathLike) -> str:
    """``path`` relative to the folder ``base`` (POSIX separators), for Markdown links."""
    return Path(os.path.relpath(Path(path), Path(base))).as_posix()


def image(path: str | os.PathLike, base: str | os.PathLike, caption: str) -> str:
    """A Markdown image line for ``path`` as seen from the report folder ``base``."""
    return f"![{caption}]({link(path, base)})"


def machine_sentence(machine: dict[str, Any]) -> str:
    """``Machine: <cpu>, <cores> cores (...), GPU: ...; torch ..., Python ..., <platform>; date ...``."""
    return (f"Machine: {machine['cpu']}, {machine['cores']} cores ({machine['torch_threads']} torch threads), "
            f"GPU: {machine['gpu'] or 'none'}; torch {machine['torch']}, Python {machine['python']}, "
            f"{machine['platform']}; date {machine['date']}.")


def run_section(summary: dict[str, Any]) -> tuple[str, str]:
    """The "How this was produced" section: command, date, machine and scale."""
    lines = [
        f"Command: `{summary['command']}`",
        "",
        f"Started {summary['started']}, finished {summary['finished']}.",
        machine_sentence(summary["machine"]),
        "",
        f"Scale `{summary['scale']['name']}`:",
        "",
        markdown_table([{"setting": k, "value": json.dumps(v) if isinstance(v, dict | list) else v}
                        for k, v in summary["scale"].items() if k != "name"], ["setting", "value"]),
    ]
    return "How this was produced", "\n".join(lines)


def images_sentence(scale: dict[str, Any], real_because: str) -> str:
    """The report's sentence on how images were simulated, from a scale's ``phase`` (radians; ``0``:
    real-valued magnitude images, followed by ``real_because`` in parentheses)."""
    phase = scale.get("phase", math.pi)
    if phase == 0:
        return f"Images are real-valued ({real_because})."
    return f"Images carry a smooth synthetic phase of up to {phase:.3g} rad."


def augment_sentence(scale: dict[str, Any], trained: str = "Training slices",
                     scored: str = "validation and test slices") -> str:
    """The report's sentence on training augmentation, from a scale's ``augment`` spec: whether the
    ``trained`` slices were augmented and that the ``scored`` ones were not."""
    augment = scale.get("augment", "none")
    if augment == "none":
        return f"{trained} are not augmented."
    return (f"{trained} are augmented (`{augment}`: random flips, rotations, zooms and shifts of the image, "
            f"k-space simulated afterwards) with a fresh mask every epoch; {scored} are not.")


def run_script(main: Callable[[list[str]], Any]) -> None:
    """The entry point of a ``benchmarks/`` script: ``main(sys.argv[1:])``, with an
    :class:`~automri.errors.AutoMRIError` printed as one line and exit status 2 (as the CLI does)."""
    try:
        main(sys.argv[1:])
    except AutoMRIError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
