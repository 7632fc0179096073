"""Coil combination and sensitivity estimation for multi-coil data without stored maps.

:func:`estimate_sens_maps` uses the low-resolution ACS approach: keep only the central
``acs_fraction`` of k-space in both directions (under a Hann window, to avoid ringing), go back to
image space, and divide each low-resolution coil image by the root-sum-of-squares of all of them:
``S_c = lowres_c / sqrt(sum_c |lowres_c|^2)``. The maps then satisfy ``sum_c |S_c|^2 = 1`` where
there is signal, and the SENSE combination ``sum_c conj(S_c) x_c`` is a complex image with the
magnitude close to RSS and a smooth phase.

:func:`espirit_maps` is ESPIRiT (Uecker et al. 2014), the field's standard, from SigPy
(``sigpy.mri.app.EspiritCalib``) on the same central calibration region; ``--sens-maps espirit``.
"""

from __future__ import annotations

import torch

from automri.errors import AutoMRIError
from automri.physics.fft import fft2c, ifft2c

SENS_METHODS = ("acs", "espirit")
"""How maps are estimated for coil data without stored maps: the low-resolution ACS ratio or ESPIRiT."""


def check_sens_method(method: str, where: str = "--sens-maps") -> None:
    """:class:`AutoMRIError` naming ``where`` unless ``method`` is one of :data:`SENS_METHODS`."""
    if method not in SENS_METHODS:
        raise AutoMRIError(f"{where}: expected one of {', '.join(SENS_METHODS)}, got {method!r}")


def rss(coil_images: torch.Tensor) -> torch.Tensor:
    """Root-sum-of-squares over the coil axis: ``[..., C, H, W]`` -> float ``[..., H, W]``."""
    return coil_images.abs().pow(2).sum(dim=-3).sqrt()


def _centre_window(length: int, keep: int) -> torch.Tensor:
    """1D Hann window of ``keep`` samples centred on index ``length // 2`` (zeros elsewhere)."""
    window = torch.zeros(length)
    keep = max(1, min(keep, length))
    start = length // 2 - keep // 2
    window[start : start + keep] = torch.hann_window(keep + 2, periodic=False)[1:-1]
    return window


def estimate_sens_maps(coil_images: torch.Tensor, acs_fraction: float = 0.08, eps: float = 1e-6) -> torch.Tensor:
    """Sensitivity maps complex64 ``[C, H, W]`` from fully sampled coil images ``[C, H, W]``.

    ``acs_fraction``: fraction of each k-space dimension kept around the centre (at least 8 lines).
    Pixels where the low-resolution RSS is below ``eps`` times its maximum get zero maps.
    """
    _, height, width = coil_images.shape
    window = _centre_window(height, max(8, round(acs_fraction * height)))[:, None] * _centre_window(
        width, max(8, round(acs_fraction * width))
    )[None, :]
    lowres = ifft2c(fft2c(coil_images) * window)
    norm = rss(lowres)
    valid = norm > eps * norm.max()
    maps = torch.where(valid, lowres / torch.where(valid, norm, torch.ones_like(norm)), torch.zeros_like(lowres))
    return maps.to(torch.complex64)


def espirit_maps(coil_images: torch.Tensor, acs_fraction: float = 0.08) -> torch.Tensor:
    """ESPIRiT sensitivity maps complex64 ``[C, H, W]`` of fully sampled coil images ``[C, H, W]``,
    calibrated on the central ``acs_fraction`` of k-space, at least SigPy's default 24 lines (fewer
    zeroed parts of the object: 7.8 % of a 128 px brain slice at 12 lines, none at 24) and at most
    the image; kernel 6, eigenvalue threshold 0.02 and crop 0.95 as SigPy's defaults (maps are zero
    outside the object). SigPy's FFT is centred and orthonormal, as :func:`automri.physics.fft.fft2c`."""
    try:
        from sigpy.mri.app import EspiritCalib  # optional (pulls in numba): only when ESPIRiT is asked for
    except ImportError:
        raise AutoMRIError("--sens-maps espirit needs SigPy: pip install 'automri[espirit]'") from None

    side = min(coil_images.shape[-2:])
    calib = min(side, max(24, round(acs_fraction * side)))
    kspace = fft2c(coil_images.to(torch.complex64)).numpy()
    maps = EspiritCalib(kspace, calib_width=calib, kernel_width=min(6, calib - 2), show_pbar=False).run()
    return torch.from_numpy(maps).to(torch.complex64)


def sens_maps(coil_images: torch.Tensor, method: str, acs_fraction: float = 0.08) -> torch.Tensor:
    """Maps of coil images by ``method`` (one of :data:`SENS_METHODS`)."""
    if method == "espirit":
        return espirit_maps(coil_images, acs_fraction)
    return estimate_sens_maps(coil_images, acs_fraction)
