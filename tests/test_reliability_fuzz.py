"""Property-based fuzzing of every reader and of ``automri score`` (issue 16).

Each example writes one small valid file of a format, damages it in one way (a *bad-input class*:
truncation, flipped bytes, another dtype, another shape, NaN/Inf values, a missing key, a huge
declared shape, an all-zero signal, bad header values), then reads it. The outcome must be a
*clear error* (:class:`AutoMRIError`, one line, naming the damaged file) or a *correct result*
(finite data of a sensible shape; for ``score`` strict JSON with finite metrics or nulls that say
why). Anything else (another exception, a NaN, an error that does not name the file) fails.

The counts per (target, class, outcome) are written to ``$AUTOMRI_RELIABILITY_JSON`` when it is set;
``benchmarks/reliability.py`` runs this file that way and renders ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
import xml.sax.saxutils
from collections import Counter
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from automri.cli import main
from automri.data.readers import open_source
from automri.errors import AutoMRIError
from automri.limits import ENV_VAR

TALLY: Counter = Counter()
warnings.filterwarnings("ignore", module="pydicom")  # damaged files make pydicom warn before it fails
FUZZ = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HEADER = (
    '<?xml version="1.0"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>'
    "<encodedSpace><matrixSize><x>8</x><y>6</y><z>1</z></matrixSize></encodedSpace>"
    "<reconSpace><matrixSize><x>{x}</x><y>{y}</y><z>1</z></matrixSize></reconSpace></encoding></ismrmrdHeader>"
)


class Declared:
    """An HDF5 dataset declared with ``shape`` and ``dtype`` but never written (a lying header)."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        self.shape, self.dtype = shape, dtype


@pytest.fixture(scope="module", autouse=True)
def _write_tally():
    """A small memory cap (files here are a few KiB), then the tally written for benchmarks/reliability.py."""
    saved = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = "256M"
    yield
    if saved is None:
        os.environ.pop(ENV_VAR)
    else:
        os.environ[ENV_VAR] = saved
    target = os.environ.get("AUTOMRI_RELIABILITY_JSON")
    if target:
        rows = [{"target": t, "class": c, "outcome": o, "count": n} for (t, c, o), n in sorted(TALLY.items())]
        Path(target).write_text(json.dumps(rows, indent=1))


# ---------------------------------------------------------------- valid files ----------------
def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _complex(rng, shape) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def fastmri_arrays(rng) -> dict:
    return {"kspace": _complex(rng, (2, 8, 6)), "ismrmrd_header": HEADER.format(x=4, y=4).encode(),
            "reconstruction_esc": rng.random((2, 4, 4)).astype(np.float32)}


def cc359_mc_arrays(rng) -> dict:
    return {"kspace": rng.standard_normal((3, 8, 6, 4)).astype(np.float32)}


def modl_arrays(rng) -> dict:
    mask = np.zeros((2, 8, 8), np.float32)
    mask[:, :, ::2] = 1
    return {"trnOrg": _complex(rng, (2, 8, 8)), "trnCsm": _complex(rng, (2, 2, 8, 8)), "trnMask": mask,
            "tstOrg": _complex(rng, (1, 8, 8)), "tstCsm": _complex(rng, (1, 2, 8, 8)), "tstMask": mask[:1].copy()}


def write_h5(path: Path, arrays: dict) -> Path:
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            if isinstance(value, Declared):
                handle.create_dataset(key, shape=value.shape, dtype=value.dtype)
            else:
                handle[key] = value
    return path


def write_dicom(path: Path, rows: int = 8, columns: int = 6, frames: int | None = None, pixels: bytes | None = None,
                bits: int = 16) -> Path:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    # a fixed UID: a random one changes the file's length, and hypothesis needs the same draws each run
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["automri-reliability-fuzz"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = "MR", "1.2.3", 1, 1
    ds.Rows, ds.Columns = rows, columns
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = pixels if pixels is not None else (np.arange(rows * columns) % 97).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


# ---------------------------------------------------------------- damage ---------------------
def truncate(path: Path, data: st.DataObject) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)), label="keep bytes")])


def flip_bytes(path: Path, data: st.DataObject) -> None:
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(raw))


DTYPES = ("float32", "float64", "int16", "uint8", "bool", "complex64", "complex128", "S4")
SHAPES = st.lists(st.integers(0, 9), min_size=0, max_size=5).map(tuple)
HUGE = st.lists(st.integers(2**10, 2**16), min_size=3, max_size=3).map(tuple)
NON_FINITE = st.sampled_from([np.nan, np.inf, -np.inf])


def as_dtype(value: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "S4":
        return np.full(value.shape, b"abcd", dtype="S4")
    if np.dtype(dtype).kind != "c" and np.iscomplexobj(value):
        value = value.real
    return np.asarray(value).astype(dtype)


def inject(value: np.ndarray, data: st.DataObject) -> np.ndarray:
    out = np.array(value, dtype=value.dtype if value.dtype.kind in "fc" else np.float32)
    flat = out.reshape(-1)
    flat[data.draw(st.integers(0, flat.size - 1), label="position")] = data.draw(NON_FINITE)
    return out


def damage_arrays(arrays: dict, kind: str, data: st.DataObject) -> dict:
    """One damaged copy of ``arrays`` (the HDF5 keys of a valid file) for bad-input class ``kind``."""
    arrays = dict(arrays)
    numeric = [k for k, v in arrays.items() if isinstance(v, np.ndarray)]
    key = data.draw(st.sampled_from(numeric if kind != "missing key" else list(arrays)), label="key")
    value = arrays.get(key)
    if kind == "missing key":
        del arrays[key]
    elif kind == "dtype":
        arrays[key] = as_dtype(value, data.draw(st.sampled_from(DTYPES), label="dtype"))
    elif kind == "shape":
        arrays[key] = np.ones(data.draw(SHAPES, label="shape"), dtype=value.dtype)
    elif kind == "NaN/Inf":
        arrays[key] = inject(value, data)
    elif kind == "huge declared shape":
        arrays[key] = Declared(data.draw(HUGE, label="shape"), str(value.dtype))
    elif kind == "all zeros":
        arrays[key] = np.zeros_like(value)
    return arrays


ARRAY_CLASSES = ("dtype", "shape", "NaN/Inf", "missing key", "huge declared shape", "all zeros")
BYTE_CLASSES = ("truncated", "flipped bytes")


def damage_file(path: Path, kind: str, data: st.DataObject) -> None:
    (truncate if kind == "truncated" else flip_bytes)(path, data)


# ---------------------------------------------------------------- outcomes -------------------
def finite(tensor) -> bool:
    return tensor is None or bool(torch.isfinite(torch.as_tensor(tensor)).all())


def read_everything(path: Path, fmt: str) -> None:
    """Open ``path`` with reader ``fmt`` and load every slice; raise AssertionError on a wrong result."""
    source = open_source(str(path), fmt)
    source.info()
    for volume in source.volumes():
        for index in range(source.num_slices(volume)):
            data = source.load_slice(volume, index)
            assert data.image.ndim in (2, 3) and min(data.image.shape) >= 1, f"image shape {tuple(data.image.shape)}"
            assert all(finite(t) for t in (data.image, data.sens, data.reference, data.mask)), "non-finite values"
            if data.mask is not None:
                assert bool(((data.mask == 0) | (data.mask == 1)).all()) and bool(data.mask.any()), "mask not 0/1 with samples"


def classify(target: str, kind: str, damaged: Path, run) -> str:
    """Run ``run()``; tally and return ``clear error`` or ``correct result``; fail on anything else."""
    try:
        run()
        outcome = "correct result"
    except AutoMRIError as err:
        message = str(err)
        assert "\n" not in message, f"multi-line error: {message!r}"
        assert damaged.name in message or damaged.parent.name in message, f"error does not name {damaged.name}: {message}"
        outcome = "clear error"
    TALLY[target, kind, outcome] += 1
    return outcome


def reader_case(tmp_path: Path, target: str, name: str, write, fmt: str, kind: str, data) -> None:
    folder = Path(tempfile.mkdtemp(prefix="case", dir=tmp_path))
    path = write(folder / name, kind, data)
    classify(target, kind, path, lambda: read_everything(path, fmt))


# ---------------------------------------------------------------- readers --------------------
def h5_writer(base):
    def write(path: Path, kind: str, data) -> Path:
        arrays = base(_rng(0))
        if kind in ARRAY_CLASSES:
            arrays = damage_arrays(arrays, kind, data)
        write_h5(path, arrays)
        if kind in BYTE_CLASSES:
            damage_file(path, kind, data)
        return path
    return write


def fastmri_header_writer(path: Path, kind: str, data) -> Path:
    arrays = fastmri_arrays(_rng(0))
    x, y = (data.draw(st.one_of(st.integers(-5, 2**40), st.just("abc")), label=n) for n in "xy")
    arrays["ismrmrd_header"] = HEADER.format(x=xml.sax.saxutils.escape(str(x)), y=y).encode()
    return write_h5(path, arrays)


def npy_writer(path: Path, kind: str, data) -> Path:
    array = _rng(0).standard_normal((3, 8, 8, 2))
    if kind in ARRAY_CLASSES and kind != "missing key":
        array = damage_arrays({"a": array}, kind, data)["a"]
    if isinstance(array, Declared):  # a .npy header declaring a huge array over a few bytes of data
        header = {"descr": "<f8", "fortran_order": False, "shape": array.shape}
        with open(path, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            handle.write(b"\0" * 64)
        return path
    np.save(path, array)
    if kind == "missing key":
        path.write_bytes(b"")  # an empty .npy: nothing at all
    if kind in BYTE_CLASSES:
        damage_file(path, kind, data)
    return path


def nifti_writer(path: Path, kind: str, data) -> Path:
    volume = _rng(0).random((8, 8, 3)).astype(np.float32) + 0.5
    if kind in ARRAY_CLASSES and kind not in ("missing key", "huge declared shape"):
        volume = damage_arrays({"v": volume}, kind, data)["v"]
        if volume.dtype.kind == "S":
            volume = np.zeros(volume.shape, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])  # RGB voxels
    try:
        nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    except Exception:  # noqa: BLE001 - nibabel refuses to write some shapes/dtypes: write a valid file then
        nib.save(nib.Nifti1Image(np.ones((4, 4, 2), np.float32), np.eye(4)), path)
    if kind in ("missing key", "huge declared shape"):  # header fields damaged: dims, datatype, offset
        raw = bytearray(path.read_bytes())
        field = data.draw(st.sampled_from(["dim", "datatype", "vox_offset"]), label="field")
        offsets = {"dim": (42, 3, "<h"), "datatype": (70, 1, "<h"), "vox_offset": (108, 1, "<f")}
        start, count, fmt = offsets[field]
        values = data.draw(st.lists(st.integers(-32768, 32767) if fmt == "<h" else st.floats(-1e9, 1e9),
                                    min_size=count, max_size=count), label=field)
        size = np.dtype(fmt).itemsize
        for i, value in enumerate(values):
            raw[start + i * size: start + (i + 1) * size] = np.array(value, dtype=fmt).tobytes()
        path.write_bytes(bytes(raw))
    if kind in BYTE_CLASSES:
        damage_file(path, kind, data)
    return path


def dicom_writer(path: Path, kind: str, data) -> Path:
    if kind == "huge declared shape":
        write_dicom(path, rows=data.draw(st.integers(2**12, 2**16 - 1)), columns=data.draw(st.integers(2**12, 2**16 - 1)),
                    frames=data.draw(st.none() | st.integers(1, 2**20)), pixels=bytes(64))
    elif kind == "shape":
        write_dicom(path, rows=data.draw(st.integers(0, 9)), columns=data.draw(st.integers(0, 9)),
                    frames=data.draw(st.none() | st.integers(-3, 3)), pixels=bytes(data.draw(st.integers(0, 200))))
    elif kind == "dtype":
        write_dicom(path, bits=data.draw(st.sampled_from([1, 8, 12, 32])))
    elif kind == "missing key":
        write_dicom(path, pixels=b"")
    else:
        write_dicom(path)
        if kind in BYTE_CLASSES:
            damage_file(path, kind, data)
    return path


def png_writer(path: Path, kind: str, data) -> Path:
    mode = data.draw(st.sampled_from(["L", "RGB", "I;16", "1"]), label="mode") if kind == "dtype" else "L"
    pixels = (np.arange(64).reshape(8, 8) * 3).astype(np.uint8)
    image = Image.fromarray(pixels, "L").convert(mode) if mode != "I;16" else Image.fromarray(pixels.astype(np.uint16))
    image.save(path)
    if kind in BYTE_CLASSES:
        damage_file(path, kind, data)
    return path


READERS = {
    "fastmri": ("file1.h5", h5_writer(fastmri_arrays), ARRAY_CLASSES + BYTE_CLASSES),
    "fastmri header": ("file1.h5", fastmri_header_writer, ("bad header values",)),
    "cc359": ("e14089s3_P53248.npy", npy_writer, ("dtype", "shape", "NaN/Inf", "huge declared shape", "all zeros") + BYTE_CLASSES + ("missing key",)),
    "cc359-mc": ("e1.h5", h5_writer(cc359_mc_arrays), ARRAY_CLASSES + BYTE_CLASSES),
    "modl": ("dataset.hdf5", h5_writer(modl_arrays), ARRAY_CLASSES + BYTE_CLASSES),
    "nifti": ("sub01.nii", nifti_writer, ("dtype", "shape", "NaN/Inf", "all zeros", "missing key", "huge declared shape") + BYTE_CLASSES),
    "dicom": ("IM0001.dcm", dicom_writer, ("huge declared shape", "shape", "dtype", "missing key") + BYTE_CLASSES),
    "cddn": ("mr_heart_p01t01z1.png", png_writer, ("dtype",) + BYTE_CLASSES),
}
FORMAT_OF = {"fastmri header": "fastmri"}
READER_CASES = [(target, kind) for target, (_, _, kinds) in READERS.items() for kind in kinds]


@pytest.mark.parametrize("target,kind", READER_CASES, ids=[f"{t}-{k}" for t, k in READER_CASES])
@FUZZ
@given(data=st.data())
def test_every_reader_gives_a_clear_error_or_a_correct_result(tmp_path, target, kind, data):
    name, write, _ = READERS[target]
    reader_case(tmp_path, target, name, write, FORMAT_OF.get(target, target.split()[0]), kind, data)


# ---------------------------------------------------------------- score ----------------------
SCORE_CLASSES = ARRAY_CLASSES + BYTE_CLASSES + ("prediction equals target",)


def score_files(tmp_path: Path, kind: str, data) -> tuple[Path, Path, Path]:
    """Valid target/prediction folders with one file damaged; returns (targets, predictions, damaged)."""
    case = Path(tempfile.mkdtemp(prefix="score", dir=tmp_path))
    targets, predictions = case / "targets", case / "predictions"
    targets.mkdir(parents=True)
    predictions.mkdir()
    rng = _rng(1)
    target = {"reconstruction_esc": rng.random((2, 8, 8)).astype(np.float32) + 0.1}
    prediction = {"reconstruction": target["reconstruction_esc"] * 0.9 + 0.05 * rng.random((2, 8, 8)).astype(np.float32)}
    if kind == "prediction equals target":
        prediction = {"reconstruction": target["reconstruction_esc"].copy()}
    which = data.draw(st.sampled_from(["target", "prediction"]), label="damaged file")
    arrays = target if which == "target" else prediction
    if kind in ARRAY_CLASSES:
        arrays = damage_arrays(arrays, kind, data)
    write_h5(targets / "file1.h5", arrays if which == "target" else target)
    write_h5(predictions / "file1.h5", arrays if which == "prediction" else prediction)
    damaged = (targets if which == "target" else predictions) / "file1.h5"
    if kind in BYTE_CLASSES:
        damage_file(damaged, kind, data)
    return targets, predictions, damaged


def run_score_cli(targets: Path, predictions: Path, capsys) -> None:
    """``automri score --json`` in-process: exit 2 with one line is re-raised as AutoMRIError, exit 0
    must print strict JSON whose metrics are finite or null with a ``non_finite`` reason."""
    argv = sys.argv
    sys.argv = ["automri", "score", "--targets", str(targets), "--predictions", str(predictions), "--json"]
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line: {captured.err!r}"
        raise AutoMRIError(lines[0])
    assert code == 0, f"exit {code}: {captured.err}"
    result = json.loads(captured.out, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))
    for name, summary in result["summary"].items():
        for stat in ("mean", "std"):
            value = summary[stat]
            assert value is not None or f"summary.{name}.{stat}" in result.get("non_finite", {}), f"{name} {stat} null without reason"


@pytest.mark.parametrize("kind", SCORE_CLASSES)
@FUZZ
@given(data=st.data())
def test_score_gives_a_clear_error_or_strict_finite_json(tmp_path, capsys, kind, data):
    targets, predictions, damaged = score_files(tmp_path, kind, data)
    classify("score", kind, damaged, lambda: run_score_cli(targets, predictions, capsys))
