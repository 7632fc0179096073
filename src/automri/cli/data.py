"""``automri data list|inspect|show``: what data is available, what a file holds, what a sample looks like."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from automri.errors import AutoMRIError

data_app = typer.Typer(help="Look at datasets: built-ins, files on disk, one preprocessed slice.", no_args_is_help=True)

FORMAT_HELP = "auto, fastmri, cc359, cc359-mc, modl, cddn, nifti or dicom"


@data_app.command("list")
def list_datasets(json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the built-in datasets, whether they are installed, and how to install them.

    Example: automri data list --json
    """
    from automri.data.builtin import list_builtin

    entries = list_builtin()
    if json_output:
        typer.echo(json.dumps(entries, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "present", "description", "path / install")
    for entry in entries:
        where = entry["path"] or "generated"
        if not entry["present"]:
            where = f"{where}  (install: {entry['install_hint']})"
        table.add_row(str(entry["name"]), "yes" if entry["present"] else "no", str(entry["description"]), where)
    Console().print(table)


@data_app.command("inspect")
def inspect_path(
    path: str = typer.Argument(..., help="A dataset file or folder."),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the format, volumes, slices, image shape, coils and dtype of a dataset file or folder.

    Example: automri data inspect /data/fastmri/knee_singlecoil_val --format fastmri --json
    """
    from automri.data.readers import inspect

    info = inspect(path, format)
    if json_output:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("field", "value", title=path)
    for key, value in info.items():
        table.add_row(key, json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value))
    Console().print(table)


@data_app.command("show")
def show(
    dataset: str = typer.Argument(..., help="Built-in name (phantom, colin27, icbm152) or a dataset path."),
    out: Path = typer.Option(..., "--out", help="PNG file to write (or an existing folder to write it in)."),
    mask: str = typer.Option("random:rate=0.25,center=0.08", "--mask", help="Mask spec, e.g. equispaced:cf=0.08,acc=4."),
    size: int = typer.Option(64, "--size", help="Image side in pixels."),
    slice_index: int = typer.Option(0, "--slice", help="Slice number within all slices of the dataset."),
    coils: int = typer.Option(0, "--coils", help="Simulated coils for single-image data (0: single-coil)."),
    seed: int = typer.Option(0, "--seed", help="Seed of mask, phase and coils."),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
) -> None:
    """Save a figure of one slice: target, mask, zero-filled image and its error map.

    Example: automri data show colin27 --mask equispaced:cf=0.08,acc=4 --size 128 --slice 60 --out fig.png
    """
    from automri.data.datasets import build_dataset
    from automri.data.preview import preview_path, save_preview

    ds = build_dataset(dataset, "all", size=size, mask=mask, seed=seed, coils=coils, format=format)
    if not 0 <= slice_index < len(ds):
        raise AutoMRIError(f"--slice {slice_index}: the dataset has {len(ds)} slices (expected 0..{len(ds) - 1})")
    sample = ds[slice_index]
    title = f"{sample.meta['dataset']}  volume {sample.meta['volume']}  slice {sample.meta['slice']}  mask {mask}"
    typer.echo(save_preview(sample, str(preview_path(out, dataset, slice_index)), title))


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to ``app``."""
    app.add_typer(data_app, name="data")
