"""What every ``arbridge`` command shares: the ``-c`` option, loading the deployment, picking connections."""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any

import click

from engine.logs import setup_logging

__all__ = ["CONFIG_OPTION", "load_deployment", "logging_from", "selected_connections", "version"]

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The deployment file.",
)


def version() -> str:
    """The installed version of arbridge."""
    try:
        return metadata.version("arbridge")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_deployment(config_path: str) -> Any:
    """Load the deployment config or exit with code 2 and every bad key named."""
    from config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def selected_connections(deployment: Any, names: tuple[str, ...]) -> list[Any]:
    """The enabled connections, or the ones named (exit 2 naming an unknown one)."""
    conns = [c for c in deployment.connections if getattr(c, "enabled", True)]
    if not names:
        return conns
    known = {c.name: c for c in deployment.connections}
    missing = [n for n in names if n not in known]
    if missing:
        click.echo(
            f"arbridge: no connection named {', '.join(missing)} (configured: {', '.join(known) or 'none'})",
            err=True,
        )
        sys.exit(2)
    return [known[n] for n in names]


def logging_from(ctx: click.Context, deployment: Any) -> None:
    """Set logging from the command line, else the deployment's ``logging:``, else INFO on auto."""
    conf = getattr(deployment, "logging", None)
    obj = ctx.find_root().obj or {}
    level = obj.get("log_level") or getattr(conf, "level", None) or "INFO"
    fmt = obj.get("log_format") or getattr(conf, "format", None) or "auto"
    setup_logging(str(level), str(fmt))
