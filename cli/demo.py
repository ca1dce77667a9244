"""``arbridge demo``: one full cycle against a local ERP on embedded defaults."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from engine.logs import setup_logging

__all__ = ["demo_command"]


@click.command("demo")
@click.option(
    "--state-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where the demo keeps its state and its ERP's data (default: ~/.local/state/arbridge/demo, "
    "outside any checkout).",
)
@click.option("--resume", is_flag=True, help="Re-run against the existing state: an incremental cycle.")
@click.option(
    "--erp",
    type=click.Choice(
        ["quickbooks", "sap-s4hana", "sap-business-one", "business-central", "csv", "dynamics-gp"]
    ),
    default=None,
    help="The local ERP to use (default: QuickBooks Online).",
)
def demo_command(state_dir: str | None, resume: bool, erp: str | None) -> None:
    """Run one full cycle on embedded defaults: SQLite state and a local ERP with seeded data."""
    from sandboxes.demo import default_state_dir, run_demo

    started = time.monotonic()
    setup_logging("WARNING", "text")
    where = Path(state_dir) if state_dir else default_state_dir()
    code = run_demo(where, resume=resume, echo=click.echo, erp_name=erp)
    click.echo(f"\n(demo finished in {time.monotonic() - started:.1f}s)")
    sys.exit(code)
