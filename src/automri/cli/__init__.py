"""The ``automri`` command line: thin Typer commands that parse flags and call library functions.

Each sub-module owns one group of commands and exposes ``register(app)``. User errors
(:class:`automri.errors.AutoMRIError`) are printed as one line and exit with status 2; the global
``--debug`` flag (``automri --debug COMMAND ...``) also prints their traceback.
"""

from __future__ import annotations

import sys
import traceback

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

_STATE = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="On an error, also print the Python traceback."),
) -> None:
    """AutoMRI: NAS for MR image reconstruction. Try `automri demo` or `automri data list`."""
    _STATE["debug"] = debug


def _fail(message: str, err: BaseException) -> None:
    """Print ``message`` as one line on stderr (with the traceback under ``--debug``) and exit 2."""
    if _STATE["debug"]:
        traceback.print_exception(err)
    typer.echo(f"error: {message}", err=True)
    sys.exit(2)


_COMMAND_MODULES = ("data", "score", "demo", "train", "search", "fed", "bench", "bench_quality", "report")


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"automri.cli.{name}")
        module.register(app)


_register_all()


def main() -> None:
    """Console entry point: run the app and turn :class:`AutoMRIError` into one clear line."""
    _STATE["debug"] = False
    try:
        app(standalone_mode=False)
    except AutoMRIError as err:
        _fail(str(err), err)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort as exc:
        if isinstance(exc.__cause__, EOFError):  # click turns any EOFError into Abort
            _fail(f"unexpected end of a file or of the input ({exc.__cause__ or 'EOFError'}); rerun with --debug to see where", exc.__cause__)
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
