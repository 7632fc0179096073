"""Federated search and training with Flower's Message API (simulation and deployment engines).

Modules, in the order a run uses them:

- ``spec``: federation specs (which client gets which data and mask); ``default.yaml`` is built in.
- ``options``: :class:`~automri.federated.options.FedConfig`, the run options both apps share.
- ``task``: what a client computes (data, model, local training, evaluation, ArrayRecord I/O).
- ``local``: the client-side rules of each algorithm; ``objectives`` (FedProx, FedMRI terms);
  ``personalise`` (FedAutoMRI's client-side EMA).
- ``client_app`` / ``server_app``: the Flower ``ClientApp`` and ``ServerApp`` factories.
- ``strategies``: server-side aggregation of each algorithm (FedAvg, Non-Fed, FedMRI, FedNAS).
- ``guard`` (what may leave a client, size bound, server-side validation of every reply),
  ``robust`` (median, trimmed mean, update clipping), ``drills`` (tampered-client fault drills),
  ``logs`` (quiet runs: Flower / Ray logs to a file), ``accounting`` (bytes per message),
  ``state`` (client private state on disk, server checkpoint and resume), ``report`` (summary, figures).
- ``simulation`` (``run_federated``), ``deploy`` and ``certs`` (SuperLink + SuperNodes, TLS, auth).
"""
