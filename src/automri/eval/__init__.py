"""Evaluation: metrics (fastMRI per-volume and per-slice conventions), scoring of prediction files,
model profiling (params, MACs, latency, memory), figures and Markdown reports.

Import the sub-modules directly (``from automri.eval.metrics import evaluate_volumes``); this
package does not import them eagerly so that ``train`` can use ``eval.metrics`` without pulling in
matplotlib or h5py.
"""
