"""Per-split root folders (fastMRI / DIRECT layout): each split reads its folder whole, the challenge
picks fastMRI's ``<challenge>_<split>`` folders, and the native size keeps the reconSpace crop."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from automri.data.datasets import build_dataset
from automri.data.phantom import PhantomSource
from automri.data.sample import Sample, collate
from automri.data.splits import MODES, make_splits
from automri.errors import AutoMRIError

MASK = "fastmri-random:cf=0.25,acc=2"


def _volumes(dataset) -> dict[str, int]:
    counts: dict[str, int] = {}
    for volume, _ in dataset.items:
        counts[volume] = counts.get(volume, 0) + 1
    return counts


@pytest.fixture
def plain_root(plain_roots):
    return plain_roots.path


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_each_split_reads_its_own_folder_whole(fastmri_roots, split):
    dataset = build_dataset(str(fastmri_roots.path), split, size=None, mask=MASK, challenge="singlecoil")
    expected = {f"file{split}{number}": count for number, count in enumerate(fastmri_roots.extra["slices"][split])}
    assert _volumes(dataset) == expected  # every slice of every file of the folder, nothing of the others
    assert dataset.source.path == str(fastmri_roots.path / f"singlecoil_{split}")


def test_plain_split_names_are_not_re_split(plain_root):
    train = build_dataset(str(plain_root), "train", size=16, mask=MASK)
    val = build_dataset(str(plain_root), "val", size=16, mask=MASK, split_mode="roots")
    assert _volumes(train) == {"train0": 2, "train1": 2, "train2": 2}  # 3 volumes would give 70/10/20 = 2/0/1
    assert _volumes(val) == {"val0": 2}


def test_a_missing_split_folder_names_the_folder_expected(plain_root):
    with pytest.raises(AutoMRIError, match=rf"split 'test': expected the folder {plain_root / 'test'} "):
        build_dataset(str(plain_root), "test", size=16, mask=MASK)


def test_both_challenges_without_challenge_is_one_error_naming_both(fastmri_roots):
    with pytest.raises(AutoMRIError, match=r"holds both singlecoil_\* and multicoil_\* .*--challenge singlecoil or --challenge multicoil"):
        build_dataset(str(fastmri_roots.path), "train", size=None, mask=MASK)


def test_the_challenge_selects_its_folders(fastmri_roots):
    multi = build_dataset(str(fastmri_roots.path), "train", size=None, mask=MASK, challenge="multicoil")
    assert _volumes(multi) == {"filemc0": 2} and multi[0].sens is not None and multi[0].sens.shape[0] == 2
    single = build_dataset(str(fastmri_roots.path), "train", size=None, mask=MASK, challenge="singlecoil")
    assert single[0].sens is None
    with pytest.raises(AutoMRIError, match=rf"expected the folder {fastmri_roots.path / 'multicoil_val'}"):
        build_dataset(str(fastmri_roots.path), "val", size=None, mask=MASK, challenge="multicoil")
    with pytest.raises(AutoMRIError, match="--challenge 'knee': expected one of singlecoil, multicoil"):
        build_dataset(str(fastmri_roots.path), "train", size=None, mask=MASK, challenge="knee")


def test_native_size_keeps_the_reconspace_crop(fastmri_roots):
    """Stored 24x20, reconSpace 16x16: the target is the centre crop, equal to the file's own
    ``reconstruction_esc`` in source units (as fastMRI scores)."""
    dataset = build_dataset(str(fastmri_roots.path), "val", size=None, mask=MASK, challenge="singlecoil")
    with h5py.File(fastmri_roots.path / "singlecoil_val" / "fileval0.h5") as handle:
        assert handle["kspace"].shape[-2:] == (24, 20)
        reference = handle["reconstruction_esc"][()]
    for position, (_, index) in enumerate(dataset.items):
        sample = dataset[position]
        assert sample.target.shape == sample.kspace.shape == sample.mask.shape == (16, 16)
        np.testing.assert_allclose((sample.target.abs() * sample.scale).numpy(), reference[index], rtol=1e-4, atol=1e-5)
    assert build_dataset(str(fastmri_roots.path), "val", size=8, mask=MASK, challenge="singlecoil")[0].target.shape == (8, 8)


def test_k_fold_other_modes_and_the_all_split_are_refused_on_roots(fastmri_roots, fastmri_sc):
    root = str(fastmri_roots.path)
    options = {"size": None, "mask": MASK, "challenge": "singlecoil"}
    with pytest.raises(AutoMRIError, match="fold=0: k-fold cross-validation needs one pool of volumes"):
        build_dataset(root, "train", fold=0, **options)
    with pytest.raises(AutoMRIError, match="split mode 'subject': .* holds per-split folders"):
        build_dataset(root, "train", split_mode="subject", **options)
    with pytest.raises(AutoMRIError, match="split 'all': .* expected one of train, val, test"):
        build_dataset(root, "all", **options)
    with pytest.raises(AutoMRIError, match="split mode roots: --dataset .*fastmri_sc holds no per-split folders"):
        build_dataset(str(fastmri_sc.path), "train", size=None, mask=MASK, split_mode="roots")
    with pytest.raises(AutoMRIError, match="--challenge singlecoil: --dataset phantom holds no per-split folders"):
        build_dataset("phantom", "train", size=16, mask=MASK, challenge="singlecoil")
    assert "roots" in MODES
    with pytest.raises(AutoMRIError, match="split mode roots: phantom is one source"):
        make_splits(PhantomSource(num_volumes=3, slices=2), "roots")


def test_batching_slices_of_two_native_sizes_is_one_clear_error():
    def sample(side: int, volume: str) -> Sample:
        image = torch.zeros(side, side, dtype=torch.complex64)
        return Sample(kspace=image, mask=torch.ones(side, side), target=image, meta={"volume": volume})

    with pytest.raises(AutoMRIError, match=r"different sizes \[\(16, 16\), \(20, 20\)\] \(volumes a, b\).*--batch-size 1"):
        collate([sample(16, "a"), sample(20, "b")])
