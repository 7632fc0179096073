"""Every kind of bad input gives one AutoMRIError naming the file (and key) and what was expected."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from automri.data.readers import detect_format, open_source
from automri.errors import AutoMRIError


def _h5(path, **arrays):
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle[key] = value
    return path


def _load_first(path, fmt="auto", **options):
    source = open_source(str(path), fmt, **options)
    volume = source.volumes()[0]
    return source.load_slice(volume, 0)


def test_missing_path_and_unknown_formats(tmp_path):
    with pytest.raises(AutoMRIError, match="no such file"):
        open_source(str(tmp_path / "absent.h5"))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(AutoMRIError, match=r"notes.txt: unknown format"):
        detect_format(str(text))
    with pytest.raises(AutoMRIError, match="--format 'bogus'"):
        open_source(str(text), "bogus")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AutoMRIError, match="no file of a known format"):
        detect_format(str(empty))
    fake = tmp_path / "fake.h5"
    fake.write_text("not hdf5")
    with pytest.raises(AutoMRIError, match="fake.h5: cannot open as HDF5"):
        detect_format(str(fake))


def test_hdf5_with_unknown_keys(tmp_path):
    path = _h5(tmp_path / "other.h5", images=np.zeros((2, 4, 4)))
    with pytest.raises(AutoMRIError, match=r"other.h5: HDF5 keys \['images'\]"):
        detect_format(str(path))
    with pytest.raises(AutoMRIError, match=r"other.h5: key 'kspace' missing"):
        _load_first(path, "fastmri")


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"kspace": np.zeros((2, 8, 8), np.float32), "ismrmrd_header": b"<x/>"}, "key 'kspace' has dtype float32"),
        ({"kspace": np.zeros((8, 8), np.complex64), "ismrmrd_header": b"<x/>"}, "key 'kspace': shape .* wrong number of dimensions"),
        ({"kspace": np.zeros((2, 8, 8), np.complex64)}, "key 'ismrmrd_header' missing"),
        ({"kspace": np.zeros((2, 8, 8), np.complex64), "ismrmrd_header": b"<x/>"}, "'ismrmrd_header' is not valid ISMRMRD XML"),
        ({"kspace": np.full((2, 8, 8), np.nan, np.complex64), "ismrmrd_header": b"<x/>"}, "key 'kspace' slice 0: contains NaN"),
        ({"kspace": np.zeros((2, 8, 8), np.complex64), "mask": np.ones(8), "ismrmrd_header": b"<x/>"}, "undersampled"),
    ],
)
def test_fastmri_bad_files(tmp_path, arrays, message):
    path = _h5(tmp_path / "file1.h5", **arrays)
    with pytest.raises(AutoMRIError, match=f"file1.h5: .*{message}"):
        _load_first(path, "fastmri")


def test_cc359_bad_files(tmp_path):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 8, 8)))
    with pytest.raises(AutoMRIError, match=r"wrong.npy: array float64 \(2, 8, 8\) \(expected float array \[slices, H, W, 2\]"):
        _load_first(wrong)
    bad = tmp_path / "nan.npy"
    array = np.zeros((2, 8, 8, 2))
    array[0, 1, 1, 0] = np.inf
    np.save(bad, array)
    with pytest.raises(AutoMRIError, match="nan.npy: slice 0: contains NaN or Inf"):
        _load_first(bad)
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(AutoMRIError, match="corrupt.npy: cannot read as .npy"):
        _load_first(corrupt)
    with pytest.raises(AutoMRIError, match="outer_slices=1"):
        open_source(str(wrong.parent / "nan.npy"), outer_slices=1).num_slices("nan")
    odd = _h5(tmp_path / "odd.h5", kspace=np.zeros((2, 8, 8, 5), np.float32))
    with pytest.raises(AutoMRIError, match=r"odd.h5: key 'kspace' is float32 \(2, 8, 8, 5\)"):
        _load_first(odd, "cc359-mc")


def test_modl_bad_files(tmp_path):
    no_maps = _h5(tmp_path / "dataset.hdf5", trnOrg=np.zeros((2, 8, 8), np.complex64))
    with pytest.raises(AutoMRIError, match="dataset.hdf5: key 'trnCsm' missing"):
        open_source(str(no_maps), "modl")
    shapes = _h5(tmp_path / "shapes.hdf5", tstOrg=np.zeros((2, 8, 8), np.complex64), tstCsm=np.zeros((2, 3, 8, 6), np.complex64))
    with pytest.raises(AutoMRIError, match=r"shapes.hdf5: key 'tstCsm' is complex64 \(2, 3, 8, 6\)"):
        open_source(str(shapes), "modl")
    neither = _h5(tmp_path / "neither.hdf5", x=np.zeros(3))
    with pytest.raises(AutoMRIError, match="neither.hdf5: keys 'trnOrg' and 'tstOrg' missing"):
        open_source(str(neither), "modl")


def test_cddn_and_dicom_bad_files(tmp_path):
    folder = tmp_path / "cddn"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8), mode="RGB").save(folder / "mr_heart_p01t01z0.png")
    with pytest.raises(AutoMRIError, match="mr_heart_p01t01z0.png: PNG mode RGB"):
        _load_first(folder)
    with pytest.raises(AutoMRIError, match="no CDDN files"):
        open_source(str(tmp_path), "cddn")
    dicom = tmp_path / "broken.dcm"
    dicom.write_bytes(b"\0" * 128 + b"DICM" + b"\x01\x02")
    with pytest.raises(AutoMRIError, match="broken.dcm: DICOM without an image"):
        _load_first(dicom)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"garbage")
    with pytest.raises(AutoMRIError, match="junk.dcm: cannot read as DICOM"):
        _load_first(junk)


def test_nifti_bad_files(tmp_path):
    bad = tmp_path / "nan.nii"
    volume = np.ones((4, 4, 3), np.float32)
    volume[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(volume, np.eye(4)), bad)
    with pytest.raises(AutoMRIError, match="nan.nii: voxel data: contains NaN"):
        _load_first(bad)
    four_d = tmp_path / "fmri.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 3, 2), np.float32), np.eye(4)), four_d)
    with pytest.raises(AutoMRIError, match=r"fmri.nii.gz: image shape \(4, 4, 3, 2\) \(expected a 3D volume"):
        _load_first(four_d)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"garbage")
    with pytest.raises(AutoMRIError, match="broken.nii.gz: cannot read as NIfTI"):
        _load_first(broken)
