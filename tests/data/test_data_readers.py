"""Every reader gives back exactly the images written in its real on-disk format (tests/data/conftest.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from automri.data.coils import rss
from automri.data.datasets import build_dataset
from automri.data.readers import detect_format, inspect, open_source
from automri.data.resize import centre_crop
from automri.physics.fft import fft2c, fft2u, ifft2u


def _close(a, b, tol=1e-4):
    a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
    torch.testing.assert_close(a.to(b.dtype), b, atol=tol * float(b.abs().max()), rtol=0)


def test_fastmri_single_coil_round_trip(fastmri_sc):
    assert detect_format(str(fastmri_sc.path)) == "fastmri"
    source = open_source(str(fastmri_sc.path))
    assert source.volumes() == ["file1000", "file1001", "file1002"]
    assert source.num_slices("file1001") == 4
    data = source.load_slice("file1001", 2)
    expected = centre_crop(torch.from_numpy(fastmri_sc.images["file1001"][2]), (16, 16))
    _close(data.image, expected)
    _close(data.reference, expected.abs())  # the file's reconstruction_esc agrees with our crop
    assert data.meta["acquisition"] == "CORPD_FBK" and data.num_coils == 0


def test_fastmri_multi_coil_round_trip_and_sense_target(fastmri_mc, random_mask):
    source = open_source(str(fastmri_mc.path))
    data = source.load_slice("file_brain_AXT2_0", 1)
    coils = centre_crop(torch.from_numpy(fastmri_mc.images["file_brain_AXT2_0"][1]), (16, 16))
    assert data.num_coils == 4
    _close(data.image, coils)
    _close(data.reference, rss(coils))
    sample = build_dataset(str(fastmri_mc.path), "all", size=16, mask=random_mask)[1]
    assert sample.sens.shape == (4, 16, 16)
    # estimated maps: unit sum of squares where there is signal, SENSE target close to RSS in magnitude
    inside = rss(coils) > 0.2 * rss(coils).max()
    torch.testing.assert_close((sample.sens.abs() ** 2).sum(0)[inside], torch.ones(int(inside.sum())), atol=1e-4, rtol=0)
    ratio = (sample.target.abs() * sample.scale)[inside] / rss(coils)[inside]
    assert float((ratio - 1).abs().mean()) < 0.05


def test_cc359_single_channel_uncentred_kspace_gives_the_written_image(cc359_sc):
    assert detect_format(str(cc359_sc.path)) == "cc359"
    source = open_source(str(cc359_sc.path))
    volume = "e14091s3_P67581.7"
    _close(source.load_slice(volume, 3).image, cc359_sc.images[volume][3])
    # the dataset's centred k-space has its DC (largest value) in the centre, where masks keep the ACS block
    sample = build_dataset(str(cc359_sc.path), "all", size=16, mask=lambda shape, seed=None: torch.ones(shape))[0]
    peak = int(sample.kspace.abs().argmax())
    assert divmod(peak, 16) == (8, 8)
    outer = open_source(str(cc359_sc.path), outer_slices=1)
    assert outer.num_slices(volume) == 3
    _close(outer.load_slice(volume, 0).image, cc359_sc.images[volume][1])


def test_cc359_multi_channel_interleaving_and_kz_cut(cc359_mc):
    assert detect_format(str(cc359_mc.path)) == "cc359-mc"
    source = open_source(str(cc359_mc.path))
    volume = "e14089s3_P53248.7"
    data = source.load_slice(volume, 2)
    coils = torch.from_numpy(cc359_mc.images[volume][2])
    kspace = fft2u(coils)
    kspace[..., cc359_mc.extra["cut"] :] = 0
    assert data.num_coils == 3
    _close(data.image, ifft2u(kspace))
    _close(data.reference, rss(ifft2u(kspace)))
    assert not torch.allclose(data.image, coils, atol=1e-3)  # the zeroed kz tail is part of the stored data


def test_modl_file_images_maps_and_own_masks(modl_file):
    assert detect_format(str(modl_file.path)) == "modl"
    source = open_source(str(modl_file.path), slices_per_subject=2)
    assert source.volumes() == ["trn-00", "trn-01", "trn-02", "tst-00"]
    data = source.load_slice("trn-01", 1)
    _close(data.image, modl_file.images["trn"][3])
    _close(data.sens, modl_file.extra["trnCsm"][3])
    assert torch.equal(data.mask, torch.from_numpy(modl_file.extra["trnMask"][3]).float())
    ds = build_dataset(str(modl_file.path), "test", size=None, mask="source", split_mode="source", reader_options={"slices_per_subject": 2})
    assert {v for v, _ in ds.items} == {"tst-00"}
    sample = ds[1]
    mask = torch.from_numpy(modl_file.extra["tstMask"][1]).float()
    assert torch.equal(sample.mask, mask)
    _close(sample.target * sample.scale, modl_file.images["tst"][1])
    _close(sample.kspace * sample.scale, fft2c(torch.from_numpy(modl_file.extra["tstCsm"][1] * modl_file.images["tst"][1])) * mask)
    train = build_dataset(str(modl_file.path), "train", size=None, mask="source", split_mode="source", reader_options={"slices_per_subject": 2})
    val = build_dataset(str(modl_file.path), "val", size=None, mask="source", split_mode="source", reader_options={"slices_per_subject": 2})
    assert {v for v, _ in train.items} == {"trn-00", "trn-01"} and {v for v, _ in val.items} == {"trn-02"}


def test_modl_file_masks_need_native_size(modl_file):
    from automri.errors import AutoMRIError

    with pytest.raises(AutoMRIError, match="size=None"):
        build_dataset(str(modl_file.path), "all", size=16, mask="source", reader_options={"slices_per_subject": 2})[0]


def test_cddn_pngs_patients_frames_and_authors_split(cddn_dir):
    assert detect_format(str(cddn_dir.path)) == "cddn"
    source = open_source(str(cddn_dir.path))
    assert source.volumes() == ["p01", "p02", "p03", "p31", "p32"]
    assert source.num_slices("p02") == 4  # t 1-2 x z 0-1; z 5 > max_z 4 is skipped like the authors
    data = source.load_slice("p02", 3)
    assert (data.meta["t"], data.meta["z"]) == (2, 1) and data.magnitude
    _close(data.image, cddn_dir.images[(2, 2, 1)] / 255.0)
    assert open_source(str(cddn_dir.path), max_z=None).num_slices("p02") == 6
    splits = build_dataset(str(cddn_dir.path), "test", size=16, mask=lambda s, seed=None: torch.ones(s), split_mode="source", phase=0)
    assert {v for v, _ in splits.items} == {"p31", "p32"}
    assert splits[0].target.imag.abs().max() == 0


def test_nifti_reorients_to_ras_and_skips_empty_slices(nifti_files):
    source = open_source(str(nifti_files.path))
    assert detect_format(str(nifti_files.path)) == "nifti"
    assert source.volumes() == ["lps", "ras"]
    volume = nifti_files.images["ras"]
    assert source.num_slices("ras") == source.num_slices("lps") == 6  # the empty slices 0 and 7 are skipped
    for name in ("ras", "lps"):
        data = source.load_slice(name, 2)
        assert data.meta["slice"] == 3
        _close(data.image, np.rot90(volume[:, :, 3]).copy())


def test_dicom_series_sorted_by_position_with_rescale(dicom_dir):
    assert detect_format(str(dicom_dir.path)) == "dicom"
    source = open_source(str(dicom_dir.path))
    assert source.volumes() == ["series-4"] and source.num_slices("series-4") == 3
    for k in range(3):
        _close(source.load_slice("series-4", k).image, dicom_dir.images["series-4"][k])
    single = open_source(str(next(dicom_dir.path.iterdir())))
    assert single.num_slices("series-4") == 1


@pytest.mark.parametrize("fixture", ["fastmri_sc", "fastmri_mc", "cc359_sc", "cc359_mc", "modl_file", "cddn_dir", "nifti_files", "dicom_dir"])
def test_inspect_summarises_every_format(fixture, request):
    written = request.getfixturevalue(fixture)
    info = inspect(str(written.path))
    assert info["volumes"] >= 1 and info["slices"] >= 1 and len(info["image_shape"]) == 2
    assert info["format"] == detect_format(str(written.path)) and "dtype" in info and "stored_shape" in info
    assert info["coils"] == {"fastmri_mc": 4, "cc359_mc": 3, "modl_file": 4}.get(fixture, 0)


def test_sources_keep_no_file_open_and_pickle(fastmri_sc, cc359_mc, modl_file):
    import os

    def open_files():
        return {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}

    before = open_files()
    for path in (fastmri_sc.path, cc359_mc.path, modl_file.path):
        source = open_source(str(path))
        volume = source.volumes()[0]
        source.load_slice(volume, 0)
        clone = pickle.loads(pickle.dumps(source))
        _close(clone.load_slice(volume, 0).image, source.load_slice(volume, 0).image)
    leaked = {f for f in open_files() - before if str(fastmri_sc.path.parent) in f}
    assert not leaked


def test_hdf5_dataset_in_two_dataloader_workers(cc359_mc, random_mask):
    from torch.utils.data import DataLoader

    from automri.data.sample import collate

    ds = build_dataset(str(cc359_mc.path), "all", size=16, mask=random_mask)
    batches = list(DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate))
    assert [b.kspace.shape for b in batches] == [(2, 3, 16, 16)] * 2
    torch.testing.assert_close(batches[1].target[1], ds[3].target)
