"""Genotype files of both spaces: validation, JSON (de)serialisation.

Every genotype is a self-describing JSON object whose ``"space"`` names its space: ``"cell"``
(FedAutoMRI, :mod:`automri.nas.cell.genotype`, checked completely here) or ``"rir"`` (EMR-NAS,
:mod:`automri.nas.rir.genotype`, whose contents ``RIRNet.from_genotype`` checks).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from automri.atomic import write_json_atomic
from automri.errors import AutoMRIError
from automri.nas.cell.genotype import validate_cell_genotype

SPACES = ("cell", "rir")


def validate_genotype(genotype: Any, source: str = "genotype") -> dict[str, Any]:
    """Return ``genotype`` if it is a well-formed genotype dict, else raise :class:`AutoMRIError`
    naming ``source`` (a file name) and the offending key.

    ``"cell"`` genotypes are checked completely here; ``"rir"`` genotypes only for their space
    (their contents are checked by ``RIRNet.from_genotype``).
    """
    if not isinstance(genotype, dict):
        raise AutoMRIError(f"{source}: expected a JSON object (genotype), got {type(genotype).__name__}")
    if "space" not in genotype:
        raise AutoMRIError(f"{source}: key 'space' missing (expected one of {', '.join(SPACES)})")
    if genotype["space"] not in SPACES:
        raise AutoMRIError(f"{source}: key 'space' is {genotype['space']!r}, expected one of {', '.join(SPACES)}")
    if genotype["space"] == "cell":
        validate_cell_genotype(genotype, source)
    return genotype


def save_genotype(path: str | os.PathLike[str], genotype: dict[str, Any]) -> Path:
    """Validate and write ``genotype`` as indented JSON atomically (:mod:`automri.atomic`)."""
    path = Path(path)
    validate_genotype(genotype, source=str(path))
    return write_json_atomic(path, genotype)


def load_genotype(path: str | os.PathLike[str], space: str | None = None) -> dict[str, Any]:
    """Read and validate a genotype JSON file; ``space`` (optional) is the space it must belong to."""
    path = Path(path)
    if not path.is_file():
        raise AutoMRIError(f"{path}: genotype file not found")
    try:
        genotype = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AutoMRIError(f"{path}: not valid JSON ({err})") from None
    validate_genotype(genotype, source=str(path))
    if space is not None and genotype["space"] != space:
        raise AutoMRIError(f"{path}: key 'space' is {genotype['space']!r}, expected {space!r}")
    return genotype


def resolve_genotype(genotype: dict[str, Any] | str | os.PathLike[str], space: str) -> dict[str, Any]:
    """A genotype dict from a dict or a JSON file path, checked to belong to ``space``."""
    if isinstance(genotype, (str, os.PathLike)):
        return load_genotype(genotype, space=space)
    validate_genotype(genotype)
    if genotype["space"] != space:
        raise AutoMRIError(f"genotype: key 'space' is {genotype['space']!r}, expected {space!r}")
    return genotype
