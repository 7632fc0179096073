"""Property tests (hypothesis): readers give back what was written for random shapes and contents."""

from __future__ import annotations

import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from automri.data.readers import open_source
from automri.physics.fft import fft2c, fft2u

SETTINGS = settings(max_examples=12, deadline=None)


@SETTINGS
@given(shape=st.tuples(st.integers(2, 9), st.integers(2, 9), st.integers(1, 6)), seed=st.integers(0, 10_000), empty=st.integers(0, 5))
def test_nifti_slices_match_the_volume(shape, seed, empty):
    volume = np.random.default_rng(seed).uniform(0.5, 2.0, shape).astype(np.float32)
    empty = empty % shape[2]
    volume[:, :, empty] = 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "v.nii.gz"
        nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
        source = open_source(str(path))
        kept = [k for k in range(shape[2]) if k != empty]
        assert source.num_slices("v") == len(kept)
        for index, k in enumerate(kept):
            data = source.load_slice("v", index)
            assert data.meta["slice"] == k
            np.testing.assert_allclose(data.image.numpy(), np.rot90(volume[:, :, k]))


@SETTINGS
@given(slices=st.integers(1, 3), height=st.integers(2, 12), width=st.integers(2, 12), seed=st.integers(0, 10_000))
def test_cc359_round_trip_and_centring(slices, height, width, seed):
    rng = np.random.default_rng(seed)
    images = (rng.normal(size=(slices, height, width)) + 1j * rng.normal(size=(slices, height, width))).astype(np.complex64)
    kspace = fft2u(torch.from_numpy(images)).numpy()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "subject.npy"
        np.save(path, np.stack([kspace.real, kspace.imag], -1))
        source = open_source(str(path))
        for k in range(slices):
            image = source.load_slice("subject", k).image
            torch.testing.assert_close(image, torch.from_numpy(images[k]), atol=1e-4, rtol=1e-4)
            # the centred k-space holds the stored k-space's DC value at (H // 2, W // 2)
            centred = fft2c(image)
            assert abs(complex(centred[height // 2, width // 2]) - complex(kspace[k, 0, 0])) < 1e-3 * (1 + abs(kspace[k, 0, 0]))
