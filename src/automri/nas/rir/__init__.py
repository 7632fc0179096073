"""The EMR-NAS residual-in-residual space: ops O1..O8, genotype and ensembling, the derived network, the
ProxylessNAS binarised search space."""
