"""Classical compressed sensing: total-variation regularised reconstruction, no training.

Solves, per sample,

    min_x  1/2 ||A x - k||^2  +  lam_s * sum_pixels sqrt(|D_h x|^2 + |D_v x|^2 + eps_s^2)

(isotropic TV smoothed by ``eps_s`` so that it is differentiable) with FISTA (Beck & Teboulle 2009,
accelerated gradient descent) from the zero-filled image, a fixed number of iterations and the
step ``1/L``, ``L`` an upper bound of the gradient's Lipschitz constant. ``A`` is the single-coil or
SENSE operator of :mod:`automri.physics.operators`. ``lam`` and ``eps`` are relative to the peak
magnitude ``s`` of the zero-filled image (``lam_s = lam * s``, ``eps_s = eps * s``), which makes the
reconstruction scale-equivariant: scaling the k-space by ``c`` scales the result by ``c``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from automri.errors import AutoMRIError
from automri.models.common import check_positive, zero_filled
from automri.physics.operators import make_operator

# ||D||^2 <= 8 for 2D forward differences (4 per direction).
_DIFFERENCE_NORM_SQ = 8.0


def finite_differences(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along W and H with Neumann boundaries (last difference 0).

    ``image`` complex ``[B, H, W]`` -> ``(d_w, d_h)``, both ``[B, H, W]``.
    """
    d_w = torch.diff(image, dim=-1, append=image[..., -1:])
    d_h = torch.diff(image, dim=-2, append=image[..., -1:, :])
    return d_w, d_h


def finite_differences_adjoint(d_w: torch.Tensor, d_h: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`finite_differences` (minus the divergence), ``[B, H, W]`` each -> ``[B, H, W]``."""
    d_w = d_w[..., :-1]
    d_h = d_h[..., :-1, :]
    adj_w = F.pad(d_w, (1, 0)) - F.pad(d_w, (0, 1))
    adj_h = F.pad(d_h, (0, 0, 1, 0)) - F.pad(d_h, (0, 0, 0, 1))
    return adj_w + adj_h


def smoothed_tv_gradient(image: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Gradient of ``sum sqrt(|D_w x|^2 + |D_h x|^2 + eps^2)`` w.r.t. a complex image ``[B, H, W]``.

    ``eps``: ``[B, 1, 1]``. Complex gradient convention: the steepest-ascent direction.
    """
    d_w, d_h = finite_differences(image)
    norm = torch.sqrt(d_w.abs() ** 2 + d_h.abs() ** 2 + eps**2)
    return finite_differences_adjoint(d_w / norm, d_h / norm)


class TotalVariationCS(nn.Module):
    """Smoothed isotropic TV reconstruction by FISTA (no learned parameters, not differentiated).

    Args:
        lam: TV weight relative to the zero-filled peak magnitude (> 0).
        n_iter: FISTA iterations.
        eps: TV smoothing relative to the zero-filled peak magnitude (> 0).

    ``forward(kspace [B, H, W] | [B, C, H, W], mask [B, H, W], sens=None) -> complex [B, H, W]``.
    """

    def __init__(self, lam: float = 0.005, n_iter: int = 100, eps: float = 0.01) -> None:
        super().__init__()
        check_positive(n_iter=n_iter)
        for name, value in (("lam", lam), ("eps", eps)):
            if not value > 0:
                raise AutoMRIError(f"{name}: expected a positive float, got {value!r}")
        self.lam = float(lam)
        self.n_iter = n_iter
        self.eps = float(eps)

    @staticmethod
    def _operator_norm_bound(mask: torch.Tensor, sens: torch.Tensor | None) -> torch.Tensor:
        """Upper bound of ``||A^H A||`` per sample, ``[B, 1, 1]``: ``max M^2 * max_pixel sum_c |S_c|^2``."""
        bound = (mask.abs() ** 2).amax(dim=(-2, -1))
        if sens is not None:
            bound = bound * (sens.abs() ** 2).sum(dim=1).amax(dim=(-2, -1))
        return bound.view(-1, 1, 1)

    @torch.no_grad()
    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        x_u = zero_filled(kspace, mask, sens)
        operator = make_operator(mask, sens)
        peak = x_u.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
        lam, eps = self.lam * peak, self.eps * peak
        step = 1.0 / (self._operator_norm_bound(mask, sens) + _DIFFERENCE_NORM_SQ * self.lam / self.eps)

        def gradient(image: torch.Tensor) -> torch.Tensor:
            return operator.normal(image) - x_u + lam * smoothed_tv_gradient(image, eps)

        x, y, t = x_u, x_u, 1.0
        for _ in range(self.n_iter):
            x_next = y - step * gradient(y)
            t_next = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
            y = x_next + ((t - 1.0) / t_next) * (x_next - x)
            x, t = x_next, t_next
        return x
