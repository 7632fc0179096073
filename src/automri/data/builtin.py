"""Built-in datasets that work offline: ``phantom``, ``colin27``, ``icbm152``.

- ``phantom``: numerical subjects (:mod:`automri.data.phantom`), always available.
- ``colin27``: Colin Holmes' T1 head (27 scans of one real subject averaged, 1 mm, with skull), from
  Debian ``mricron-data`` (``/usr/share/mricron/templates/ch2.nii.gz``). Slices are kept where the
  brain-extracted copy ``ch2bet.nii.gz`` covers more than 10 % of the slice (about 120 slices).
- ``icbm152``: the ICBM152 2009a symmetric T1 template (an average of 152 subjects, brain only)
  shipped inside the nilearn wheel, found with ``importlib`` (nothing is downloaded).

Both brain volumes are single subjects, so :func:`automri.data.splits.make_splits` splits them
into slabs of slices with gaps.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Callable

from automri.data.phantom import PhantomSource
from automri.data.readers.nifti import NiftiSource
from automri.data.source import VolumeSource
from automri.errors import AutoMRIError

COLIN27_DIR = "/usr/share/mricron/templates"
ICBM152_FILE = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
BRAIN_MIN_TISSUE = 0.1


def _icbm152_path() -> str | None:
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], ICBM152_FILE)


@dataclass(frozen=True)
class Builtin:
    """One built-in dataset: where its file lives, how to get it, how to open it."""

    name: str
    description: str
    path: str | None
    install_hint: str
    open: Callable[[], VolumeSource]

    @property
    def present(self) -> bool:
        """Whether the data is on this machine (the phantom always is)."""
        return self.path is None or os.path.exists(self.path)


def _builtins() -> dict[str, Builtin]:
    colin = os.path.join(COLIN27_DIR, "ch2.nii.gz")
    icbm = _icbm152_path()
    return {
        "phantom": Builtin(
            "phantom", "numerical brain-like phantom, 6 subjects x 24 slices (always available)", None, "", PhantomSource
        ),
        "colin27": Builtin(
            "colin27",
            "Colin27 T1, a real single subject (27 averages), 1 mm, ~120 axial brain slices",
            colin,
            "apt-get install -y mricron-data",
            lambda: NiftiSource(
                colin, BRAIN_MIN_TISSUE, name="colin27", tissue_from=os.path.join(COLIN27_DIR, "ch2bet.nii.gz")
            ),
        ),
        "icbm152": Builtin(
            "icbm152",
            "ICBM152 2009a T1 template (average of 152 subjects, brain only), 1 mm",
            icbm,
            "pip install nilearn",
            lambda: NiftiSource(icbm, BRAIN_MIN_TISSUE, name="icbm152"),
        ),
    }


def builtin_names() -> list[str]:
    """Names of the built-in datasets."""
    return list(_builtins())


def list_builtin() -> list[dict[str, object]]:
    """One dict per built-in: ``name``, ``present``, ``path``, ``install_hint``, ``description``."""
    return [
        {"name": b.name, "present": b.present, "path": b.path, "install_hint": b.install_hint, "description": b.description}
        for b in _builtins().values()
    ]


def open_builtin(name: str) -> VolumeSource:
    """Open built-in dataset ``name``; :class:`AutoMRIError` with the install hint if it is missing."""
    builtins = _builtins()
    if name not in builtins:
        raise AutoMRIError(f"unknown built-in dataset {name!r} (expected one of {', '.join(builtins)})")
    builtin = builtins[name]
    if not builtin.present:
        raise AutoMRIError(f"built-in dataset {name!r} is not installed: {builtin.path} missing (install: {builtin.install_hint})")
    return builtin.open()
