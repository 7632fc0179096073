"""Ship a finished train run inside the package: ``python benchmarks/ship_model.py RUN NAME --train-command CMD`` runs :func:`automri.experiments.ship_model.main`."""

from automri.experiments.experiment import run_script
from automri.experiments.ship_model import main

if __name__ == "__main__":
    run_script(main)
