"""The ``automri`` command line: thin Typer commands that parse flags and call library functions.

Each sub-module owns one group of commands and exposes ``register(app)``. User errors
(:class:`automri.errors.AutoMRIError`) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import sys

import typer

from automri.errors import AutoMRIError

app = typer.Typer(
    name="automri",
    help="Neural architecture search for MR image reconstruction (FedAutoMRI, EMR-NAS), "
    "centralised or federated with Flower.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _root() -> None:
    """AutoMRI: NAS for MR image reconstruction. Try `automri demo` or `automri data list`."""


_COMMAND_MODULES = ("data", "score", "demo", "train", "search", "fed", "bench", "bench_quality", "report")


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"automri.cli.{name}")
        module.register(app)


_register_all()


def main() -> None:
    """Console entry point: run the app and turn :class:`AutoMRIError` into one clear line."""
    try:
        app(standalone_mode=False)
    except AutoMRIError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
