"""Speed benchmark script: ``python benchmarks/speed.py [OPTIONS]`` is ``automri bench speed [OPTIONS]``.

It runs the very same command (same flags, same defaults, same report in docs/speed.md); see
``python benchmarks/speed.py --help`` and benchmarks/README.md.
"""

from __future__ import annotations

import sys

from automri.cli import main

if __name__ == "__main__":
    sys.argv = ["automri", "bench", "speed", *sys.argv[1:]]
    main()
