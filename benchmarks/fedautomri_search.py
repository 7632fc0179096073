"""FedAutoMRI centralised cell search evidence page: ``python benchmarks/fedautomri_search.py [OPTIONS]`` runs :func:`automri.experiments.fedautomri_central.main`."""

from __future__ import annotations

import sys

from automri.errors import AutoMRIError
from automri.experiments.fedautomri_central import main

if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except AutoMRIError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
