"""MoDL (Aggarwal et al. 2019, ``hkaggarwal/modl``): model-based unrolled reconstruction.

``x_0 = A^H k``; for ``i = 1..K``: ``z_i = D_w(x_{i-1})``,
``x_i = (A^H A + lam I)^-1 (A^H k + lam z_i)`` (``physics.dc.ProximalDC``: closed form for
single-coil Cartesian, CG with 10 iterations for SENSE). The denoiser ``D_w`` and the scalar ``lam``
(learnable, initialised to 0.05) are SHARED by all K iterations.

``D_w(x) = x + net(x)`` with ``net`` = ``n_layers`` 3x3 convolutions (2 -> nf, nf -> nf x
(n_layers - 2), nf -> 2). With ``batch_norm=True`` (the original): Conv (no bias) -> BN -> ReLU, the
last Conv -> BN. With ``batch_norm=False`` (the FedAutoMRI authors' MoDL baseline): Conv (bias) ->
ReLU, the last Conv linear; ``n_layers=9, nf=64`` then gives their 260,866 denoiser parameters.

K defaults to 5 as in the FedAutoMRI code (``iteration=5``); the MoDL paper trains K=10 (restored
from K=1).
"""

from __future__ import annotations

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.models.common import apply_real_net, check_positive, conv3x3, maybe_checkpoint, zero_filled
from automri.physics.dc import ProximalDC


class ResidualDenoiser(nn.Module):
    """``D_w``: real ``[B, 2, H, W] -> [B, 2, H, W]``, ``x + net(x)`` (see the module docstring)."""

    def __init__(self, nf: int = 64, n_layers: int = 5, batch_norm: bool = True) -> None:
        super().__init__()
        check_positive(nf=nf, n_layers=n_layers)
        if n_layers < 2:
            raise AutoMRIError(f"n_layers: expected at least 2 convolutions in the denoiser, got {n_layers}")
        widths = [2] + [nf] * (n_layers - 1) + [2]
        layers: list[nn.Module] = []
        for index, (in_chans, out_chans) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(conv3x3(in_chans, out_chans, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_chans))
            if index < n_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        for module in layers:
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class MoDL(nn.Module):
    """MoDL unrolled network with shared weights.

    Args:
        nf: denoiser filters (the width knob; 64 in MoDL).
        n_layers: denoiser convolutions (5 in MoDL's ``trn.py``; 9 in the FedAutoMRI baseline).
        iterations: unrolled iterations K.
        batch_norm: BatchNorm after every convolution (the original) or plain biased convolutions.
        lam: initial DC weight; ``learnable_lam`` trains it.
        cg_iter, cg_tol: CG settings of the multi-coil DC.
        checkpointing: recompute each iteration in the backward pass to save memory.

    ``forward(kspace [B, H, W] | [B, C, H, W], mask [B, H, W], sens=None) -> complex [B, H, W]``.
    """

    def __init__(
        self,
        nf: int = 64,
        n_layers: int = 5,
        iterations: int = 5,
        batch_norm: bool = True,
        lam: float = 0.05,
        learnable_lam: bool = True,
        cg_iter: int = 10,
        cg_tol: float = 1e-10,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        check_positive(iterations=iterations, cg_iter=cg_iter)
        self.denoiser = ResidualDenoiser(nf, n_layers, batch_norm)
        self.dc = ProximalDC(lam=lam, learnable=learnable_lam, max_iter=cg_iter, tol=cg_tol)
        self.iterations = iterations
        self.checkpointing = checkpointing

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = zero_filled(kspace, mask, sens)

        def iteration(image: torch.Tensor) -> torch.Tensor:
            return self.dc(apply_real_net(self.denoiser, image), kspace, mask, sens)

        for _ in range(self.iterations):
            x = maybe_checkpoint(self.checkpointing, iteration, x)
        return x
