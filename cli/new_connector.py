"""``arbridge new-connector NAME``: write a connector package that passes the conformance kit on day one."""

from __future__ import annotations

from pathlib import Path

import click

from connectors.registry import discover
from connectors.scaffold import ScaffoldError, render, scaffold_for

__all__ = ["new_connector_command"]


@click.command("new-connector")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create the package folder arbridge-connector-NAME.",
)
def new_connector_command(name: str, directory: Path) -> None:
    """Create the package of a new connector NAME, with a fake ERP it passes the kit against.

    Then: cd arbridge-connector-NAME && pip install -e . && pytest
    """
    try:
        names = scaffold_for(name)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    if name in discover().connectors:
        raise click.UsageError(f"a connector named {name!r} is already installed: choose another name")
    try:
        project = render(name, directory)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {directory / names.dist}: {exc.strerror or exc}") from None
    click.echo(f"created {project}")
    click.echo(f"  connector {names.cls} (entry point {name!r}) in {names.package}/")
    click.echo(f"  next: cd {project} && pip install -e . && pytest")
