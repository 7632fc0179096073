"""``--device`` resolution."""

from __future__ import annotations

import torch

from automri.errors import AutoMRIError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as given.

    Asking for CUDA on a machine without it raises :class:`AutoMRIError` naming ``--device``.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise AutoMRIError(f"--device {name!r}: not a device (expected auto, cpu, cuda or cuda:N)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AutoMRIError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    if device.type not in ("cpu", "cuda"):
        raise AutoMRIError(f"--device {name!r}: unsupported device type (expected auto, cpu, cuda or cuda:N)")
    return device
