"""``python -m automri`` (and ``torchrun ... -m automri``): the ``automri`` command line."""

from automri.cli import main

if __name__ == "__main__":
    main()
