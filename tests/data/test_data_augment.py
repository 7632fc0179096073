"""Training augmentation: spec parsing, exact warps, per-epoch draws that keep k-space physical."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from automri.data.augment import STANDARD, Augmentation, parse_augment, warp
from automri.data.datasets import build_dataset
from automri.errors import AutoMRIError
from automri.physics.fft import fft2c
from automri.train.config import RunConfig, apply_overrides


def _image(height: int = 12, width: int = 12) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.complex(torch.randn(height, width, generator=generator), torch.randn(height, width, generator=generator))


def test_parse_spec_and_errors_name_the_key():
    assert parse_augment("none") is None and parse_augment(" NONE ") is None
    assert parse_augment(STANDARD) == Augmentation(flip=0.5, rotate=180.0, scale=0.15, translate=0.1)
    assert parse_augment("rotate=10") == Augmentation(rotate=10.0)
    with pytest.raises(AutoMRIError, match="'shear=0.1' is not one of"):
        parse_augment("flip=0.5,shear=0.1")
    with pytest.raises(AutoMRIError, match="rotate='big' is not a number"):
        parse_augment("rotate=big")
    with pytest.raises(AutoMRIError, match="flip is a probability"):
        parse_augment("flip=2")
    with pytest.raises(AutoMRIError, match=r"scale must be in \[0, 1\)"):
        parse_augment("scale=1")
    with pytest.raises(AutoMRIError, match="(--augment|data.augment): augment spec 'zoom=2'"):
        apply_overrides(RunConfig(), {"model.name": "unet", "data.augment": "zoom=2"})


def test_identity_flips_and_quarter_turn_are_exact():
    image = _image()
    rng = np.random.default_rng(0)
    assert torch.allclose(warp(image, Augmentation().sample(rng)), image, atol=1e-6)
    both_flips = Augmentation(flip=1.0).sample(rng)
    assert torch.allclose(warp(image, both_flips), image.flip(-1, -2), atol=1e-6)
    quarter = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])  # output (x, y) samples input (-y, x)
    assert torch.allclose(warp(image, quarter), torch.rot90(image, 1, dims=(-2, -1)), atol=1e-6)


def test_rotation_of_a_non_square_image_keeps_pixels_square():
    """A quarter turn of a wide image moves a point 3.5 pixels right of the centre 3.5 pixels up."""
    image = torch.zeros(16, 24, dtype=torch.complex64)
    image[8, 12 + 3] = 1.0  # pixel centres: row 8 is 0.5 px below the centre, column 15 is 3.5 px right
    quarter = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    moved = warp(image, quarter).abs()
    row, column = divmod(int(moved.argmax()), 24)
    # output (x, y) samples input (-y, x): input (3.5, 0.5) from the centre shows at output (0.5, -3.5),
    # i.e. row 8 - 4, column 12 (without the aspect correction it would land 2.3 pixels up)
    assert (row, column) == (4, 12)


def test_coil_images_and_maps_move_together():
    image = torch.stack([_image(), 2 * _image()])
    transform = Augmentation(rotate=30, scale=0.1, translate=0.1).sample(np.random.default_rng(3))
    assert torch.allclose(warp(image, transform)[1], 2 * warp(image[0], transform), atol=1e-5)


def test_augmented_dataset_draws_per_epoch_and_stays_physical():
    plain = build_dataset("phantom", "train", size=16, max_slices=2)
    augmented = build_dataset("phantom", "train", size=16, max_slices=2, augment=STANDARD)
    first = augmented[0]
    assert torch.equal(augmented[0].target, first.target)  # same epoch, same sample
    augmented.set_epoch(1)
    second = augmented[0]
    assert not torch.allclose(second.target, first.target)
    assert not torch.equal(second.mask, first.mask)  # a fresh mask every epoch
    augmented.set_epoch(0)
    assert torch.equal(augmented[0].kspace, first.kspace)
    for sample in (first, second):  # the measurements are those of the moved image
        assert torch.allclose(sample.kspace, fft2c(sample.target) * sample.mask, atol=1e-5)
    plain.set_epoch(1)  # no augmentation: epochs change nothing
    assert torch.equal(plain[0].kspace, build_dataset("phantom", "train", size=16, max_slices=2)[0].kspace)


def test_set_epoch_reaches_slices_under_wrappers_and_with_augment_copies():
    from torch.utils.data import ConcatDataset, Subset

    from automri.data.datasets import set_epoch

    val = build_dataset("phantom", "val", size=16, max_slices=2)
    twin = val.with_augment(STANDARD)
    assert val.augment is None and twin.augment is not None and twin.items == val.items
    train = build_dataset("phantom", "train", size=16, max_slices=2, augment=STANDARD)
    first = (train[0].target, twin[0].target)
    set_epoch(ConcatDataset([Subset(train, [0, 1]), twin]), 3)
    assert train.epoch == 3 and twin.epoch == 3 and val.epoch == 0
    assert not torch.allclose(train[0].target, first[0]) and not torch.allclose(twin[0].target, first[1])
    set_epoch(torch.utils.data.TensorDataset(torch.zeros(1)), 3)  # other datasets are left alone


def test_phase_zero_gives_real_images():
    sample = build_dataset("phantom", "train", size=16, max_slices=1, phase=0.0)[0]
    assert float(sample.target.imag.abs().max()) == 0.0
    phased = build_dataset("phantom", "train", size=16, max_slices=1, phase=math.pi)[0]
    assert float(phased.target.imag.abs().max()) > 0.0
