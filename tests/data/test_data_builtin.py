"""Built-in datasets: listing, presence, install hints, the numerical phantom, Colin27 slices."""

from __future__ import annotations

import os

import pytest
import torch

from automri.data import builtin
from automri.data.builtin import list_builtin, open_builtin
from automri.data.phantom import PhantomSource
from automri.errors import AutoMRIError

COLIN = os.path.exists("/usr/share/mricron/templates/ch2.nii.gz")


def test_list_builtin_reports_presence_paths_and_hints():
    entries = {e["name"]: e for e in list_builtin()}
    assert set(entries) == {"phantom", "colin27", "icbm152"}
    assert entries["phantom"]["present"] is True and entries["phantom"]["path"] is None
    assert entries["colin27"]["path"].endswith("ch2.nii.gz")
    assert entries["colin27"]["install_hint"] == "apt-get install -y mricron-data"
    assert entries["colin27"]["present"] == COLIN
    assert entries["icbm152"]["path"].endswith("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")


def test_missing_builtin_raises_with_install_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin, "COLIN27_DIR", str(tmp_path))
    with pytest.raises(AutoMRIError, match="apt-get install -y mricron-data"):
        open_builtin("colin27")
    with pytest.raises(AutoMRIError, match="unknown built-in dataset 'nope'"):
        open_builtin("nope")


def test_phantom_is_deterministic_and_subjects_differ():
    source = PhantomSource()
    assert source.volumes() == [f"phantom-{v:02d}" for v in range(6)]
    a = source.load_slice("phantom-01", 5).image
    assert torch.equal(a, PhantomSource().load_slice("phantom-01", 5).image)
    assert a.shape == (128, 128) and a.dtype == torch.float32 and float(a.min()) >= 0
    neighbour = source.load_slice("phantom-01", 6).image
    other = source.load_slice("phantom-02", 5).image
    # adjacent slices of one subject look alike; the same slice of another subject does not
    assert (a - neighbour).abs().mean() < 0.5 * (a - other).abs().mean()
    with pytest.raises(AutoMRIError, match="24 slices"):
        source.load_slice("phantom-01", 24)


@pytest.mark.skipif(not COLIN, reason="mricron-data not installed")
def test_colin27_keeps_about_120_brain_slices():
    source = open_builtin("colin27")
    assert source.volumes() == ["ch2"]
    count = source.num_slices("ch2")
    assert 110 <= count <= 135
    data = source.load_slice("ch2", count // 2)
    assert data.magnitude and tuple(data.image.shape) == (217, 181)
    image = data.image.numpy()
    assert image[100:120, 80:100].mean() > 5 * image[:10, :10].mean() + 1  # brain in the middle, air in the corner
