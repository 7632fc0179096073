"""Issue 16 examples for the readers: declared shapes checked before reading, no silent wrong data."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from cli_helpers import one_error_line, run_cli

from automri.data.readers import inspect, open_source
from automri.errors import AutoMRIError

HEADER = (
    '<?xml version="1.0"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>'
    "<reconSpace><matrixSize><x>{x}</x><y>{y}</y><z>1</z></matrixSize></reconSpace></encoding></ismrmrdHeader>"
)


@pytest.fixture(autouse=True)
def _small_cap(monkeypatch):
    monkeypatch.setenv("AUTOMRI_MAX_MEMORY", "64M")


def _first_slice(path, fmt="auto"):
    source = open_source(str(path), fmt)
    return source.load_slice(source.volumes()[0], 0)


def test_fastmri_declaring_a_huge_shape_is_refused_before_reading(tmp_path):
    path = tmp_path / "file1.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("kspace", shape=(2, 60000, 60000), dtype=np.complex64)
        handle["ismrmrd_header"] = HEADER.format(x=8, y=8).encode()
    with pytest.raises(AutoMRIError, match=r"file1.h5: key 'kspace': reading shape \(60000, 60000\) would need .* memory cap"):
        _first_slice(path, "fastmri")


def test_fastmri_dataset_declared_but_never_written_is_refused(tmp_path):
    path = tmp_path / "file1.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("kspace", shape=(2, 8, 8), dtype=np.complex64)
        handle["ismrmrd_header"] = HEADER.format(x=8, y=8).encode()
    with pytest.raises(AutoMRIError, match="file1.h5: key 'kspace': declares shape .* but stores no data"):
        _first_slice(path, "fastmri")


@pytest.mark.parametrize("x,y", [(0, 8), (8, -3)])
def test_ismrmrd_recon_space_of_zero_or_negative_size_is_refused(tmp_path, x, y):
    path = tmp_path / "file1.h5"
    with h5py.File(path, "w") as handle:
        handle["kspace"] = np.ones((1, 8, 8), np.complex64)
        handle["ismrmrd_header"] = HEADER.format(x=x, y=y).encode()
    with pytest.raises(AutoMRIError, match=rf"file1.h5: key 'ismrmrd_header' declares reconSpace/matrixSize \({x}, {y}\)"):
        _first_slice(path, "fastmri")


def test_fastmri_zero_slices_and_nan_reference_are_refused(tmp_path):
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as handle:
        handle["kspace"] = np.ones((0, 8, 8), np.complex64)
        handle["ismrmrd_header"] = HEADER.format(x=8, y=8).encode()
    with pytest.raises(AutoMRIError, match=r"empty.h5: key 'kspace': shape \(0, 8, 8\) has an empty or negative size"):
        inspect(str(empty))
    bad = tmp_path / "nanref.h5"
    with h5py.File(bad, "w") as handle:
        handle["kspace"] = np.ones((1, 8, 8), np.complex64)
        handle["ismrmrd_header"] = HEADER.format(x=8, y=8).encode()
        handle["reconstruction_esc"] = np.full((1, 8, 8), np.nan, np.float32)
    with pytest.raises(AutoMRIError, match="nanref.h5: key 'reconstruction_esc' slice 0: contains NaN"):
        _first_slice(bad, "fastmri")


def _modl(path, org_slices=2, mask=None):
    with h5py.File(path, "w") as handle:
        handle["trnOrg"] = np.ones((org_slices, 8, 8), np.complex64)
        handle["trnCsm"] = np.ones((org_slices, 2, 8, 8), np.complex64)
        if mask is not None:
            handle["trnMask"] = mask
    return path


def test_modl_with_zero_slices_is_refused_by_inspect(tmp_path):
    path = _modl(tmp_path / "dataset.hdf5", org_slices=0)
    with pytest.raises(AutoMRIError, match=r"dataset.hdf5: key 'trnOrg': shape \(0, 8, 8\) has an empty or negative size"):
        inspect(str(path))


def test_modl_masks_with_nan_or_no_samples_are_refused(tmp_path):
    nan_mask = np.ones((2, 8, 8), np.float32)
    nan_mask[0, 0, 0] = np.nan
    with pytest.raises(AutoMRIError, match="dataset.hdf5: key 'trnMask' slice 0: contains NaN"):
        _first_slice(_modl(tmp_path / "dataset.hdf5", mask=nan_mask), "modl")
    zero = tmp_path / "zero"
    zero.mkdir()
    with pytest.raises(AutoMRIError, match="key 'trnMask' slice 0: the mask samples nothing"):
        _first_slice(_modl(zero / "dataset.hdf5", mask=np.zeros((2, 8, 8), np.float32)), "modl")


def _nifti_with_dims(tmp_path, dims):
    path = tmp_path / "vol.nii"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 3), np.float32), np.eye(4)), path)
    raw = bytearray(path.read_bytes())
    raw[42:48] = np.array(dims, "<i2").tobytes()
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("dims,message", [
    ((30000, 30000, 300), r"vol.nii: the volume \(30000, 30000, 300\) as float32 would need .* memory cap"),
    ((0, 4, 3), r"vol.nii: header dim: shape \(0, 4, 3\) has an empty or negative size"),
    ((-3, 4, 3), r"vol.nii: (header dim: shape \(-3, 4, 3\) has an empty or negative size|cannot read as NIfTI)"),
    ((8, 8, 3), r"vol.nii: header declares \(8, 8, 3\) float32 voxels .*truncated"),
])
def test_nifti_header_shapes_are_checked_before_reading(tmp_path, dims, message):
    with pytest.raises(AutoMRIError, match=message):
        _first_slice(_nifti_with_dims(tmp_path, dims))


def test_complex_nifti_keeps_its_imaginary_part(tmp_path):
    volume = (np.ones((6, 6, 2)) * (1 + 2j)).astype(np.complex64)
    path = tmp_path / "complex.nii"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    data = _first_slice(path)
    assert not data.magnitude and data.image.dtype == torch.complex64
    assert torch.allclose(data.image, torch.full((6, 6), 1 + 2j, dtype=torch.complex64))


def test_dicom_declaring_no_pixels_or_huge_frames_is_refused(tmp_path):
    from test_reliability_fuzz import write_dicom

    with pytest.raises(AutoMRIError, match=r"IM1.dcm: .*Rows/Columns: shape \(1, 0, 6\) has an empty or negative size"):
        _first_slice(write_dicom(tmp_path / "IM1.dcm", rows=0, pixels=b""))
    with pytest.raises(AutoMRIError, match=r"IM2.dcm: .*would need .* memory cap"):
        _first_slice(write_dicom(tmp_path / "IM2.dcm", rows=60000, columns=60000, frames=100, pixels=bytes(64)))


def test_empty_npy_is_a_clear_error_not_aborted(tmp_path, monkeypatch, capsys):
    path = tmp_path / "e14089s3_P53248.npy"
    path.write_bytes(b"")
    code, _, err = run_cli(monkeypatch, capsys, "data", "inspect", str(path))
    assert code == 2
    assert "e14089s3_P53248.npy: cannot read as .npy (EOFError" in one_error_line(err)


def test_data_show_out_naming_an_existing_folder_writes_inside_it(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "figures"
    folder.mkdir()
    code, out, err = run_cli(monkeypatch, capsys, "data", "show", "phantom", "--size", "32", "--out", str(folder))
    assert code == 0, err
    assert out.strip() == str(folder / "phantom-slice0.png") and (folder / "phantom-slice0.png").stat().st_size > 0
