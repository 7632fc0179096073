"""Data-consistency (DC) layers acting on complex images.

Every layer is an ``nn.Module`` with ``forward(x, kspace, mask, sens=None) -> x``:
``x`` complex ``[B, H, W]``; ``kspace`` the measured, already masked, centred k-space ``[B, H, W]``
(single-coil) or ``[B, C, H, W]`` (with ``sens`` complex coil maps ``[B, C, H, W]``); ``mask`` real
0/1 ``[B, H, W]`` (centred, broadcast over coils).

Multi-coil k-space replacement acts per coil on ``fft2c(S_c x)`` and coil-combines the result with
``sum_c conj(S_c) ifft2c(.)`` (the SENSE adjoint), exact when ``sum_c |S_c|^2 = 1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from automri.errors import AutoMRIError
from automri.physics.cg import conjugate_gradient
from automri.physics.fft import fft2c, ifft2c
from automri.physics.operators import make_operator

KspaceRule = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _check_inputs(kspace: torch.Tensor, sens: torch.Tensor | None) -> None:
    expected = 3 if sens is None else 4
    if kspace.dim() != expected:
        layout = "[B, H, W] without sens" if sens is None else "[B, C, H, W] with sens"
        raise AutoMRIError(f"kspace: expected {layout}, got shape {tuple(kspace.shape)}")


def kspace_consistency(
    x: torch.Tensor,
    kspace: torch.Tensor,
    mask: torch.Tensor,
    sens: torch.Tensor | None,
    rule: KspaceRule,
) -> torch.Tensor:
    """Apply ``rule(k_pred, k0, M) -> k_out`` in k-space (per coil when ``sens`` is given).

    ``x`` complex ``[B, H, W]`` -> complex ``[B, H, W]``.
    """
    _check_inputs(kspace, sens)
    if sens is None:
        return ifft2c(rule(fft2c(x), kspace, mask))
    coil_mask = mask.unsqueeze(-3)
    k_out = rule(fft2c(sens * x.unsqueeze(-3)), kspace, coil_mask)
    return (sens.conj() * ifft2c(k_out)).sum(dim=-3)


def hard_replacement(k_pred: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(1 - M) k_pred + M k0``: measured samples replace predicted ones."""
    return (1 - mask) * k_pred + mask * k0


class HardDC(nn.Module):
    """Noiseless DC (DC-CNN): ``x_out = F^-1((1 - M) F x + M k0)``."""

    def forward(
        self, x: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        return kspace_consistency(x, kspace, mask, sens, hard_replacement)


def _inverse_softplus(value: float) -> float:
    """``y`` with ``softplus(y) = value`` (``value > 0``)."""
    return value + math.log(-math.expm1(-value))


class NoiseWeightedDC(nn.Module):
    """DC-CNN's DC with noise weight ``v``: ``k_out = (1 - M) k + M (k + v k0) / (1 + v)``.

    ``noise_level=None`` is hard replacement (js3611's default ``lmda=None``); ``v -> inf`` tends to
    hard replacement and ``v -> 0`` to keeping the prediction. With ``learnable=True``, ``v`` is a
    trained scalar kept positive as ``v = softplus(raw)`` (``raw`` initialised so that ``v`` starts
    at ``noise_level``).
    """

    def __init__(self, noise_level: float | None = None, learnable: bool = True) -> None:
        super().__init__()
        if noise_level is not None and not noise_level > 0:
            raise AutoMRIError(f"noise_level: expected a positive float or None (hard DC), got {noise_level}")
        if noise_level is None:
            self.register_parameter("raw_noise", None)
        else:
            raw = torch.tensor(_inverse_softplus(float(noise_level)))
            if learnable:
                self.raw_noise = nn.Parameter(raw)
            else:
                self.register_buffer("raw_noise", raw)

    @property
    def noise_level(self) -> torch.Tensor | None:
        """The positive weight ``v`` (a 0-dim tensor), or None for hard replacement."""
        return None if self.raw_noise is None else F.softplus(self.raw_noise)

    def forward(
        self, x: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        v = self.noise_level
        if v is None:
            return kspace_consistency(x, kspace, mask, sens, hard_replacement)

        def weighted(k_pred: torch.Tensor, k0: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return (1 - m) * k_pred + m * (k_pred + v * k0) / (1 + v)

        return kspace_consistency(x, kspace, mask, sens, weighted)


class TwoStepDC(nn.Module):
    """CDDN's two-step DC (TDC): hard DC, make the image real, hard DC again.

    ``x1 = DC(x)``; ``x1r = |x1|`` (``real_mode="abs"``, the common reading of "real-valued") or
    ``Re(x1)`` (``real_mode="real"``); returns ``x2 = DC(x1r)``, complex ``[B, H, W]``.
    """

    def __init__(self, real_mode: str = "abs") -> None:
        super().__init__()
        if real_mode not in ("abs", "real"):
            raise AutoMRIError(f"real_mode: expected 'abs' or 'real', got {real_mode!r}")
        self.real_mode = real_mode

    def forward(
        self, x: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        x1 = kspace_consistency(x, kspace, mask, sens, hard_replacement)
        x1_real = x1.abs() if self.real_mode == "abs" else x1.real
        return kspace_consistency(x1_real.to(x1.dtype), kspace, mask, sens, hard_replacement)


class ProximalDC(nn.Module):
    """MoDL's DC: ``x = (A^H A + lam I)^-1 (A^H k + lam z)`` for the denoiser output ``z``.

    ``lam`` is one scalar (a 0-dim ``nn.Parameter`` when ``learnable``, else a buffer), initialised
    to 0.05 like MoDL and used as is (unconstrained, as in MoDL). ``closed_form``: ``"auto"`` uses the
    exact single-coil Cartesian solution ``ifft2c((M k0 + lam F z) / (M^2 + lam))`` when ``sens`` is
    None and CG (``max_iter``, ``tol``) otherwise; ``True`` forces the closed form (single-coil
    only); ``False`` always runs CG.
    """

    def __init__(
        self,
        lam: float = 0.05,
        learnable: bool = True,
        max_iter: int = 10,
        tol: float = 1e-10,
        closed_form: bool | str = "auto",
    ) -> None:
        super().__init__()
        if not lam > 0:
            raise AutoMRIError(f"lam: expected a positive float, got {lam}")
        if closed_form not in ("auto", True, False):
            raise AutoMRIError(f"closed_form: expected 'auto', True or False, got {closed_form!r}")
        value = torch.tensor(float(lam))
        if learnable:
            self.lam = nn.Parameter(value)
        else:
            self.register_buffer("lam", value)
        self.max_iter = max_iter
        self.tol = tol
        self.closed_form = closed_form

    def forward(
        self, z: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        _check_inputs(kspace, sens)
        if self.closed_form is True and sens is not None:
            raise AutoMRIError("closed_form=True: the closed form is single-coil only, but sens was given")
        if sens is None and self.closed_form in ("auto", True):
            return ifft2c((mask * kspace + self.lam * fft2c(z)) / (mask * mask + self.lam))
        operator = make_operator(mask, sens)
        rhs = operator.adjoint(kspace) + self.lam * z
        return conjugate_gradient(
            lambda image: operator.normal(image) + self.lam * image, rhs, self.max_iter, self.tol
        )
