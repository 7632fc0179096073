"""AutoMRI physics layer: centred FFTs, masks, forward operators, CG and data-consistency layers."""

from automri.physics.cg import conjugate_gradient
from automri.physics.complex import channels_to_complex, complex_to_channels
from automri.physics.dc import HardDC, NoiseWeightedDC, ProximalDC, TwoStepDC
from automri.physics.fft import fft2c, fft2u, ifft2c, ifft2u, uncentered_to_centered_kspace, uncentered_to_centered_mask
from automri.physics.masks import (
    FastMRIEquispacedExactMask,
    FastMRIEquispacedMask,
    FastMRIRandomMask,
    FixedMask,
    GaussianLineMask,
    MaskGenerator,
    PoissonDiscMask,
    Random2DMask,
    RandomLineMask,
    build_mask,
    fastmri_mask_spec,
    sampling_rate,
)
from automri.physics.operators import SenseOperator, SingleCoilOperator, make_operator

__all__ = [
    "FastMRIEquispacedExactMask",
    "FastMRIEquispacedMask",
    "FastMRIRandomMask",
    "FixedMask",
    "GaussianLineMask",
    "MaskGenerator",
    "PoissonDiscMask",
    "Random2DMask",
    "RandomLineMask",
    "build_mask",
    "fastmri_mask_spec",
    "sampling_rate",
    "HardDC",
    "NoiseWeightedDC",
    "ProximalDC",
    "SenseOperator",
    "SingleCoilOperator",
    "TwoStepDC",
    "channels_to_complex",
    "complex_to_channels",
    "conjugate_gradient",
    "fft2c",
    "fft2u",
    "ifft2c",
    "ifft2u",
    "make_operator",
    "uncentered_to_centered_kspace",
    "uncentered_to_centered_mask",
]
