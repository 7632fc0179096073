"""The EMR-NAS network: N cascaded components Conv - RIR BasicBlock - Conv - TDC (Fig. 1, Fig. 2).

Component ``n`` maps the current complex image ``z_n`` ``[B, H, W]`` to
``z_{n+1} = TDC(z_n + Conv_{F->2}(BasicBlock(Conv_{2->F}(z_n))))``: the component predicts a
residual correction of its input image (our choice: the paper names no residual at this level;
a residual around each cascade is what DC-CNN and CDDN do), then the two-step data consistency
(:class:`automri.physics.dc.TwoStepDC`, ``tdc_real_mode`` ``"abs"`` by default) restores the
sampled k-space. ``z_0`` is the zero-filled image. The convolutions are 3x3 with bias, no
activation (ESRGAN's first and last convolutions).

The BasicBlock is a residual in residual of ``cells_per_block`` (3) OP cells, as ESRGAN's RRDB:
``x + rir_scale * cell_3(cell_2(cell_1(x)))`` with ``rir_scale`` = 0.2 (ESRGAN's value; the paper
does not give one). ``rir=False`` (ablation C) drops this outer residual and keeps the cells' own
local residuals.

Width: the paper reports 0.33M parameters but not ``F``. With the default ``"fusion"`` connections
an OP cell has ``9 F^2 (3 + 1 + |S|) + 4 F`` parameters (``S`` its connection subset), a component
``37 F + 2`` more. The searched Cardiac architecture ``[O5 O8 O8|O8 O8 O8|O4 O1 O2|O8 O8 O8|O6 O8
O8]`` has 326,316 parameters at ``F = 19`` (293,104 at 18, 361,310 at 20; the Brain architecture
300,324 at 19); :data:`DEFAULT_WIDTH` = 19 is the width whose count is nearest 0.33M
(:func:`paper_width`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from automri.errors import AutoMRIError
from automri.models.common import check_inputs, check_positive, conv3x3, zero_filled
from automri.models.registry import width_for_params
from automri.nas.genotype import load_genotype
from automri.nas.rir.genotype import (
    DEFAULT_RIR_SCALE,
    DEFAULT_WIDTH,
    GENOTYPE_DEFAULTS,
    PAPER_CARDIAC_OPS,
    PAPER_PARAMS,
)
from automri.nas.rir.ops import CONNECTION_MODES, DEFAULT_RESIDUAL_SCALE, OPCell, op_spec
from automri.physics.complex import channels_to_complex, complex_to_channels
from automri.physics.dc import TwoStepDC


class RIRBasicBlock(nn.Module):
    """``[B, F, H, W] -> [B, F, H, W]``: ``x + rir_scale * cells(x)`` (``rir``) or ``cells(x)``."""

    def __init__(self, cells: Sequence[nn.Module], rir: bool = True, rir_scale: float = DEFAULT_RIR_SCALE) -> None:
        super().__init__()
        self.cells = nn.Sequential(*cells)
        self.rir = bool(rir)
        self.rir_scale = float(rir_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.cells(x)
        return x + self.rir_scale * out if self.rir else out


class RIRComponent(nn.Module):
    """One cascade: ``z -> TDC(z + Conv(BasicBlock(Conv(z))))`` on complex ``[B, H, W]`` images."""

    def __init__(self, block: nn.Module, width: int, tdc_real_mode: str = "abs") -> None:
        super().__init__()
        self.head = conv3x3(2, width)
        self.block = block
        self.tail = conv3x3(width, 2)
        self.tdc = TwoStepDC(real_mode=tdc_real_mode)

    def forward(
        self, image: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None
    ) -> torch.Tensor:
        correction = self.tail(self.block(self.head(complex_to_channels(image))))
        return self.tdc(image + channels_to_complex(correction), kspace, mask, sens)


class RIRCascade(nn.Module):
    """``components`` RIR components whose cell ``i`` (0-based, in cascade order) is ``make_cell(i)``.

    ``forward(kspace, mask, sens=None) -> complex64 [B, H, W]`` (the model calling convention).
    """

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        width: int,
        components: int,
        cells_per_block: int,
        rir: bool,
        rir_scale: float,
        tdc_real_mode: str,
    ) -> None:
        super().__init__()
        check_positive(width=width, components=components, cells_per_block=cells_per_block)
        self.width = width
        self.cells_per_block = cells_per_block
        self.components = nn.ModuleList(
            RIRComponent(
                RIRBasicBlock(
                    [make_cell(n * cells_per_block + c) for c in range(cells_per_block)], rir=rir, rir_scale=rir_scale
                ),
                width,
                tdc_real_mode,
            )
            for n in range(components)
        )

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(kspace, mask, sens)
        image = zero_filled(kspace, mask, sens)
        for component in self.components:
            image = component(image, kspace, mask, sens)
        return image


def _space_config(**options: Any) -> dict[str, Any]:
    """The genotype settings of a net (the keys of :data:`GENOTYPE_DEFAULTS`), checked."""
    if options["connection_mode"] not in CONNECTION_MODES:
        raise AutoMRIError(f"connection_mode: expected one of {CONNECTION_MODES}, got {options['connection_mode']!r}")
    return {name: options[name] for name in GENOTYPE_DEFAULTS}


class RIRNet(RIRCascade):
    """A derived (fixed) EMR-NAS network: one op name per cell, ``len(ops) = components * cells_per_block``."""

    def __init__(
        self,
        ops: Sequence[str],
        width: int = DEFAULT_WIDTH,
        components: int = 5,
        cells_per_block: int = 3,
        batch_norm: bool = False,
        rir: bool = True,
        residual_scale: float = DEFAULT_RESIDUAL_SCALE,
        rir_scale: float = DEFAULT_RIR_SCALE,
        connection_mode: str = "fusion",
        tdc_real_mode: str = "abs",
    ) -> None:
        ops = list(ops)
        if len(ops) != components * cells_per_block:
            raise AutoMRIError(
                f"ops: expected components * cells_per_block = {components} * {cells_per_block} "
                f"= {components * cells_per_block} op names, got {len(ops)}"
            )
        for name in ops:
            op_spec(name)
        self.config = _space_config(
            width=width, components=components, cells_per_block=cells_per_block, batch_norm=batch_norm,
            rir=rir, residual_scale=residual_scale, rir_scale=rir_scale, connection_mode=connection_mode,
            tdc_real_mode=tdc_real_mode,
        )
        self.ops = ops

        def make_cell(index: int) -> nn.Module:
            return OPCell(ops[index], width, batch_norm, residual_scale, connection_mode)

        super().__init__(make_cell, width, components, cells_per_block, rir, rir_scale, tdc_real_mode)

    @classmethod
    def from_genotype(cls, genotype: dict[str, Any], **overrides: Any) -> "RIRNet":
        """Build from ``{"space": "rir", "ops": [...], "width": F, ...}`` (missing keys take
        :data:`GENOTYPE_DEFAULTS`); ``overrides`` replace genotype entries (e.g. ``width=24``)."""
        if not isinstance(genotype, dict):
            raise AutoMRIError(f"genotype: expected a dict, got {type(genotype).__name__}")
        merged = {**genotype, **overrides}
        space = merged.pop("space", "rir")
        if space != "rir":
            raise AutoMRIError(f"genotype: key 'space' must be 'rir' for RIRNet, got {space!r}")
        if "ops" not in merged:
            raise AutoMRIError("genotype: key 'ops' missing (expected a list of op names O1..O8)")
        merged.pop("display", None)
        unknown = set(merged) - set(GENOTYPE_DEFAULTS) - {"ops"}
        if unknown:
            raise AutoMRIError(f"genotype: unknown keys {sorted(unknown)} (expected {['ops', *GENOTYPE_DEFAULTS]})")
        return cls(**{**GENOTYPE_DEFAULTS, **merged})

    def genotype(self) -> dict[str, Any]:
        """The self-describing genotype dict that :meth:`from_genotype` rebuilds this net from."""
        return {"space": "rir", "ops": list(self.ops), **self.config}


def rir_net(
    genotype: dict[str, Any] | str | os.PathLike[str] | None = None,
    width: int | None = None,
    batch_norm: bool | None = None,
    rir: bool | None = None,
    components: int | None = None,
    cells_per_block: int | None = None,
) -> RIRNet:
    """Registry builder ``rir_net``: the :class:`RIRNet` of ``genotype`` (a dict or a JSON file;
    default the paper's Cardiac architecture); the other arguments (``None``: the genotype's)
    override it. ``width`` is its width keyword (for ``width_for_params``)."""
    if genotype is None:
        genotype = {"space": "rir", "ops": list(PAPER_CARDIAC_OPS)}
    elif not isinstance(genotype, dict):
        genotype = load_genotype(genotype, space="rir")
    given = {"width": width, "batch_norm": batch_norm, "rir": rir, "components": components,
             "cells_per_block": cells_per_block}
    return RIRNet.from_genotype(genotype, **{k: v for k, v in given.items() if v is not None})


def paper_width(ops: Sequence[str] = PAPER_CARDIAC_OPS, target: int = PAPER_PARAMS, **options: Any) -> int:
    """The width ``F`` whose :class:`RIRNet` with ``ops`` (and genotype ``options``) has the parameter
    count nearest ``target`` (ties: the smaller width), by :func:`automri.models.registry.width_for_params`."""
    return width_for_params("rir_net", target, genotype={"space": "rir", "ops": list(ops), **options})
