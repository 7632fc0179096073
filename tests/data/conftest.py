"""Writers of small files in every on-disk format the readers support, with the images they hold.

Each fixture writes files the way the real datasets store them (keys, dtypes, axis order, k-space
centring, interleaving, naming) from known complex images, and returns the paths together with
those images, so the tests can check that a reader gives back exactly what was written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from automri.data.phantom import random_subject, render_slice
from automri.physics.fft import fft2c, fft2u

HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <encoding>
    <encodedSpace><matrixSize><x>{ex}</x><y>{ey}</y><z>1</z></matrixSize></encodedSpace>
    <reconSpace><matrixSize><x>{rx}</x><y>{ry}</y><z>1</z></matrixSize></reconSpace>
    <encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{maxy}</maximum><center>{cy}</center></kspace_encoding_step_1></encodingLimits>
  </encoding>
</ismrmrdHeader>"""


@dataclass
class Written:
    """A fixture file (or folder) and the images written into it."""

    path: Path
    images: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def anatomy(count: int, shape: tuple[int, int], seed: int, complex_valued: bool = True) -> np.ndarray:
    """``count`` phantom slices ``[count, H, W]`` centred in the array, with a smooth phase if complex."""
    rng = np.random.default_rng(seed)
    subject = random_subject(rng)
    slices = np.stack([render_slice(subject, -0.5 + k / max(count, 1), shape, rng) for k in range(count)])
    if not complex_valued:
        return slices
    y = np.linspace(-1, 1, shape[0])[:, None]
    x = np.linspace(-1, 1, shape[1])[None, :]
    phase = np.stack([rng.uniform(-1, 1) * x + rng.uniform(-1, 1) * y * x for _ in range(count)])
    return (slices * np.exp(1j * phase)).astype(np.complex64)


def coil_images(images: np.ndarray, coils: int) -> np.ndarray:
    """``[S, H, W]`` -> ``[S, C, H, W]`` with simple smooth complex coil weights."""
    height, width = images.shape[-2:]
    y = np.linspace(-1, 1, height)[:, None]
    x = np.linspace(-1, 1, width)[None, :]
    weights = np.stack(
        [np.exp(-((x - math.cos(a)) ** 2 + (y - math.sin(a)) ** 2)) * np.exp(1j * a) for a in np.linspace(0, 2 * np.pi, coils, endpoint=False)]
    )
    return (images[:, None] * weights[None]).astype(np.complex64)


def write_fastmri(path: Path, images: np.ndarray, recon: tuple[int, int], single_coil: bool) -> None:
    """fastMRI file: centred k-space of ``images`` (``[S, H, W]`` or ``[S, C, H, W]``), header, references, attrs."""
    kspace = fft2c(torch.from_numpy(images)).numpy().astype(np.complex64)
    height, width = images.shape[-2:]
    top, left = (height - recon[0]) // 2, (width - recon[1]) // 2
    cropped = images[..., top : top + recon[0], left : left + recon[1]]
    reference = np.abs(cropped) if single_coil else np.sqrt((np.abs(cropped) ** 2).sum(axis=1))
    with h5py.File(path, "w") as handle:
        handle["kspace"] = kspace
        handle["ismrmrd_header"] = HEADER.format(ex=height, ey=width, rx=recon[0], ry=recon[1], maxy=width - 1, cy=width // 2).encode()
        handle["reconstruction_rss"] = reference.astype(np.float32)
        if single_coil:
            handle["reconstruction_esc"] = reference.astype(np.float32)
        handle.attrs["acquisition"] = "CORPD_FBK"
        handle.attrs["max"] = float(reference.max())
        handle.attrs["norm"] = float(np.linalg.norm(reference))
        handle.attrs["patient_id"] = "abc123"


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("formats")


@pytest.fixture(scope="session")
def fastmri_sc(data_root) -> Written:
    folder = data_root / "fastmri_sc"
    folder.mkdir()
    written = Written(folder)
    for number in range(3):
        images = anatomy(4, (32, 20), seed=number)
        write_fastmri(folder / f"file100{number}.h5", images, (16, 16), single_coil=True)
        written.images[f"file100{number}"] = images
    return written


@pytest.fixture(scope="session")
def fastmri_mc(data_root) -> Written:
    path = data_root / "file_brain_AXT2_0.h5"
    images = coil_images(anatomy(3, (32, 20), seed=7), coils=4)
    write_fastmri(path, images, (16, 16), single_coil=False)
    return Written(path, {"file_brain_AXT2_0": images})


@pytest.fixture(scope="session")
def fastmri_roots(data_root) -> Written:
    """A fastMRI-layout root: ``singlecoil_train/``, ``singlecoil_val/``, ``singlecoil_test/`` of
    single-coil files (stored 24x20, reconSpace 16x16) and ``multicoil_train/`` (one 2-coil file);
    ``images[split]`` holds ``{volume: images}`` of the single-coil folders, ``extra["slices"][split]``
    the slices per file."""
    root = data_root / "fastmri_roots"
    written = Written(root, extra={"slices": {"train": (3, 2), "val": (2,), "test": (2, 1)}})
    for k, (split, counts) in enumerate(written.extra["slices"].items()):
        folder = root / f"singlecoil_{split}"
        folder.mkdir(parents=True)
        written.images[split] = {}
        for number, count in enumerate(counts):
            images = anatomy(count, (24, 20), seed=100 + 10 * k + number)
            write_fastmri(folder / f"file{split}{number}.h5", images, (16, 16), single_coil=True)
            written.images[split][f"file{split}{number}"] = images
    (root / "multicoil_train").mkdir()
    write_fastmri(root / "multicoil_train" / "filemc0.h5", coil_images(anatomy(2, (24, 20), seed=99), coils=2),
                  (16, 16), single_coil=False)
    return written


@pytest.fixture(scope="session")
def plain_roots(data_root) -> Written:
    """Per-split folders with plain names: ``train/`` (3 files) and ``val/`` (1 file) of 2 single-coil
    16x16 slices each, no ``test/``."""
    root = data_root / "plain_roots"
    for split, files in (("train", 3), ("val", 1)):
        (root / split).mkdir(parents=True)
        for number in range(files):
            write_fastmri(root / split / f"{split}{number}.h5", anatomy(2, (16, 16), seed=number), (16, 16), single_coil=True)
    return Written(root)


@pytest.fixture(scope="session")
def cc359_sc(data_root) -> Written:
    """Single-channel CC-359: float64 [S, H, W, 2], un-centred k-space (``np.fft.fft2``, no shifts)."""
    folder = data_root / "cc359_sc"
    folder.mkdir()
    written = Written(folder)
    for number in range(3):
        images = anatomy(5, (16, 16), seed=10 + number)
        kspace = fft2u(torch.from_numpy(images)).numpy()
        np.save(folder / f"e1409{number}s3_P6758{number}.7.npy", np.stack([kspace.real, kspace.imag], axis=-1).astype(np.float64))
        written.images[f"e1409{number}s3_P6758{number}.7"] = images
    return written


@pytest.fixture(scope="session")
def cc359_mc(data_root) -> Written:
    """Multi-channel CC-359: float32 [S, ky, kz, 2*coils] interleaved, kz >= ceil(0.85 kz) zeroed."""
    path = data_root / "e14089s3_P53248.7.h5"
    coils = coil_images(anatomy(4, (18, 20), seed=20), coils=3)
    kspace = fft2u(torch.from_numpy(coils)).numpy()
    cut = math.ceil(0.85 * kspace.shape[-1])
    kspace[..., cut:] = 0
    kspace = kspace.transpose(0, 2, 3, 1)  # [S, ky, kz, C]
    interleaved = np.empty((*kspace.shape[:3], 2 * kspace.shape[3]), dtype=np.float32)
    interleaved[..., ::2], interleaved[..., 1::2] = kspace.real, kspace.imag
    with h5py.File(path, "w") as handle:
        handle["kspace"] = interleaved
    return Written(path, {"e14089s3_P53248.7": coils}, {"cut": cut})


@pytest.fixture(scope="session")
def modl_file(data_root) -> Written:
    """MoDL dataset.hdf5: trn (3 subjects x 2 slices) and tst (3 slices), masks stored un-centred."""
    path = data_root / "dataset.hdf5"
    written = Written(path)
    rng = np.random.default_rng(5)
    with h5py.File(path, "w") as handle:
        for prefix, count, seed in (("trn", 6, 30), ("tst", 3, 31)):
            org = anatomy(count, (24, 20), seed=seed)
            csm = coil_images(np.ones((count, 24, 20), np.complex64), coils=4)
            csm = csm / np.sqrt((np.abs(csm) ** 2).sum(axis=1, keepdims=True))
            centred = (rng.random((count, 24, 20)) < 0.3).astype(np.int8)
            handle[f"{prefix}Org"] = org
            handle[f"{prefix}Csm"] = csm.astype(np.complex64)
            handle[f"{prefix}Mask"] = np.fft.ifftshift(centred, axes=(-2, -1))
            written.images[prefix] = org
            written.extra[f"{prefix}Csm"] = csm.astype(np.complex64)
            written.extra[f"{prefix}Mask"] = centred
    return written


@pytest.fixture(scope="session")
def cddn_dir(data_root) -> Written:
    """CDDN PNG folder: patients 1, 2, 3, 31, 32; frames 1-2; z 0-1 (plus z 5, skipped by default)."""
    folder = data_root / "cddn"
    folder.mkdir()
    written = Written(folder)
    rng = np.random.default_rng(3)
    for patient in (1, 2, 3, 31, 32):
        for t in (1, 2):
            for z in (0, 1, 5):
                pixels = rng.integers(0, 256, (16, 16), dtype=np.uint8)
                Image.fromarray(pixels, mode="L").save(folder / f"mr_heart_p{patient:02d}t{t:02d}z{z}.png")
                written.images[(patient, t, z)] = pixels
    return written


@pytest.fixture(scope="session")
def nifti_files(data_root) -> Written:
    """Two NIfTI volumes holding the same anatomy, one stored RAS and one stored LPS (flipped x, y)."""
    folder = data_root / "nifti"
    folder.mkdir()
    volume = np.zeros((20, 24, 8), np.float32)
    volume[..., 1:7] = np.moveaxis(anatomy(6, (20, 24), seed=40, complex_valued=False), 0, -1)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), folder / "ras.nii.gz")
    nib.save(nib.Nifti1Image(volume[::-1, ::-1].copy(), np.diag([-1.0, -1.0, 1.0, 1.0])), folder / "lps.nii")
    return Written(folder, {"ras": volume})


@pytest.fixture(scope="session")
def dicom_dir(data_root) -> Written:
    """A DICOM series of 3 slices (written in shuffled order) with rescale slope 2 and intercept 1."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder = data_root / "dicom"
    folder.mkdir()
    stored = (np.arange(3 * 12 * 10).reshape(3, 12, 10) % 97).astype(np.uint16)
    series = generate_uid()
    for position in (2, 0, 1):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "MR", series, 4
        ds.InstanceNumber = 10 - position
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, 2.5 * position]
        ds.Rows, ds.Columns = 12, 10
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = 2, 1
        ds.PixelData = stored[position].tobytes()
        ds.save_as(folder / f"IM{position + 7:04d}", enforce_file_format=True)
    return Written(folder, {"series-4": stored.astype(np.float32) * 2 + 1})


@pytest.fixture(scope="session")
def random_mask():
    """A seeded mask generator ``mask(shape, seed) -> float32 [H, W]``: 30 % random points plus the
    k-space centre. A class from the package (not a conftest function) so that it pickles into
    DataLoader workers even when several test folders' ``conftest`` modules are loaded together."""
    from automri.physics.masks import Random2DMask

    return Random2DMask(rate=0.3, center_radius=1.5)
