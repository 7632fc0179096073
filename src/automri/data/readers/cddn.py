"""Cardiac PNGs of CDDN (Zheng, Fang, Zhang 2019): the York cardiac MRI set as 8-bit images.

Files ``mr_heart_p{PP}t{TT}z{Z}.png`` (patient, frame 1..20, slice) in one folder, 256x256 mode ``L``;
the authors divide by 255 and treat the image as real-valued magnitude (use ``phase=0`` to do the
same; k-space is simulated). Volume id = patient (``p01``...), slices = the ``(t, z)`` pairs in
order. Like the authors, only ``z <= max_z`` (4) is used by default; ``max_z=None`` keeps all.
Their split (``split_mode="source"``): patients 1-30 train, 31-33 test.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from automri.data.readers.common import require_exists, require_volume
from automri.data.source import SliceData, check_index
from automri.errors import AutoMRIError

NAME = re.compile(r"^mr_heart_p(\d+)t(\d+)z(\d+)\.png$")
TRAIN_PATIENTS = range(1, 31)
TEST_PATIENTS = range(31, 34)


def is_cddn_name(name: str) -> bool:
    """Whether ``name`` follows the CDDN naming ``mr_heart_pXXtYYzZ.png``."""
    return NAME.match(name) is not None


class CDDNSource:
    """Lazy :class:`~automri.data.source.VolumeSource` over a folder of CDDN cardiac PNGs."""

    format = "cddn"

    def __init__(self, path: str, name: str | None = None, max_z: int | None = 4) -> None:
        root = require_exists(path)
        self.path = str(root)
        self.name = name or self.path
        files = [root] if root.is_file() else sorted(root.iterdir())
        slices: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for file in files:
            match = NAME.match(file.name)
            if match and (max_z is None or int(match[3]) <= max_z):
                slices[f"p{int(match[1]):02d}"].append((int(match[2]), int(match[3]), str(file)))
        if not slices:
            raise AutoMRIError(f"{self.path}: no CDDN files (expected mr_heart_pXXtYYzZ.png)")
        self._slices = {v: [f for _, _, f in sorted(s)] for v, s in sorted(slices.items())}

    def volumes(self) -> list[str]:
        return list(self._slices)

    def num_slices(self, volume: str) -> int:
        require_volume(self.path, volume, self._slices)
        return len(self._slices[volume])

    def predefined_split(self, split: str) -> list[str] | None:
        """The authors' split: patients 1-30 train, 31-33 test."""
        patients = {"train": TRAIN_PATIENTS, "test": TEST_PATIENTS}.get(split)
        return None if patients is None else [v for v in self._slices if int(v[1:]) in patients]

    def load_slice(self, volume: str, index: int) -> SliceData:
        check_index(self, volume, index)
        file = self._slices[volume][index]
        try:
            with Image.open(file) as png:
                if png.mode != "L":
                    raise AutoMRIError(f"{file}: PNG mode {png.mode} (expected 8-bit greyscale 'L')")
                pixels = np.asarray(png, dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise AutoMRIError(f"{file}: cannot read as PNG ({err})") from err
        match = NAME.match(Path(file).name)
        return SliceData(
            image=torch.from_numpy(pixels), magnitude=True, meta={"volume": volume, "slice": index, "t": int(match[2]), "z": int(match[3]), "file": file}
        )

    def info(self) -> dict[str, object]:

        file = next(iter(self._slices.values()))[0]
        try:
            with Image.open(file) as png:
                return {"dtype": f"uint8 PNG mode {png.mode}", "stored_shape": [png.height, png.width]}
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise AutoMRIError(f"{file}: cannot read as PNG ({type(err).__name__}: {err})") from err
