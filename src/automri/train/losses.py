"""Training losses on complex images.

Every loss is ``loss(pred, target) -> scalar tensor`` with ``pred`` and ``target`` complex
``[B, H, W]`` (the model output and ``Batch.target``):

- ``mse``: mean squared error over the real and imaginary channels (the 2-channel MSE of MoDL,
  DC-CNN and the FedAutoMRI architecture step), i.e. ``mean(|pred - target|^2) / 2``.
- ``l1``: mean absolute error over the real and imaginary channels.
- ``mse_mag`` / ``l1_mag``: MSE / L1 between magnitudes ``|pred|`` and ``|target|`` (FedAutoMRI's
  federated training uses ``mse_mag``).
- ``mse_mag_z``: ``mse_mag`` of each image divided by the variance of its target magnitude, i.e. the
  magnitude MSE at the scale of z-scored images, as the official FedAutoMRI/GAutoMRI code trains
  (it z-scores every image; AutoMRI divides input and target by one shared scale instead, which
  keeps data consistency exact but makes the loss about ten times smaller). Adam's weight updates
  do not depend on the loss scale, but the architecture step's L2 weight decay (1e-3, fixed by the
  paper) is weighed against it: the FedAutoMRI search uses this loss.
- ``ssim``: ``1 - SSIM(|pred|, |target|)`` with fastMRI's ``SSIMLoss`` settings (7x7 uniform window,
  per-image data range ``max |target|``), via :func:`automri.eval.metrics.ssim_torch`.
- ``mse+ssim``: ``mse + ssim`` (unweighted sum).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from automri.errors import AutoMRIError
from automri.eval.metrics import ssim_torch

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse_complex(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE over the (real, imag) channels of complex ``[B, H, W]`` images."""
    return F.mse_loss(torch.view_as_real(pred), torch.view_as_real(target))


def l1_complex(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 over the (real, imag) channels of complex ``[B, H, W]`` images."""
    return F.l1_loss(torch.view_as_real(pred), torch.view_as_real(target))


def mse_magnitude(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the magnitudes of complex ``[B, H, W]`` images."""
    return F.mse_loss(pred.abs(), target.abs())


def mse_magnitude_z(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image magnitude MSE over the variance of the target magnitude, averaged over ``[B]``."""
    target_mag = target.abs()
    variance = target_mag.detach().var(dim=(-2, -1)).clamp_min(1e-12)
    return ((pred.abs() - target_mag) ** 2).mean(dim=(-2, -1)).div(variance).mean()


def l1_magnitude(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the magnitudes of complex ``[B, H, W]`` images."""
    return F.l1_loss(pred.abs(), target.abs())


def ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - SSIM`` of magnitudes, data range = max of each target magnitude image."""
    target_mag = target.abs()
    data_range = target_mag.detach().amax(dim=(-2, -1))
    return 1.0 - ssim_torch(pred.abs(), target_mag, data_range)


def mse_plus_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mse_complex + ssim_loss``."""
    return mse_complex(pred, target) + ssim_loss(pred, target)


LOSSES: dict[str, Loss] = {
    "mse": mse_complex,
    "l1": l1_complex,
    "mse_mag": mse_magnitude,
    "mse_mag_z": mse_magnitude_z,
    "l1_mag": l1_magnitude,
    "ssim": ssim_loss,
    "mse+ssim": mse_plus_ssim,
}


def build_loss(name: str) -> Loss:
    """The loss function called ``name`` (see the module docstring); unknown names raise
    :class:`AutoMRIError` listing the valid ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise AutoMRIError(f"--loss {name!r}: unknown loss (expected one of {', '.join(LOSSES)})") from None
