"""AutoMRI data layer: readers of on-disk formats, built-in datasets, k-space simulation, splits.

Main entry points: :func:`build_dataset` (a split of a built-in dataset or a path as a torch
``Dataset`` of :class:`Sample`), :func:`open_source` / :func:`inspect` (one reader per format) and
:func:`list_builtin`.
"""

from automri.data.builtin import list_builtin, open_builtin
from automri.data.datasets import SliceDataset, build_dataset
from automri.data.readers import detect_format, inspect, open_source
from automri.data.sample import Batch, Sample, collate
from automri.data.splits import k_fold, make_splits

__all__ = [
    "Batch",
    "Sample",
    "SliceDataset",
    "build_dataset",
    "collate",
    "detect_format",
    "inspect",
    "k_fold",
    "list_builtin",
    "make_splits",
    "open_builtin",
    "open_source",
]
