"""build_dataset / SliceDataset: splits, reproducible masks, one scale, coils, noise, workers, pickling."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from automri.data.datasets import SliceDataset, build_dataset, zero_filled_scale
from automri.data.phantom import PhantomSource
from automri.data.sample import collate
from automri.data.splits import k_fold, make_splits
from automri.errors import AutoMRIError
from automri.physics.fft import fft2c, ifft2c

COLIN = os.path.exists("/usr/share/mricron/templates/ch2.nii.gz")


def _volumes(items):
    return {v for v, _ in items}


def test_subject_split_never_shares_a_volume():
    splits = make_splits(PhantomSource())
    train, val, test = (_volumes(splits[s]) for s in ("train", "val", "test"))
    assert train and val and test
    assert not (train & val or train & test or val & test)
    assert train | val | test == _volumes(splits["all"])
    assert len(splits["all"]) == 6 * 24
    assert make_splits(PhantomSource(), seed=1) != make_splits(PhantomSource(), seed=0)


def test_slab_split_keeps_a_gap_between_splits():
    splits = make_splits(PhantomSource(num_volumes=1, slices=60), gap=4)
    index = {name: sorted(i for _, i in splits[name]) for name in ("train", "val", "test")}
    assert all(index.values())
    assert index["val"][0] - index["train"][-1] > 4
    assert index["test"][0] - index["val"][-1] > 4
    assert 0.6 < len(index["train"]) / (60 - 8) < 0.8
    with pytest.raises(AutoMRIError, match="too few"):
        make_splits(PhantomSource(num_volumes=1, slices=8), gap=4)


@pytest.mark.parametrize("volumes,slices", [(6, 4), (1, 60)])
def test_k_fold_test_folds_partition_the_data_with_disjoint_train_val(volumes, slices):
    source = PhantomSource(num_volumes=volumes, slices=slices)
    folds = k_fold(source, folds=3, gap=3)
    tests = [set(f["test"]) for f in folds]
    assert set().union(*tests) == set(make_splits(source)["all"]) and sum(map(len, tests)) == volumes * slices
    for fold in folds:
        train, val, test = set(fold["train"]), set(fold["val"]), set(fold["test"])
        assert train and val and not (train & val or train & test or val & test)
        if volumes >= 3:
            assert not (_volumes(train) & _volumes(test) or _volumes(val) & _volumes(test) or _volumes(train) & _volumes(val))
            assert abs(len(_volumes(train)) / len(_volumes(val)) - 4.5) < 2.6
        else:
            t = [i for _, i in fold["test"]]
            for other in (fold["train"], fold["val"]):
                assert min(abs(i - j) for _, i in other for j in t) > 3  # the gap
            v = [i for _, i in fold["val"]]
            assert min(abs(i - j) for _, i in fold["train"] for j in v) > 3


def test_masks_are_reproducible_per_slice_and_order_independent(random_mask):
    ds = build_dataset("phantom", "train", size=16, mask=random_mask, seed=3)
    again = build_dataset("phantom", "train", size=16, mask=random_mask, seed=3)
    assert torch.equal(ds[5].mask, again[5].mask) and torch.equal(ds[5].kspace, again[5].kspace)
    assert not torch.equal(ds[5].mask, ds[6].mask)
    last_first = [again[i].mask for i in reversed(range(4))][::-1]
    assert all(torch.equal(ds[i].mask, m) for i, m in enumerate(last_first))
    other_seed = build_dataset("phantom", "train", size=16, mask=random_mask, seed=4)
    assert not torch.equal(ds[5].mask, other_seed[5].mask)


def test_input_and_target_share_one_scale_single_coil(random_mask):
    sample = build_dataset("phantom", "val", size=24, mask=random_mask)[3]
    assert sample.kspace.shape == sample.target.shape == sample.mask.shape == (24, 24)
    assert sample.kspace.dtype == sample.target.dtype == torch.complex64 and sample.mask.dtype == torch.float32
    assert sample.sens is None and sample.target.imag.abs().max() > 0  # synthetic phase present
    # the masked k-space is exactly the masked transform of the target: one scale for both
    torch.testing.assert_close(sample.kspace, fft2c(sample.target) * sample.mask, atol=1e-5, rtol=1e-4)
    zero_filled = ifft2c(sample.kspace).abs().flatten()
    assert torch.quantile(zero_filled, 0.99).item() == pytest.approx(1.0, rel=1e-4)
    assert sample.meta["dataset"] == "phantom" and sample.meta["volume"].startswith("phantom-")


def test_simulated_coils_and_noise(random_mask):
    clean = build_dataset("phantom", "test", size=24, mask=random_mask, coils=4)[2]
    assert clean.kspace.shape == (4, 24, 24) and clean.sens.shape == (4, 24, 24)
    torch.testing.assert_close((clean.sens.abs() ** 2).sum(0), torch.ones(24, 24), atol=1e-5, rtol=0)
    torch.testing.assert_close(clean.kspace, fft2c(clean.sens * clean.target) * clean.mask, atol=1e-5, rtol=1e-4)
    ones = lambda shape, seed=None: torch.ones(shape)  # noqa: E731
    noiseless = build_dataset("phantom", "test", size=24, mask=ones)[2]
    noisy = build_dataset("phantom", "test", size=24, mask=ones, noise=0.05)[2]
    torch.testing.assert_close(noisy.target * noisy.scale, noiseless.target * noiseless.scale)
    full = fft2c(noiseless.target) * noiseless.scale
    relative = ((noisy.kspace * noisy.scale - full).abs().pow(2).mean().sqrt() / full.abs().pow(2).mean().sqrt()).item()
    assert relative == pytest.approx(0.05, rel=0.15)


def test_phase_zero_gives_real_images(random_mask):
    sample = build_dataset("phantom", "train", size=16, mask=random_mask, phase=0.0)[0]
    assert sample.target.imag.abs().max() == 0


def test_max_slices_and_bad_arguments(random_mask):
    ds = build_dataset("phantom", "all", size=16, mask=random_mask, max_slices=10)
    assert len(ds) == 10 and len({v for v, _ in ds.items}) == 6  # evenly spread over all subjects
    with pytest.raises(AutoMRIError, match="--split 'dev'"):
        build_dataset("phantom", "dev", mask=random_mask)
    with pytest.raises(AutoMRIError, match="not a built-in dataset"):
        build_dataset("no/such/place", mask=random_mask)
    with pytest.raises(AutoMRIError, match="--size"):
        build_dataset("phantom", size=0, mask=random_mask)
    with pytest.raises(AutoMRIError, match="does not match"):
        build_dataset("phantom", size=16, mask=lambda shape, seed=None: torch.ones(8, 8))[0]


def test_fold_selection(random_mask):
    test0 = build_dataset("phantom", "test", size=16, mask=random_mask, fold=0)
    test1 = build_dataset("phantom", "test", size=16, mask=random_mask, fold=1)
    assert not ({v for v, _ in test0.items} & {v for v, _ in test1.items})
    with pytest.raises(AutoMRIError, match="fold=3"):
        build_dataset("phantom", "test", mask=random_mask, fold=3)


def test_dataset_pickles_and_works_with_two_workers(random_mask):
    ds = build_dataset("phantom", "val", size=16, mask=random_mask, coils=2)
    restored = pickle.loads(pickle.dumps(ds))
    assert torch.equal(restored[1].kspace, ds[1].kspace)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert sum(len(b) for b in batches) == len(ds)
    first = batches[0]
    assert first.kspace.shape == (4, 2, 16, 16) and first.sens.shape == (4, 2, 16, 16) and first.scale.shape == (4,)
    torch.testing.assert_close(first.kspace[2], ds[2].kspace)


def test_zero_filled_scale_of_empty_slice_is_one():
    assert zero_filled_scale(torch.zeros(8, 8, dtype=torch.complex64), None) == 1.0


@pytest.mark.skipif(not COLIN, reason="mricron-data not installed")
def test_colin27_dataset_uses_slabs(random_mask):
    train = build_dataset("colin27", "train", size=32, mask=random_mask)
    test = build_dataset("colin27", "test", size=32, mask=random_mask)
    assert min(i for _, i in test.items) - max(i for _, i in train.items) > 5
    sample = test[0]
    assert sample.target.shape == (32, 32) and sample.meta["dataset"] == "colin27"


def test_slice_dataset_accepts_explicit_items(random_mask):
    ds = SliceDataset(PhantomSource(num_volumes=1, slices=3), [("phantom-00", 2)], random_mask, size=12)
    assert len(ds) == 1 and ds[0].meta["slice"] == 2 and ds[0].kspace.shape == (12, 12)
