"""Data flags shared by ``automri train`` and ``automri search``: ``--size`` (0: native),
``--challenge``, and fastMRI's mask flags ``--mask-type`` / ``--center-fractions`` /
``--accelerations`` as an alternative to a ``--mask`` spec."""

from __future__ import annotations

from typing import Annotated

import typer

from automri.errors import AutoMRIError

FASTMRI_DEFAULTS = {"--mask-type": "random", "--center-fractions": "0.08", "--accelerations": "4"}
"""fastMRI's own defaults (``fastmri_examples`` argument parsers), for the flags not given."""

SizeOpt = Annotated[int | None, typer.Option(
    "--size", help="Image side in pixels (e.g. 64 for tests, 256 for real runs); 0: the native size, no "
                   "resampling (fastMRI files: their reconSpace crop, e.g. 320x320).")]
ChallengeOpt = Annotated[str | None, typer.Option(
    "--challenge", help="fastMRI challenge, singlecoil or multicoil: reads the <challenge>_train/_val/_test "
                        "folders of a --dataset root (default: the only challenge there).")]
OuterSlicesOpt = Annotated[int | None, typer.Option(
    "--outer-slices", help="CC-359 files: skip N slices at each end of every volume (the Calgary-Campinas "
                           "challenge's protocol, DIRECT's crop_outer_slices: 50).")]
SensMapsOpt = Annotated[str | None, typer.Option(
    "--sens-maps", help="Multi-coil data without stored maps: acs (low-resolution ACS ratio, fast) or espirit "
                        "(ESPIRiT from SigPy, the field's standard; pip install 'automri[espirit]').")]
MaskTypeOpt = Annotated[str | None, typer.Option(
    "--mask-type", help="fastMRI mask type instead of --mask: random, equispaced or equispaced_fraction "
                        "(default random when --center-fractions or --accelerations is given).")]
CenterFractionsOpt = Annotated[str | None, typer.Option(
    "--center-fractions", help="fastMRI centre fractions, comma-separated, e.g. 0.08,0.04 (default 0.08).")]
AccelerationsOpt = Annotated[str | None, typer.Option(
    "--accelerations", help="fastMRI accelerations, one per centre fraction, e.g. 4,8 (default 4); with "
                            "several pairs each slice draws one, seeded.")]


def _numbers(text: str, flag: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise AutoMRIError(f"{flag} {text!r}: expected comma-separated numbers, e.g. 0.08,0.04") from None


def mask_from_flags(mask: str | None, mask_type: str | None, center_fractions: str | None,
                    accelerations: str | None) -> str | None:
    """The mask spec of ``--mask`` or of fastMRI's mask flags (``None``: neither given, the config's).

    ``--mask-type random --center-fractions 0.08,0.04 --accelerations 4,8`` ->
    ``"fastmri-random:cf=0.08/0.04,acc=4/8"`` (:func:`automri.physics.masks.fastmri_mask_spec`).
    """
    given = {flag: value for flag, value in zip(FASTMRI_DEFAULTS, (mask_type, center_fractions, accelerations))
             if value is not None}
    if not given:
        return mask
    if mask is not None:
        raise AutoMRIError(f"--mask and {'/'.join(given)}: give only one (a mask spec, or fastMRI's mask flags)")
    from automri.physics.masks import fastmri_mask_spec

    values = {**FASTMRI_DEFAULTS, **given}
    fractions = _numbers(values["--center-fractions"], "--center-fractions")
    accelerations_list = _numbers(values["--accelerations"], "--accelerations")
    try:
        return fastmri_mask_spec(values["--mask-type"], fractions, accelerations_list)
    except AutoMRIError as error:
        raise AutoMRIError(f"{' '.join(f'{flag} {value}' for flag, value in values.items())}: {error}") from None
