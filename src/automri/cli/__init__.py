"""The ``automri`` command line: thin Typer commands that parse flags and call library functions.

Each sub-module owns one group of commands and exposes ``register(app)``. User errors
(:class:`automri.errors.AutoMRIError`) are printed as one line and exit with status 2; the global
``--debug`` flag (``automri --debug COMMAND ...``) also prints their traceback.
"""

from __future__ import annotations

import importlib
import math
import sys
import traceback

import click
import typer

from automri import __version__
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


def _print_version(value: bool) -> None:
    """``--version``: print ``automri <version>`` and exit."""
    if value:
        typer.echo(f"automri {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="On an error, also print the Python traceback."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """AutoMRI: NAS for MR image reconstruction. Try `automri demo` or `automri data list`."""
    _STATE["debug"] = debug


def _fail(message: str, err: BaseException) -> None:
    """Print ``message`` as one line on stderr (with the traceback under ``--debug``) and exit 2."""
    if _STATE["debug"]:
        traceback.print_exception(err)
    typer.echo(f"error: {message}", err=True)
    sys.exit(2)


_COMMAND_MODULES = ("data", "score", "demo", "train", "predict", "search", "fed", "bench", "bench_quality", "report")


def _register_all() -> None:

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"automri.cli.{name}")
        module.register(app)


_register_all()


class FiniteFloat(click.types.FloatParamType):
    """Click's float type without ``inf``/``nan``: ``--lr inf`` is refused while parsing, naming the flag."""

    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number (expected a finite number)", param, ctx)
        return number


def _finite_floats(command: click.Command) -> click.Command:
    """Give every float option of ``command`` and its sub-commands the :class:`FiniteFloat` type."""
    for param in command.params:
        if type(param.type) is click.types.FloatParamType:
            param.type = FiniteFloat()
    for sub in getattr(command, "commands", {}).values():
        _finite_floats(sub)
    return command


def main() -> None:
    """Console entry point: run the app and turn :class:`AutoMRIError` into one clear line."""
    _STATE["debug"] = False
    try:
        _finite_floats(typer.main.get_command(app)).main(prog_name="automri", standalone_mode=False)
    except AutoMRIError as err:
        _fail(str(err), err)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort as exc:
        if isinstance(exc.__cause__, EOFError):  # click turns any EOFError into Abort
            _fail(f"unexpected end of a file or of the input ({exc.__cause__ or 'EOFError'}); rerun with --debug to see where", exc.__cause__)
        typer.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:  # usage errors arrive here in standalone_mode=False
        hint = " (see --help)" if isinstance(exc, click.exceptions.UsageError) else ""
        _STATE["debug"] and traceback.print_exception(exc)
        typer.echo(f"error: {' '.join(exc.format_message().split())}{hint}", err=True)
        sys.exit(exc.exit_code)
