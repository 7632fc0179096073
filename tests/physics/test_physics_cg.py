"""Batched complex conjugate gradient."""

import torch

from automri.physics.cg import conjugate_gradient
from automri.physics.operators import SenseOperator


def _randn_complex(shape, g):
    return torch.complex(torch.randn(shape, generator=g, dtype=torch.float64),
                         torch.randn(shape, generator=g, dtype=torch.float64))


def test_per_sample_step_sizes_solve_diagonal_systems_in_one_iteration():
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64).view(3, 1, 1)
    rhs = _randn_complex((3, 6, 5), g)
    calls = []

    def normal(x):
        calls.append(1)
        return scale * x

    x = conjugate_gradient(normal, rhs, max_iter=10)
    torch.testing.assert_close(x, rhs / scale)
    assert len(calls) == 1  # exact after one step, then the batch-max residual is below tol


def test_solves_sense_system_against_dense_solve():
    g = torch.Generator().manual_seed(1)
    h, w, lam = 4, 4, 0.3
    mask = (torch.rand(1, h, w, generator=g) < 0.5).double()
    op = SenseOperator(mask, _randn_complex((1, 2, h, w), g))
    rhs = _randn_complex((1, h, w), g)
    x = conjugate_gradient(lambda v: op.normal(v) + lam * v, rhs, max_iter=200, tol=1e-24)
    # Dense matrix of the normal operator, column by column.
    eye = torch.eye(h * w, dtype=torch.complex128).view(h * w, h, w)
    matrix = torch.stack([(op.normal(e[None]) + lam * e[None]).flatten() for e in eye], dim=1)
    expected = torch.linalg.solve(matrix, rhs.flatten()).view(1, h, w)
    torch.testing.assert_close(x, expected)


def test_zero_rhs_and_converged_samples_stay_finite():
    g = torch.Generator().manual_seed(2)
    rhs = torch.stack([torch.zeros(5, 5, dtype=torch.complex128), _randn_complex((5, 5), g)])
    rhs.requires_grad_(True)
    weights = torch.linspace(1, 3, 25, dtype=torch.float64).view(5, 5)
    x = conjugate_gradient(lambda v: weights * v, rhs, max_iter=8, tol=0.0)
    assert torch.isfinite(torch.view_as_real(x)).all()
    assert torch.count_nonzero(x[0]) == 0
    x.abs().sum().backward()
    assert torch.isfinite(torch.view_as_real(rhs.grad)).all()
    assert conjugate_gradient(lambda v: weights * v, torch.zeros(2, 5, 5, dtype=torch.complex64)).abs().sum() == 0


def test_max_iter_caps_the_iterations():
    g = torch.Generator().manual_seed(3)
    weights = torch.linspace(1, 30, 25, dtype=torch.float64).view(5, 5)
    calls = []

    def normal(v):
        calls.append(1)
        return weights * v

    conjugate_gradient(normal, _randn_complex((1, 5, 5), g), max_iter=3)
    assert len(calls) == 3


def test_gradcheck_through_unrolled_cg():
    g = torch.Generator().manual_seed(4)
    h, w = 4, 4
    mask = (torch.rand(1, h, w, generator=g) < 0.5).double()
    op = SenseOperator(mask, _randn_complex((1, 2, h, w), g))
    lam = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    rhs = _randn_complex((1, h, w), g).requires_grad_(True)

    def solve(lam_value, b):
        return conjugate_gradient(lambda v: op.normal(v) + lam_value * v, b, max_iter=3, tol=0.0)

    assert torch.autograd.gradcheck(solve, (lam, rhs))
