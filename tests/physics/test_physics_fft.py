"""Centred/un-centred orthonormal FFT conventions."""

import pytest
import torch

from automri.physics.fft import fft2c, fft2u, ifft2c, uncentered_to_centered_kspace, uncentered_to_centered_mask


def _image(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                         torch.randn(shape, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(2, 16, 16), (1, 15, 20), (3, 2, 9, 7)])
def test_round_trip_and_parseval(shape):
    x = _image(shape)
    k = fft2c(x)
    torch.testing.assert_close(ifft2c(k), x)
    torch.testing.assert_close(fft2c(ifft2c(x)), x)
    torch.testing.assert_close((k.abs() ** 2).sum(), (x.abs() ** 2).sum())


@pytest.mark.parametrize("shape", [(16, 16), (15, 20), (9, 7)])
def test_constant_image_has_single_dc_peak_at_centre(shape):
    h, w = shape
    k = fft2c(torch.ones(shape, dtype=torch.complex128))
    expected = torch.zeros(shape, dtype=torch.complex128)
    expected[h // 2, w // 2] = (h * w) ** 0.5
    torch.testing.assert_close(k, expected)


@pytest.mark.parametrize("shape", [(16, 12), (15, 11), (16, 11)])
def test_uncentered_to_centered_kspace_keeps_the_image_and_moves_dc_to_centre(shape):
    image = _image(shape, seed=1)  # CC-359 / MoDL: the anatomy sits in the middle of ifft2(k)
    uncentered = fft2u(image)
    centred = uncentered_to_centered_kspace(uncentered)
    torch.testing.assert_close(ifft2c(centred), image)
    h, w = shape[-2:]
    torch.testing.assert_close(centred[..., h // 2, w // 2], uncentered[..., 0, 0])


def test_uncentered_mask_moves_dc_to_centre():
    mask = torch.zeros(7, 8)
    mask[0, 0] = 1
    centred = uncentered_to_centered_mask(mask)
    assert centred[7 // 2, 8 // 2] == 1 and centred.sum() == 1


@pytest.mark.parametrize("shape", [(2, 16, 16), (3, 2, 12, 10), (1, 14, 8), (6, 4)])
def test_even_size_checkerboard_path_equals_the_shift_definition(shape):
    x = _image(shape, seed=3)
    dims = (-2, -1)
    expected_k = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=dims), dim=dims, norm="ortho"), dim=dims)
    expected_x = torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(x, dim=dims), dim=dims, norm="ortho"), dim=dims)
    torch.testing.assert_close(fft2c(x), expected_k)
    torch.testing.assert_close(ifft2c(x), expected_x)
