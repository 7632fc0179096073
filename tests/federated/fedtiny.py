"""Tiny federations shared by the federated tests: 3 phantom clients, 16 px, small networks."""

from __future__ import annotations

TINY_SPEC = {
    "size": 16,
    "clients": [
        {"name": "a", "dataset": "phantom", "mask": "fastmri-random:cf=0.08,acc=4", "max_slices": 4, "seed": 1},
        {"name": "b", "dataset": "phantom", "mask": "equispaced:cf=0.08,acc=4", "max_slices": 6, "seed": 2},
        {"name": "c", "dataset": "phantom", "mask": "random2d:rate=0.25,radius=4", "max_slices": 4, "seed": 3},
    ],
}
UNET = {"chans": 4, "num_pool_layers": 2}
CELL = {"hidden": 4, "cells": 1, "iterations": 1}
TINY_RUN = {"rounds": 2, "local_epochs": 1, "steps": 1, "batch_size": 2, "seed": 0}


def network_options(algorithm: str) -> dict:
    """The tiny network options of ``algorithm`` (U-Net for the baselines, a 1-cell net for NAS)."""
    if algorithm in ("fednas", "fedautomri"):
        return {"space_options": dict(CELL)}
    return {"model_options": dict(UNET)}
