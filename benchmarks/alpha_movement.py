"""MiLeNAS alpha movement per step: ``python benchmarks/alpha_movement.py [OPTIONS]`` runs :func:`automri.experiments.alpha_movement.main`."""

from automri.experiments.experiment import run_script
from automri.experiments.alpha_movement import main

if __name__ == "__main__":
    run_script(main)
