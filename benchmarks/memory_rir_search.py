"""EMR-NAS search memory benchmark: ``python benchmarks/memory_rir_search.py [OPTIONS]`` runs :func:`automri.experiments.rir_memory.main`."""

from automri.experiments.experiment import run_script
from automri.experiments.rir_memory import main

if __name__ == "__main__":
    run_script(main)
