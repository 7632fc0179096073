"""Per-split root folders: a dataset folder laid out as fastMRI and DIRECT lay out theirs.

A *roots folder* holds one subfolder per split, and each split reads its own subfolder whole
(split mode ``roots``; ``auto`` picks it when such subfolders exist; nothing is re-split)::

    ROOT/train/  ROOT/val/  ROOT/test/                          plain names
    ROOT/singlecoil_train/  ROOT/singlecoil_val/  ...           fastMRI's <challenge>_<split>
    ROOT/multicoil_train/   ROOT/multicoil_val/   ...

The challenge (``singlecoil`` or ``multicoil``, ``--challenge``) picks the ``<challenge>_<split>``
folders; without one it is the only challenge whose folders the root holds (an error when it
holds both), or none (plain names). A split whose folder is missing, k-fold cross-validation and
the ``all`` split (one pool of volumes) are errors naming the folder and what was expected.
"""

from __future__ import annotations

from pathlib import Path

from automri.errors import AutoMRIError

SPLIT_FOLDERS = ("train", "val", "test")
CHALLENGES = ("singlecoil", "multicoil")
MODE = "roots"


def check_challenge(challenge: str | None) -> None:
    """Raise :class:`AutoMRIError` unless ``challenge`` is ``None`` or one of :data:`CHALLENGES`."""
    if challenge is not None and challenge not in CHALLENGES:
        raise AutoMRIError(f"--challenge {challenge!r}: expected one of {', '.join(CHALLENGES)}")


def split_folder_names(path: str | Path) -> list[str]:
    """The per-split subfolders of ``path`` (``train``, ``singlecoil_val``, ...), sorted; ``[]`` when
    ``path`` is not a folder or holds none."""
    root = Path(path)
    if not root.is_dir():
        return []
    names = {*SPLIT_FOLDERS, *(f"{c}_{s}" for c in CHALLENGES for s in SPLIT_FOLDERS)}
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name in names)


def resolve_challenge(root: Path, challenge: str | None) -> str | None:
    """The challenge whose ``<challenge>_<split>`` folders ``root`` is read from (``None``: plain names)."""
    check_challenge(challenge)
    present = [c for c in CHALLENGES if any((root / f"{c}_{s}").is_dir() for s in SPLIT_FOLDERS)]
    if challenge is not None:
        if challenge not in present:
            raise AutoMRIError(
                f"--challenge {challenge}: {root} holds no {challenge}_train, {challenge}_val or "
                f"{challenge}_test folder (found: {', '.join(split_folder_names(root)) or 'none'})"
            )
        return challenge
    if len(present) > 1:
        raise AutoMRIError(
            f"{root}: holds both singlecoil_* and multicoil_* split folders; choose one with "
            "--challenge singlecoil or --challenge multicoil"
        )
    return present[0] if present else None


def split_folder(path: str | Path, split: str, challenge: str | None = None) -> Path:
    """The subfolder of roots folder ``path`` that split ``split`` (``train``, ``val``, ``test``) reads."""
    root = Path(path)
    if split not in SPLIT_FOLDERS:
        raise AutoMRIError(
            f"split {split!r}: {root} holds per-split folders ({', '.join(split_folder_names(root))}); "
            f"expected one of {', '.join(SPLIT_FOLDERS)} (or give one split folder itself as the dataset)"
        )
    chosen = resolve_challenge(root, challenge)
    folder = root / (split if chosen is None else f"{chosen}_{split}")
    if not folder.is_dir():
        raise AutoMRIError(
            f"split {split!r}: expected the folder {folder} (the dataset {root} holds per-split folders: "
            f"{', '.join(split_folder_names(root))})"
        )
    return folder


def roots_split(spec: str, split: str, mode: str, challenge: str | None, fold: int | None) -> Path | None:
    """The folder that ``split`` of dataset ``spec`` reads whole, or ``None`` when ``spec`` is not read
    by roots (a built-in name, a file, a folder of files: split by :mod:`automri.data.splits`).

    ``mode`` is the split mode: ``roots`` requires per-split subfolders, ``auto`` uses them when
    present, any other mode refuses them. ``challenge`` needs them; ``fold`` (k-fold) refuses them.
    """
    check_challenge(challenge)
    found = split_folder_names(spec)
    if not found:
        if mode == MODE or challenge is not None:
            flag = "split mode roots" if mode == MODE else f"--challenge {challenge}"
            raise AutoMRIError(
                f"{flag}: --dataset {spec} holds no per-split folders (expected subfolders "
                f"{', '.join(SPLIT_FOLDERS)} or <challenge>_<split> with challenge {' or '.join(CHALLENGES)})"
            )
        return None
    if mode not in ("auto", MODE):
        raise AutoMRIError(
            f"split mode {mode!r}: {spec} holds per-split folders ({', '.join(found)}), which split "
            "mode auto or roots reads as they are"
        )
    if fold is not None:
        raise AutoMRIError(
            f"fold={fold}: k-fold cross-validation needs one pool of volumes, but {spec} holds per-split "
            f"folders ({', '.join(found)}); use its split folders as they are, or point --dataset at one folder of files"
        )
    return split_folder(spec, split, challenge)
