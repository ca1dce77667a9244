"""``arbridge connectors``: the installed connectors."""

from __future__ import annotations

import click

from connectors.registry import discover
from mapping.models import Stream

__all__ = ["connectors_command"]


@click.command("connectors")
def connectors_command() -> None:
    """List installed connectors: name, version, streams, write operations."""
    registry = discover()
    for name in registry.names():
        cls = registry.connectors[name]
        caps = cls.capabilities
        streams = ",".join(s.value for s in Stream if s in caps.streams) or "-"
        ops = ",".join(sorted(o.value for o in caps.write_ops)) or "-"
        click.echo(f"{name}\t{cls.version}\tstreams={streams}\twrites={ops}")
    for name, broken in sorted(registry.broken.items()):
        click.echo(f"{name}\tBROKEN\t{broken.target}: {broken.error}", err=True)
