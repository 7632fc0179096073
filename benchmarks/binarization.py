"""EMR-NAS binarization comparison: ``python benchmarks/binarization.py [OPTIONS]`` runs :func:`automri.experiments.binarization.main`."""

from __future__ import annotations

import sys

from automri.errors import AutoMRIError
from automri.experiments.binarization import main

if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except AutoMRIError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
