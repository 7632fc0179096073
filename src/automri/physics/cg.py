"""Batched complex conjugate gradient for Hermitian positive-definite systems (MoDL's DC solver)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def _batch_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Real part of the per-sample inner product ``<a, b> = sum conj(a) b`` -> ``[B]``."""
    return (a.conj() * b).real.flatten(start_dim=1).sum(dim=1)


def _safe_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` per sample, 0 where ``den`` is 0 (a converged sample), with finite gradients."""
    nonzero = den > 0
    return torch.where(nonzero, num / torch.where(nonzero, den, torch.ones_like(den)), torch.zeros_like(num))


def conjugate_gradient(
    normal_fn: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    max_iter: int = 10,
    tol: float = 1e-10,
) -> torch.Tensor:
    """Solve ``normal_fn(x) = rhs`` per sample by CG from ``x0 = 0``.

    ``normal_fn`` must be Hermitian positive (semi-)definite per sample, e.g. ``A^H A + lam I``.
    ``rhs``: complex ``[B, ...]``; each sample has its own step ``alpha`` and ``beta``. Iterates at most
    ``max_iter`` times and stops early once the batch-max of ``||r||^2`` is below ``tol``. Gradients
    flow through the unrolled iterations by autograd (MoDL's 'AG' mode).
    """
    view = (-1,) + (1,) * (rhs.dim() - 1)
    x = torch.zeros_like(rhs)
    r = rhs
    p = rhs
    rs = _batch_dot(r, r)
    for _ in range(max_iter):
        if rs.max().item() < tol:
            break
        normal_p = normal_fn(p)
        alpha = _safe_ratio(rs, _batch_dot(p, normal_p)).view(view)
        x = x + alpha * p
        r = r - alpha * normal_p
        rs_new = _batch_dot(r, r)
        beta = _safe_ratio(rs_new, rs).view(view)
        p = r + beta * p
        rs = rs_new
    return x
