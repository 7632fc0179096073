"""Mask generators: shapes, seeds, rates, fully sampled centres, fastMRI/DC-CNN rules, files, specs."""

import math

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from automri.errors import AutoMRIError
from automri.physics.masks import (
    FastMRIEquispacedExactMask,
    FastMRIEquispacedMask,
    FastMRIRandomMask,
    FixedMask,
    GaussianLineMask,
    PoissonDiscMask,
    Random2DMask,
    RandomLineMask,
    build_mask,
    center_block,
    center_disc,
    fastmri_mask_spec,
    poisson_disc_points,
    sampling_rate,
)

# (generator, expected rate for (H, W) or None, tolerance, fully sampled centre as a bool [H, W] fn)
CASES = {
    "random": (RandomLineMask(0.3, 0.08), lambda h, w: round(0.3 * w) / w, 0.0,
               lambda h, w: _columns(w, center_block(w, max(1, round(0.08 * w))))),
    "fastmri-random": (FastMRIRandomMask([0.08, 0.04], [4, 8]), None, None,
                       lambda h, w: _columns(w, center_block(w, max(1, round(0.04 * w))))),
    "equispaced": (FastMRIEquispacedMask(0.08, 4), lambda h, w: 0.25, 2.5,
                   lambda h, w: _columns(w, center_block(w, max(1, round(0.08 * w))))),
    "gaussian": (GaussianLineMask(3, 4), lambda h, w: int(w / 3) / w, 0.0,
                 lambda h, w: _columns(w, center_block(w, 4))),
    "random2d": (Random2DMask(0.3, 2), lambda h, w: round(0.3 * h * w) / (h * w), 0.0,
                 lambda h, w: center_disc(h, w, 2)),
    "poisson": (PoissonDiscMask(3, 2), lambda h, w: round(h * w / 3) / (h * w), 0.0,
                lambda h, w: center_disc(h, w, 2)),
}
LINE_KINDS = {"random", "fastmri-random", "equispaced", "gaussian"}


def _columns(width, block):
    columns = np.zeros(width, dtype=bool)
    columns[block] = True
    return columns[None, :]


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(sorted(CASES)), height=st.integers(16, 40), width=st.integers(16, 40),
       seed=st.integers(0, 2**31 - 1))
def test_mask_properties(kind, height, width, seed):
    generator, expected_rate, tolerance, centre = CASES[kind]
    mask = generator((height, width), seed=seed)
    assert mask.shape == (height, width) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(generator((height, width), seed=seed), mask)  # same seed, same mask
    assert mask[height // 2, width // 2] == 1  # DC always sampled
    assert mask.numpy()[np.broadcast_to(centre(height, width), (height, width))].all()
    if kind in LINE_KINDS:
        assert (mask == mask[:1]).all()  # the same columns on every row
    if expected_rate is not None:
        # tolerance is in columns for line masks (0: the count is exact)
        assert abs(sampling_rate(mask) - expected_rate(height, width)) <= tolerance / width + 1e-12


@pytest.mark.parametrize("kind", sorted(CASES))
def test_different_seeds_give_different_masks(kind):
    generator = CASES[kind][0]
    masks = {generator((64, 64), seed=seed).numpy().tobytes() for seed in range(8)}
    assert len(masks) >= (2 if kind == "equispaced" else 8)  # equispaced only varies its offset


def test_sampling_rate_counts_nonzero_points():
    mask = torch.zeros(2, 4, 5)
    mask[0, 1, 2] = 1
    mask[1, :, 0] = 0.5
    assert sampling_rate(mask) == pytest.approx(5 / 40)


def _fastmri_random_rule(width, center_fractions, accelerations, seed):
    """fastMRI RandomMaskFunc, restated from fastmri/data/subsample.py."""
    rng = np.random.RandomState(seed)
    choice = rng.randint(0, len(accelerations))
    num_low = int(round(width * center_fractions[choice]))
    prob = (width / accelerations[choice] - num_low) / (width - num_low)
    mask = rng.uniform(size=width) < prob
    pad = (width - num_low + 1) // 2
    mask[pad : pad + num_low] = True
    return mask


def _fastmri_equispaced_rule(width, center_fraction, acceleration, seed):
    """fastMRI EquispacedMaskFractionFunc, restated."""
    rng = np.random.RandomState(seed)
    rng.randint(0, 1)
    num_low = int(round(width * center_fraction))
    mask = np.zeros(width, dtype=bool)
    pad = (width - num_low + 1) // 2
    mask[pad : pad + num_low] = True
    adjusted = (acceleration * (num_low - width)) / (num_low * acceleration - width)
    offset = rng.randint(0, round(adjusted))
    mask[np.around(np.arange(offset, width - 1, adjusted)).astype(int)] = True
    return mask


@pytest.mark.parametrize("width", [368, 256, 63])
def test_fastmri_masks_match_the_fastmri_rule(width):
    random_mask = FastMRIRandomMask([0.08, 0.04], [4, 8])
    equispaced = FastMRIEquispacedMask(0.08, 4)
    for seed in range(5):
        expected = _fastmri_random_rule(width, [0.08, 0.04], [4, 8], seed)
        np.testing.assert_array_equal(random_mask((3, width), seed=seed)[0].numpy(), expected)
        expected = _fastmri_equispaced_rule(width, 0.08, 4, seed)
        np.testing.assert_array_equal(equispaced((3, width), seed=seed)[0].numpy(), expected)


def _fastmri_equispaced_exact_rule(width, center_fractions, accelerations, seed):
    """fastMRI EquiSpacedMaskFunc (``--mask_type equispaced`` since fastMRI 0.2), restated."""
    rng = np.random.RandomState(seed)
    choice = rng.randint(len(center_fractions))
    num_low = round(width * center_fractions[choice])
    mask = np.zeros(width, dtype=bool)
    pad = (width - num_low + 1) // 2
    mask[pad : pad + num_low] = True
    mask[rng.randint(0, high=round(accelerations[choice])) :: accelerations[choice]] = True
    return mask


@pytest.mark.parametrize("width", [368, 63])
def test_equispaced_exact_matches_fastmri_equispaced_mask_func(width):
    generator = FastMRIEquispacedExactMask([0.08, 0.04], [4, 8])
    for seed in range(6):
        expected = _fastmri_equispaced_exact_rule(width, [0.08, 0.04], [4, 8], seed)
        np.testing.assert_array_equal(generator((3, width), seed=seed)[0].numpy(), expected)


def test_fastmri_mask_types_map_onto_mask_specs():
    assert fastmri_mask_spec("random", [0.08, 0.04], [4, 8]) == "fastmri-random:cf=0.08/0.04,acc=4/8"
    assert fastmri_mask_spec("equispaced", [0.08], [4]) == "equispaced-exact:cf=0.08,acc=4"
    assert fastmri_mask_spec("equispaced_fraction", [0.08], [4]) == "equispaced:cf=0.08,acc=4"
    with pytest.raises(AutoMRIError, match="fastMRI mask type 'magic': expected one of random, equispaced, equispaced_fraction"):
        fastmri_mask_spec("magic", [0.08], [4])
    with pytest.raises(AutoMRIError, match="same"):
        fastmri_mask_spec("random", [0.08, 0.04], [4])


def test_fastmri_random_centre_count_and_expected_rate():
    width = 368
    generator = FastMRIRandomMask(0.08, 4)
    masks = torch.stack([generator((1, width), seed=seed)[0] for seed in range(300)])
    num_low = round(width * 0.08)
    assert masks[:, center_block(width, num_low)].all()
    assert masks.mean().item() == pytest.approx(0.25, abs=0.005)  # expected total W / acc


def test_gaussian_mask_is_denser_near_the_centre():
    width = 128
    generator = GaussianLineMask(4, 8)
    masks = torch.stack([generator((1, width), seed=seed)[0] for seed in range(100)])
    outer = masks.clone()
    outer[:, center_block(width, 8)] = 0
    near = outer[:, width // 2 - 16 : width // 2 + 16].mean()
    far = torch.cat([outer[:, :32], outer[:, -32:]], dim=1).mean()
    assert near > 2 * far
    assert (masks.sum(dim=1) == width // 4).all()


def test_poisson_disc_points_respect_the_minimum_distance():
    height, width = 24, 20
    radius = np.full((height, width), 2.5)
    radius[:, width // 2 :] = 4.0
    fixed = np.zeros((height, width), dtype=bool)
    fixed[12, 10] = True
    order = np.random.default_rng(0).permutation(height * width)
    order = order[order != 12 * width + 10]
    points = poisson_disc_points(radius, fixed, order)
    coords = [divmod(p, width) for p in [12 * width + 10, *points]]
    for i, (r1, c1) in enumerate(coords):
        for r2, c2 in coords[i + 1 :]:  # a later point lies outside the earlier point's disc
            assert math.hypot(r1 - r2, c1 - c2) >= radius[r1, c1]
    # Maximal: every pixel is a point or within a point's radius.
    covered = np.zeros((height, width), dtype=bool)
    rows, cols = np.mgrid[:height, :width]
    for r, c in coords:
        covered |= np.hypot(rows - r, cols - c) < radius[r, c]
    assert covered.all()


def test_poisson_mask_has_variable_density():
    mask = PoissonDiscMask(6, 3)((64, 64), seed=3).numpy().astype(bool)
    distance = np.hypot(*np.mgrid[:64, :64] - 32)
    inner = mask[(distance > 5) & (distance < 16)].mean()
    outer = mask[distance > 24].mean()
    assert inner > outer
    assert mask.sum() == round(64 * 64 / 6)


def test_fixed_mask_npy_round_trip_and_column_masks(tmp_path):
    mask = (np.random.default_rng(0).random((16, 12)) < 0.3)
    mask[8, 6] = True
    np.save(tmp_path / "m.npy", mask)
    np.testing.assert_array_equal(FixedMask(tmp_path / "m.npy")((16, 12), seed=5).numpy(), mask)
    columns = np.zeros(12)
    columns[[0, 6, 7]] = 1
    np.save(tmp_path / "c.npy", columns[None, :])
    loaded = FixedMask(tmp_path / "c.npy")((16, 12))
    np.testing.assert_array_equal(loaded.numpy(), np.broadcast_to(columns, (16, 12)))
    uncentred = FixedMask(tmp_path / "c.npy", centered=False)((16, 12))
    np.testing.assert_array_equal(uncentred.numpy(), np.broadcast_to(np.fft.fftshift(columns), (16, 12)))


def test_fixed_mask_mat_files(tmp_path):
    mask = np.zeros((10, 8), dtype=np.uint8)
    mask[:, [1, 4, 5]] = 1
    scipy.io.savemat(tmp_path / "one.mat", {"mask": mask})
    np.testing.assert_array_equal(FixedMask(tmp_path / "one.mat")((10, 8)).numpy(), mask)
    scipy.io.savemat(tmp_path / "two.mat", {"mask": mask, "other": np.ones(3)})
    np.testing.assert_array_equal(FixedMask(tmp_path / "two.mat", key="mask")((10, 8)).numpy(), mask)
    with pytest.raises(AutoMRIError, match="two.mat.*key"):
        FixedMask(tmp_path / "two.mat")
    with pytest.raises(AutoMRIError, match="'missing' not found"):
        FixedMask(tmp_path / "two.mat", key="missing")


def test_fixed_mask_mat_v73_through_h5py(tmp_path):
    mask = np.zeros((10, 8), dtype=np.float64)
    mask[:, [2, 4]] = 1
    mask[0, 0] = 1  # not symmetric: catches a missing transpose
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle["mask"] = mask.T  # MATLAB stores column-major
    with open(path, "r+b") as handle:  # MATLAB 7.3 header: text, then version 0x0200 and 'IM'
        handle.write(b"MATLAB 7.3 MAT-file".ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    np.testing.assert_array_equal(FixedMask(path)((10, 8)).numpy(), mask)


def test_fixed_mask_errors(tmp_path):
    np.save(tmp_path / "m.npy", np.ones((16, 12)))
    with pytest.raises(AutoMRIError, match=r"m\.npy.*\(16, 12\).*\(20, 12\)"):
        FixedMask(tmp_path / "m.npy")((20, 12))
    np.save(tmp_path / "zeros.npy", np.zeros(12))
    with pytest.raises(AutoMRIError, match="empty"):
        FixedMask(tmp_path / "zeros.npy")
    with pytest.raises(AutoMRIError, match="not found"):
        FixedMask(tmp_path / "absent.npy")
    (tmp_path / "m.txt").write_text("1 0 1")
    with pytest.raises(AutoMRIError, match="unsupported"):
        FixedMask(tmp_path / "m.txt")
    np.save(tmp_path / "cube.npy", np.ones((2, 3, 4)))
    with pytest.raises(AutoMRIError, match="cube.npy"):
        FixedMask(tmp_path / "cube.npy")


@pytest.mark.parametrize("spec, cls", [
    ("random:rate=0.15,center=0.04", RandomLineMask),
    ("fastmri-random:cf=0.08,acc=4", FastMRIRandomMask),
    ("fastmri-random:cf=0.08/0.04,acc=4/8", FastMRIRandomMask),
    ("equispaced:cf=0.08,acc=4", FastMRIEquispacedMask),
    ("equispaced-exact:cf=0.08/0.04,acc=4/8", FastMRIEquispacedExactMask),
    ("gaussian:acc=4,center=8", GaussianLineMask),
    ("random2d:rate=0.25,radius=4", Random2DMask),
    ("random2d:rate=0.25", Random2DMask),
    ("poisson:acc=4,radius=8", PoissonDiscMask),
    ("poisson:acc=4", PoissonDiscMask),
])
def test_build_mask_parses_specs_and_names_round_trip(spec, cls):
    generator = build_mask(spec)
    assert isinstance(generator, cls)
    again = build_mask(generator.name)
    assert again.name == generator.name
    torch.testing.assert_close(again((64, 64), seed=1), generator((64, 64), seed=1))


def test_build_mask_values_dicts_and_files(tmp_path):
    generator = build_mask("fastmri-random:cf=0.08/0.04,acc=4/8")
    assert generator.center_fractions == (0.08, 0.04) and generator.accelerations == (4.0, 8.0)
    gaussian = build_mask({"kind": "gaussian", "acc": 4, "center": 8})
    assert gaussian.acceleration == 4 and gaussian.center_lines == 8
    assert build_mask(gaussian) is gaussian
    np.save(tmp_path / "m.npy", np.ones(12))
    fixed = build_mask(f"file:{tmp_path / 'm.npy'},centered=false")
    assert isinstance(fixed, FixedMask) and not fixed.centered
    assert isinstance(build_mask(fixed.name), FixedMask)


@pytest.mark.parametrize("spec, message", [
    ("gaussian:acc=0.5", "acceleration"),
    ("fastmri-random:cf=0.08,acc=0.9", "acceleration"),
    ("random:rate=0", "rate"),
    ("random:rate=1.5", "rate"),
    ("random2d:rate=-0.1", "rate"),
    ("spiral:acc=4", "unknown kind 'spiral'"),
    ("random:rate=0.2,width=3", "unknown key.*width.*expected rate, center"),
    ("poisson:radius=4", "missing acc"),
    ("random:rate=abc", "not a number"),
    ("random:rate", "not key=value"),
    ("fastmri-random:cf=0.08/0.04,acc=4", "same"),
    ("equispaced-exact:cf=0.08,acc=2.5", "whole numbers"),
    ({"kind": "random", "rate": 0.2, "bogus": 1}, "bogus"),
    (42, "expected a string"),
])
def test_build_mask_errors(spec, message):
    with pytest.raises(AutoMRIError, match=message):
        build_mask(spec)


def test_targets_below_the_centre_raise():
    with pytest.raises(AutoMRIError, match="centre"):
        RandomLineMask(0.05, 0.2)((16, 16))
    with pytest.raises(AutoMRIError, match="centre"):
        PoissonDiscMask(8, 8)((32, 32))
    with pytest.raises(AutoMRIError, match="shape"):
        RandomLineMask(0.2)((16,))


def test_poisson_target_equal_to_centre_is_the_centre_disc():
    disc = center_disc(32, 32, 1)
    mask = PoissonDiscMask(32 * 32 / disc.sum(), 1)((32, 32), seed=0)
    np.testing.assert_array_equal(mask.numpy().astype(bool), disc)


def test_unseeded_calls_draw_fresh_masks():
    generator = RandomLineMask(0.3, 0.04)
    masks = {generator((8, 128)).numpy().tobytes() for _ in range(4)}
    assert len(masks) > 1


def test_fixed_mask_files_damaged_or_non_finite_give_one_clear_error(tmp_path):
    import numpy as np

    from automri.errors import AutoMRIError
    from automri.physics.masks import build_mask

    good = np.zeros((8, 8), dtype=np.float32)
    good[:, ::2] = 1
    np.save(tmp_path / "good.npy", good)
    assert float(build_mask(f"file:{tmp_path / 'good.npy'}")((8, 8)).mean()) == 0.5
    data = (tmp_path / "good.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    nan = good.copy()
    nan[0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    for name, message in (("cut.npy", "not a readable .npy array"), ("nan.npy", "NaN or infinite")):
        with pytest.raises(AutoMRIError, match=message):
            build_mask(f"file:{tmp_path / name}")
