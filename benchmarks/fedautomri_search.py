"""FedAutoMRI centralised cell search evidence page: ``python benchmarks/fedautomri_search.py [OPTIONS]`` runs :func:`automri.experiments.fedautomri_central.main`."""

from automri.experiments.experiment import run_script
from automri.experiments.fedautomri_central import main

if __name__ == "__main__":
    run_script(main)
