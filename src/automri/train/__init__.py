"""AutoMRI train layer: the training/search engine.

- :mod:`~automri.train.loop`: ``run_loop`` (data order, exact resume, checkpoints, logs) and the
  ``Stepper`` protocol with ``SupervisedStepper``.
- :mod:`~automri.train.checkpoint`, :mod:`~automri.train.runs`, :mod:`~automri.train.seed`,
  :mod:`~automri.train.losses`, :mod:`~automri.train.progress`, :mod:`~automri.train.device`.
- :mod:`~automri.train.evaluate`: scoring a model on a dataset; :mod:`~automri.train.engine`:
  ``automri train`` from a resolved configuration.
"""
