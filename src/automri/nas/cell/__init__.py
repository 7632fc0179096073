"""The FedAutoMRI cell space: op names and genotype, the 8 ops, the derived network, the search space."""
