"""Every forward operator passes the same adjointness and normal-operator checks."""

import pytest
import torch

from automri.errors import AutoMRIError
from automri.physics.masks import GaussianLineMask, PoissonDiscMask
from automri.physics.operators import SenseOperator, SingleCoilOperator, make_operator

B, C, H, W = 2, 3, 12, 10


def _randn_complex(shape, g, dtype=torch.complex128):
    real = torch.randn(shape, generator=g, dtype=torch.float64)
    imag = torch.randn(shape, generator=g, dtype=torch.float64)
    return torch.complex(real, imag).to(dtype)


def _masks(g):
    columns = (torch.rand(B, 1, W, generator=g) < 0.4).double().expand(B, H, W)
    pixels = (torch.rand(B, H, W, generator=g) < 0.3).double()
    gaussian = torch.stack([GaussianLineMask(2, 2)((H, W), seed=s) for s in range(B)])
    return {"columns": columns, "pixels": pixels, "full": torch.ones(B, H, W, dtype=torch.float64),
            "shared-2d": pixels[0], "gaussian-lines": gaussian.double(),
            "poisson-2d": PoissonDiscMask(2, 1)((H, W), seed=0).double()}


def _operators():
    g = torch.Generator().manual_seed(0)
    cases = []
    for name, mask in _masks(g).items():
        cases.append((f"single-{name}", SingleCoilOperator(mask)))
        cases.append((f"sense-{name}", SenseOperator(mask, _randn_complex((B, C, H, W), g))))
    return cases


OPERATORS = _operators()


def _inner(a, b):
    """Complex inner product <a, b> = sum conj(a) b."""
    return (a.conj() * b).sum()


@pytest.mark.parametrize("operator", [op for _, op in OPERATORS], ids=[name for name, _ in OPERATORS])
def test_adjointness_and_normal(operator):
    g = torch.Generator().manual_seed(1)
    x = _randn_complex((B, H, W), g)
    k_shape = operator.forward(x).shape
    y = _randn_complex(k_shape, g)
    lhs, rhs = _inner(operator.forward(x), y), _inner(x, operator.adjoint(y))
    assert abs(lhs - rhs) <= 1e-5 * abs(lhs)
    torch.testing.assert_close(operator.normal(x), operator.adjoint(operator.forward(x)))
    # A^H A is Hermitian positive semi-definite.
    assert _inner(x, operator.normal(x)).real >= 0


def test_shapes_and_complex64():
    g = torch.Generator().manual_seed(2)
    mask = torch.ones(B, H, W)
    sens = _randn_complex((B, C, H, W), g, torch.complex64)
    x = _randn_complex((B, H, W), g, torch.complex64)
    op = make_operator(mask, sens)
    assert isinstance(op, SenseOperator)
    assert op.forward(x).shape == (B, C, H, W) and op.forward(x).dtype == torch.complex64
    assert op.adjoint(op.forward(x)).shape == (B, H, W)
    assert isinstance(make_operator(mask), SingleCoilOperator)


def test_single_coil_forward_is_masked_fft():
    g = torch.Generator().manual_seed(3)
    x = _randn_complex((1, H, W), g)
    mask = torch.zeros(1, H, W, dtype=torch.float64)
    mask[..., W // 2] = 1
    k = SingleCoilOperator(mask).forward(x)
    assert torch.count_nonzero(k[..., : W // 2]) == 0
    torch.testing.assert_close(k[..., W // 2], torch.fft.fftshift(
        torch.fft.fft2(torch.fft.ifftshift(x), norm="ortho"))[..., W // 2])


def test_sense_with_one_unit_coil_equals_single_coil():
    g = torch.Generator().manual_seed(4)
    mask = (torch.rand(B, H, W, generator=g) < 0.5).double()
    x = _randn_complex((B, H, W), g)
    sense = SenseOperator(mask, torch.ones(B, 1, H, W, dtype=torch.complex128))
    torch.testing.assert_close(sense.forward(x)[:, 0], SingleCoilOperator(mask).forward(x))
    torch.testing.assert_close(sense.normal(x), SingleCoilOperator(mask).normal(x))


def test_bad_shapes_raise():
    with pytest.raises(AutoMRIError, match="sens"):
        SenseOperator(torch.ones(B, H, W), torch.ones(B, C, H + 1, W, dtype=torch.complex64))
    with pytest.raises(AutoMRIError, match="mask"):
        SingleCoilOperator(torch.ones(H, W, dtype=torch.complex64))
