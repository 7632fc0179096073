"""EMR-NAS search memory benchmark: ``python benchmarks/memory_rir_search.py [OPTIONS]`` runs :func:`automri.experiments.rir_memory.main`."""

from __future__ import annotations

import sys

from automri.errors import AutoMRIError
from automri.experiments.rir_memory import main

if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except AutoMRIError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
