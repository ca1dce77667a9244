"""What every ``arbridge`` command taking a deployment file shares: the ``-c`` option and loading."""

from __future__ import annotations

import sys
from typing import Any

import click

__all__ = ["CONFIG_OPTION", "load_deployment"]

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The deployment file.",
)


def load_deployment(config_path: str) -> Any:
    """Load the deployment config or exit with code 2 and every bad key named."""
    from config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
