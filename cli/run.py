"""``arbridge run``: the daemon, every connection on its schedule until SIGTERM."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.options import CONFIG_OPTION, load_deployment, logging_from

__all__ = ["override_bind", "run_command"]


def override_bind(deployment: Any, bind: str, config_path: str) -> None:
    """Serve the HTTP endpoint on ``bind`` instead of ``server.bind``, or exit 2 saying why not."""
    from pydantic import ValidationError

    try:
        deployment.server = deployment.server.with_bind(bind)
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        hint = f"; set server.token in {config_path}" if "token" in reasons else ""
        click.echo(f"arbridge: --bind {bind} refused: {reasons}{hint}", err=True)
        sys.exit(2)


@click.command("run")
@CONFIG_OPTION
@click.option(
    "--drain-timeout",
    default=30.0,
    show_default=True,
    help="Seconds to let in-flight work finish on SIGTERM.",
)
@click.option(
    "--bind",
    metavar="HOST:PORT",
    default=None,
    help="Serve the HTTP endpoint here instead of server.bind, so several workers on one machine "
    "share one configuration file. Beyond loopback, server.token is still required.",
)
@click.pass_context
def run_command(ctx: click.Context, config_path: str, drain_timeout: float, bind: str | None) -> None:
    """Run as a daemon: sync every connection on its schedule until SIGTERM."""
    deployment = load_deployment(config_path)
    if bind is not None:
        # Before anything starts: a refused address must not leave a migrated store or a worker behind.
        override_bind(deployment, bind, config_path)
    logging_from(ctx, deployment)
    from sync_daemon import run_daemon

    sys.exit(run_daemon(deployment, drain_timeout=drain_timeout))
