"""Experiments built from the library: the one-command demo, the papers' tables, report rebuilding.

- :mod:`.scales`: ``test`` / ``demo`` / ``small`` / ``paper`` presets of every experiment.
- :mod:`.baselines`: reconstruction baselines vs zero-filled and CS (issue 3).
- :mod:`.fedautomri`: FedAutoMRI Tables 1 and 2 on a federation (Flower simulation).
- :mod:`.emrnas`: EMR-NAS Table 2 (and Table 3) with k-fold cross-validation.
- :mod:`.demo`: ``automri demo``. :mod:`.rebuild_report`: ``automri report RUN...``.
"""
