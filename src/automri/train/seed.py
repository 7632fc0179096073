"""Seeding and RNG state capture for reproducible, exactly resumable runs.

Every random source a training step may touch (Python ``random``, NumPy's global generator,
torch's CPU and CUDA generators) is seeded by :func:`seed_everything`, and its state can be captured
into a checkpoint (:func:`capture_rng_state`) and restored (:func:`restore_rng_state`). The state dict
holds only tensors, ints and lists so that it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

_NUMPY_SEED_MODULUS = 2**32


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and all CUDA devices) with ``seed``.

    Also selects deterministic cuDNN kernels and turns off cuDNN autotuning (cheap determinism);
    it does not force ``torch.use_deterministic_algorithms``, which would slow some GPU ops.
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % _NUMPY_SEED_MODULUS)
    torch.manual_seed(seed)  # seeds every CUDA device too
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def capture_rng_state() -> dict[str, Any]:
    """The current state of every global random generator, as a checkpoint-safe dict."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            int(numpy_state["pos"]),
            int(numpy_state["has_gauss"]),
            float(numpy_state["cached_gaussian"]),
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def worker_init_fn(worker_id: int) -> None:
    """``DataLoader`` ``worker_init_fn``: seed Python and NumPy in each worker from torch's
    per-worker seed (which the loader derives from its own generator), so that workers differ
    from each other but repeat across runs with the same seed."""
    seed = torch.initial_seed() % _NUMPY_SEED_MODULUS
    random.seed(seed)
    np.random.seed(seed)


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (independent of the global generator)."""
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator


def derive_seed(*parts: int) -> int:
    """A 63-bit seed derived deterministically from integers, e.g. ``derive_seed(seed, epoch)``.

    Uses NumPy's ``SeedSequence`` so that nearby inputs give unrelated streams.
    """
    sequence = np.random.SeedSequence([int(p) % (2**63) for p in parts])
    return int(sequence.generate_state(1, dtype=np.uint64)[0]) % (2**63)
