"""``automri predict``: run a trained network on a dataset and write fastMRI-style reconstruction files.

For a shipped model (by name), a run directory or a checkpoint file, and any supported dataset (a
built-in name or a file/folder in a supported format, through the one dataset builder
:func:`automri.data.datasets.build_splits`, never augmented), :func:`run_predict` writes

- ``OUT/<volume>.h5``: dataset ``reconstruction`` float32 ``[slices, H, W]``, the network's
  magnitudes in SOURCE units (each slice multiplied back by its ``Sample.scale``, as the evaluator
  scores them), with the input file's attributes (when the input is an HDF5 file) and ``automri_*``
  attributes naming the model, the mask, the image size (``automri_size``, 0: native), the split,
  the slice indices and the command;
- ``OUT/zero_filled/<volume>.h5``: the zero-filled baseline ``A^H k`` in the same layout;
- ``OUT/targets/<volume>.h5``: the fully sampled targets (``reconstruction_esc`` for single-coil
  data, ``reconstruction_rss`` for coil data), so ``automri score --targets OUT/targets
  --predictions OUT`` rescores the files;
- ``OUT/scores.json``, ``OUT/volumes.csv``, ``OUT/slices.csv``: the scores of the network and of
  zero-filled, computed from the WRITTEN files by :mod:`automri.eval.score` (``automri score``'s own
  functions): fastMRI per-volume PSNR/SSIM/NMSE and per-slice scores.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from automri.atomic import atomic_open, atomic_path, write_json_atomic
from automri.data.readers.common import open_h5
from automri.data.splits import SPLITS
from automri.errors import AutoMRIError
from automri.eval.metrics import METRICS, Summary
from automri.eval.score import score_directory, score_slices
from automri.experiments.experiment import Say, command_line
from automri.models.common import zero_filled
from automri.train.config import RunConfig, apply_overrides
from automri.train.engine import build_split
from automri.train.evaluate import in_source_units, predict
from automri.train.preflight import check_run_fits
from automri.train.shipped import resolve_checkpoint

PREDICTION_KEY = "reconstruction"
ZERO_FILLED = "zero_filled"
TARGETS = "targets"
SCORES = "scores.json"
H5_SUFFIXES = (".h5", ".hdf5")
METHODS = ("model", ZERO_FILLED)


def safe_name(volume: str) -> str:
    """A file name for volume id ``volume``: its characters other than letters, digits and ``-_.``
    become ``_``; a fastMRI volume keeps its file stem (``file1000000``)."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(volume)).strip(".")
    return name or "volume"


def model_label(config: RunConfig) -> str:
    """``dccnn`` for a registry model, ``<space>_net`` for a genotype network."""
    return config.model.name if config.model.name is not None else f"{config.model.genotype['space']}_net"


def predict_config(config: RunConfig, dataset: str | None, mask: str | None, size: int | None,
                   split: str = "test") -> RunConfig:
    """The model's configuration with the data flags applied and augmentation off (predictions are
    made on slices as acquired); checked by :func:`automri.train.preflight.check_run_fits` (on
    ``split``'s image size when the size is native)."""
    resolved = apply_overrides(config, {"data.dataset": dataset, "data.mask": mask, "data.size": size,
                                        "data.augment": "none"}, source="flags")
    check_run_fits(resolved, split)
    return resolved


def build_predict_split(config: RunConfig, split: str, max_slices: int | None = None) -> Any:
    """The ``split`` of the configured dataset, by the one builder (no augmentation on any split)."""
    if split not in SPLITS:
        raise AutoMRIError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    return build_split(config, split, max_slices, augmented=False)


def reconstruct(model: torch.nn.Module, dataset: Any, batch_size: int = 4, device: str = "cpu") -> dict[str, dict[str, Any]]:
    """Run ``model`` over ``dataset`` by the evaluator's :func:`~automri.train.evaluate.predict`.

    Returns ``{volume: {"slices": [index], "model", "zero_filled", "target": float32 [S, H, W]
    magnitudes in source units, "file": input file path or None, "coils": bool}}``, slices sorted.
    """
    grouped: dict[str, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    files: dict[str, tuple[str | None, bool]] = {}
    for batch, prediction in predict(model, dataset, batch_size, device):
        recon = in_source_units(batch, prediction)
        baseline = in_source_units(batch, zero_filled(batch.kspace, batch.mask, batch.sens))
        target = in_source_units(batch, batch.target)
        for i, meta in enumerate(batch.meta):
            volume, index = str(meta["volume"]), int(meta["slice"])
            grouped.setdefault(volume, {})[index] = (recon[i].numpy(), baseline[i].numpy(), target[i].numpy())
            files[volume] = (meta.get("file") or meta.get("source"), batch.sens is not None)
    volumes = {}
    for volume, slices in grouped.items():
        order = sorted(slices)
        stacked = [np.stack([slices[i][k] for i in order]).astype(np.float32) for k in range(3)]
        volumes[volume] = {"slices": order, "model": stacked[0], ZERO_FILLED: stacked[1], "target": stacked[2],
                           "file": files[volume][0], "coils": files[volume][1]}
    return volumes


def input_attributes(path: str | None) -> dict[str, Any]:
    """The root attributes of the input HDF5 file ``path`` (read through the safe opener), or ``{}``
    when the input is not an HDF5 file (a NIfTI volume, a built-in dataset)."""
    if path is None or Path(str(path)).suffix.lower() not in H5_SUFFIXES or not Path(str(path)).is_file():
        return {}
    with open_h5(path) as handle:
        return {key: handle.attrs[key] for key in handle.attrs}


def write_volume(path: Path, key: str, images: np.ndarray, attrs: dict[str, Any]) -> None:
    """Atomically write ``images`` float32 ``[S, H, W]`` as dataset ``key`` of a new HDF5 file ``path``
    with root attributes ``attrs``."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset(key, data=images.astype(np.float32))
        for name, value in attrs.items():
            handle.attrs[name] = value


def write_outputs(out: Path, volumes: dict[str, dict[str, Any]], attrs: dict[str, Any]) -> dict[str, str]:
    """Write the reconstruction, zero-filled and target files of every volume; returns
    ``{volume: file name}``."""
    names: dict[str, str] = {}
    for volume, data in volumes.items():
        name = f"{safe_name(volume)}.h5"
        if name in names.values():
            raise AutoMRIError(f"volumes {volume!r} and another both map to the file name {name!r}")
        names[volume] = name
        own = {**input_attributes(data["file"]), **attrs, "automri_volume": volume,
               "automri_slices": np.asarray(data["slices"], dtype=np.int64)}
        write_volume(out / name, PREDICTION_KEY, data["model"], own)
        write_volume(out / ZERO_FILLED / name, PREDICTION_KEY, data[ZERO_FILLED], {**own, "automri_model": "zero_filled"})
        target_key = "reconstruction_rss" if data["coils"] else "reconstruction_esc"
        write_volume(out / TARGETS / name, target_key, data["target"], {**own, "automri_model": "target"})
    return names


def score_outputs(out: Path, names: dict[str, str]) -> dict[str, Any]:
    """Scores of the written files, by ``automri score``'s functions: for the model (``OUT``) and
    zero-filled (``OUT/zero_filled``) against ``OUT/targets``, ``{"volumes": {file: metrics},
    "slices": [{"volume", "slice", metrics}], "volume_summary", "slice_summary"}`` each."""
    slice_index = {name: volume for volume, name in names.items()}
    scores: dict[str, Any] = {}
    for method, folder in (("model", out), (ZERO_FILLED, out / ZERO_FILLED)):
        volume_result = score_directory(out / TARGETS, folder)
        rows = []
        for target in sorted((out / TARGETS).glob("*.h5")):
            with open_h5(target) as handle:
                indices = [int(i) for i in handle.attrs["automri_slices"]]
            _, per_slice = score_slices(target, folder / target.name)
            for position, index in enumerate(indices):
                rows.append({"volume": target.name, "source_volume": slice_index.get(target.name), "slice": index,
                             **{m: per_slice[m][position] for m in METRICS}})
        scores[method] = {
            "volumes": volume_result.volumes,
            "volume_summary": _summary(volume_result.summary),
            "slices": rows,
            "slice_summary": _summary({m: Summary.of(r[m] for r in rows) for m in METRICS}),
        }
    return scores


def _summary(summary: dict[str, Summary]) -> dict[str, dict[str, float]]:
    return {name: {"mean": s.mean, "std": s.std, "n": s.n} for name, s in summary.items()}


def write_scores_csv(out: Path, scores: dict[str, Any]) -> None:
    """``OUT/volumes.csv`` and ``OUT/slices.csv``: one row per (method, volume) / (method, volume, slice)."""
    with atomic_open(out / "volumes.csv", "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["method", "volume", *METRICS])
        for method in METHODS:
            for volume, row in scores[method]["volumes"].items():
                writer.writerow([method, volume, *(row[m] for m in METRICS)])
    with atomic_open(out / "slices.csv", "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["method", "volume", "slice", *METRICS])
        for method in METHODS:
            for row in scores[method]["slices"]:
                writer.writerow([method, row["volume"], row["slice"], *(row[m] for m in METRICS)])


def run_predict(
    checkpoint: str,
    dataset: str | None,
    out: str | os.PathLike,
    mask: str | None = None,
    size: int | None = None,
    split: str = "test",
    max_slices: int | None = None,
    batch_size: int = 4,
    device: str = "cpu",
    command: str | None = None,
    say: Say = lambda message: None,
) -> dict[str, Any]:
    """Reconstruct ``split`` of ``dataset`` (default: the model's own) with ``checkpoint`` into ``out``
    (see the module docstring). ``mask`` / ``size`` default to the model's training settings.

    Returns the ``scores.json`` content: ``{"checkpoint", "origin", "model", "dataset", "split",
    "mask", "size", "command", "files": {volume: file}, "scores": {"model", "zero_filled"}}``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AutoMRIError(f"--out {out}: exists and is not a directory")
    if batch_size < 1:
        raise AutoMRIError(f"--batch-size {batch_size}: expected at least 1")
    model, config, origin = resolve_checkpoint(checkpoint, device)
    config = predict_config(config, dataset, mask, size, split)
    data = build_predict_split(config, split, max_slices)
    if len(data) == 0:
        raise AutoMRIError(f"--split {split!r} of --dataset {config.data.dataset!r} holds no slices")
    label = model_label(config)
    say(f"predict: {label} from {checkpoint} on {len(data)} {split} slices of {config.data.dataset} "
        f"({'native size' if config.data.size is None else f'{config.data.size} px'}, mask {config.data.mask})")
    volumes = reconstruct(model, data, batch_size, device)
    command = command or command_line()
    attrs = {"automri_model": label, "automri_checkpoint": str(checkpoint), "automri_mask": str(config.data.mask),
             "automri_size": config.data.size or 0, "automri_split": split, "automri_dataset": str(config.data.dataset),
             "automri_command": command, "automri_units": "source units (each slice times its Sample.scale)"}
    out.mkdir(parents=True, exist_ok=True)
    names = write_outputs(out, volumes, attrs)
    say(f"predict: wrote {len(names)} volumes to {out} (zero-filled in {out / ZERO_FILLED}, targets in {out / TARGETS})")
    scores = score_outputs(out, names)
    origin = {k: v for k, v in origin.items() if k != "entry"} | (
        {"test_psnr": origin["entry"]["test"]["psnr"]} if "entry" in origin else {})
    result = {"checkpoint": str(checkpoint), "origin": origin, "model": label, "dataset": str(config.data.dataset),
              "split": split, "mask": str(config.data.mask), "size": config.data.size, "command": command,
              "out": str(out), "files": names, "scores": scores}
    write_json_atomic(out / SCORES, result)
    write_scores_csv(out, scores)
    return result


__all__ = ["build_predict_split", "reconstruct", "run_predict", "safe_name", "score_outputs"]
