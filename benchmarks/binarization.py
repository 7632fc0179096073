"""EMR-NAS binarization comparison: ``python benchmarks/binarization.py [OPTIONS]`` runs :func:`automri.experiments.binarization.main`."""

from automri.experiments.experiment import run_script
from automri.experiments.binarization import main

if __name__ == "__main__":
    run_script(main)
