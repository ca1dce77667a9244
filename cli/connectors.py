"""``arbridge connectors``: the installed connectors."""

from __future__ import annotations

import click

from connectors.registry import discover
from mapping.models import Stream

__all__ = ["connectors_command"]


@click.command("connectors")
def connectors_command() -> None:
    """List the installed ERP connectors: name, version, streams, write operations."""
    registry = discover()
    for name in sorted(registry.names(), key=lambda n: (n in registry.test_doubles, n)):
        cls = registry.connectors[name]
        caps = cls.capabilities
        streams = ",".join(s.value for s in Stream if s in caps.streams) or "-"
        ops = ",".join(sorted(o.value for o in caps.write_ops)) or "-"
        double = "\ttest double (ARBRIDGE_TEST_DOUBLES=1)" if name in registry.test_doubles else ""
        click.echo(f"{name}\t{cls.version}\tstreams={streams}\twrites={ops}{double}")
    for name, broken in sorted(registry.broken.items()):
        click.echo(f"{name}\tBROKEN\t{broken.target}: {broken.error}", err=True)
