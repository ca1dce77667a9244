"""The ``arbridge`` command line: one module per command group, one ``-c`` convention.

Every subcommand that works on a deployment loads and validates the configuration, opens the state
store and hands the work to the engine, the rules or a sandbox. Exit codes: 0 success, 1 a sync or
a check failed, 2 the configuration (or the command line) is invalid, 75 the state store stayed
busy (locked by another process) beyond its busy timeout: try again.
"""

from __future__ import annotations

from typing import Any

import click

from cli.audit import audit_group
from cli.check import check_command
from cli.connectors import connectors_command
from cli.demo import demo_command
from cli.dunning import call_command, mark_sent_command, preview_command, resend_command, worklist_command
from cli.dunning_files import dunning_group
from cli.forecast import forecast_command
from cli.match import match_command
from cli.new_connector import new_connector_command
from cli.options import StoreBusyExit, is_store_busy, version
from cli.outbox import outbox_group
from cli.plugins import auth_group, register_plugins, sandbox_group, setup_group
from cli.predict import predict_command
from cli.review import review_group
from cli.run import run_command
from cli.status import status_command
from cli.sync import sync_command
from engine.logs import setup_logging

__all__ = ["arbridge", "main"]


class _Arbridge(click.Group):
    """The command group; a store another process keeps locked ends any command with one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if is_store_busy(exc):
                raise StoreBusyExit(_busy_message(exc)) from None
            raise


def _busy_message(exc: BaseException) -> str:
    from store import StoreBusyError

    if isinstance(exc, StoreBusyError):
        return str(exc)
    return "the state store is locked by another arbridge process; try again"


@click.group("arbridge", cls=_Arbridge, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version(), "--version", prog_name="arbridge")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default=None,
    help="How much to log (default: the configuration's logging.level, else INFO).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "text"]),
    default=None,
    help="json: one JSON object per line; text: sentences for a terminal; auto: text on a terminal, "
    "else json (default: the configuration's logging.format, else auto).",
)
@click.pass_context
def arbridge(ctx: click.Context, log_level: str | None, log_format: str | None) -> None:
    """arbridge: sync ERPs with accounts-receivable collections, on your own premises."""
    ctx.ensure_object(dict)
    ctx.obj["log_level"] = log_level
    ctx.obj["log_format"] = log_format
    setup_logging(log_level or "INFO", log_format or "auto")


for _command in (
    connectors_command,
    new_connector_command,
    check_command,
    sync_command,
    run_command,
    status_command,
    audit_group,
    review_group,
    demo_command,
    outbox_group,
    match_command,
    predict_command,
    forecast_command,
    dunning_group,
    worklist_command,
    sandbox_group,
    auth_group,
    setup_group,
):
    arbridge.add_command(_command)
for _command in (preview_command, resend_command, mark_sent_command, call_command):
    dunning_group.add_command(_command)
register_plugins()


def main() -> None:
    """The console entry point."""
    arbridge(obj={})
