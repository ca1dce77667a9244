"""What every ``arbridge`` command shares: one convention for options, the deployment, the connections.

The convention, checked for every command by ``tests/cli/test_command_line_conventions.py``:

* ``-c/--config FILE`` comes after the command's own name (``arbridge outbox list -c FILE``), with
  the environment variable ``ARBRIDGE_CONFIG`` as its default;
* ``--connection NAME`` is repeatable wherever it exists;
* ``--as-of`` takes a date or a date-time with its zone;
* durations are written like the configuration's (``30s``, ``15m``, ``2h``);
* no secret is taken as a command-line value (it would stay in the shell history and in ``ps``):
  it comes from the configuration, the environment, or a prompt that does not echo.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from importlib import metadata
from typing import Any, TypeVar

import click

from engine.logs import setup_logging

__all__ = [
    "AS_OF",
    "CONFIG_ENV",
    "CONFIG_OPTION",
    "DURATION",
    "EXIT_STORE_BUSY",
    "AsOf",
    "BadInputError",
    "Duration",
    "StoreBusyExit",
    "as_of_option",
    "config_option",
    "connection_option",
    "is_store_busy",
    "load_deployment",
    "logging_from",
    "open_store",
    "selected_connections",
    "version",
]

CONFIG_ENV = "ARBRIDGE_CONFIG"
F = TypeVar("F", bound=Callable[..., Any])


def config_option(*, required: bool = True) -> Callable[[F], F]:
    """``-c/--config FILE``, defaulting to ``$ARBRIDGE_CONFIG``, into the parameter ``config_path``."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        required=required,
        envvar=CONFIG_ENV,
        show_envvar=True,
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="The deployment file (arbridge.yaml).",
    )


CONFIG_OPTION = config_option()


class BadInputError(click.ClickException):
    """An input file (or a value in it) the command cannot use: exit 2, like a bad configuration."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message


#: The exit code of a command that found the state store busy beyond the busy timeout (sysexits'
#: EX_TEMPFAIL): nothing is wrong with the input or the ERP; the same command later will work.
EXIT_STORE_BUSY = 75


class StoreBusyExit(click.ClickException):
    """The state store stayed locked by another process: one line on stderr, exit 75."""

    exit_code = EXIT_STORE_BUSY

    def show(self, file: Any = None) -> None:
        click.echo(f"arbridge: {self.format_message()}", err=True)


def is_store_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is the store being locked by another process (however it surfaced)."""
    from store import StoreBusyError

    if isinstance(exc, StoreBusyError):
        return True
    # SQLite can also answer "database is locked" where no statement runs (opening a connection).
    text = str(getattr(exc, "orig", None) or exc)
    return type(exc).__name__ == "OperationalError" and "database is locked" in text


class Duration(click.ParamType):
    """A duration written like the configuration's: ``30s``, ``15m``, ``2h``, ``1h30m`` or seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        from config.model import DURATION_HELP, parse_duration

        try:
            return parse_duration(str(value))
        except ValueError:
            self.fail(f"{value!r}: expected {DURATION_HELP}", param, ctx)


DURATION = Duration()


class AsOf(click.ParamType):
    """A moment to look at: a date (``2026-11-23``) or a date-time with its zone.

    A date alone means 12:00 UTC of that day: the same calendar day from UTC-12 to UTC+11, so a
    customer's local date is the one written wherever the customer is.
    """

    name = "date|date-time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), time(12), UTC)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            self.fail(
                f"{text!r}: expected a date like 2026-11-23 or a date-time with its zone like "
                "2026-11-23T10:00:00Z or 2026-11-23T10:00:00+01:00",
                param,
                ctx,
            )
        return moment


AS_OF = AsOf()


def as_of_option(help_text: str, *, required: bool = False) -> Callable[[F], F]:
    """``--as-of DATE|DATE-TIME`` (now when not given and not required)."""
    return click.option(
        "--as-of",
        "as_of",
        type=AS_OF,
        required=required,
        default=None,
        help=f"{help_text} A date (12:00 UTC that day) or a date-time with its zone, "
        "e.g. 2026-11-23T10:00:00Z.",
    )


def connection_option(help_text: str = "Only this connection (repeatable); all of them by default.") -> Any:
    """``--connection NAME``, repeatable, into the parameter ``names``."""
    return click.option("--connection", "names", multiple=True, metavar="NAME", help=help_text)


def version() -> str:
    """The installed version of arbridge."""
    try:
        return metadata.version("arbridge")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_deployment(config_path: str, *, store_only: bool = False) -> Any:
    """Load the deployment config or exit with code 2 and every bad key named.

    Args:
        config_path: the deployment file.
        store_only: for commands that read and change the state store only (a clerk's): the
            ERP's secrets need not be available to this user, and are not resolved.
    """
    from config import ConfigError, load_config

    try:
        return load_config(config_path, store_only=store_only)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def open_store(deployment: Any) -> Any:
    """The deployment's state store, or exit 1 saying which store could not be opened and why."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.runner import open_store as open_the_store
    from store import StoreError

    try:
        return open_the_store(deployment)
    except (SQLAlchemyError, StoreError, OSError) as exc:
        if is_store_busy(exc):
            raise  # the command line's own answer: one line and exit 75 (``StoreBusyExit``)
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        reason = reason.split(" (Background on this error")[0][:300]
        click.echo(
            f"arbridge: cannot open the state store {deployment.store.redacted_url}: {reason}; check that "
            "the database is up and reachable and that this user may open it (store.url)",
            err=True,
        )
        sys.exit(1)


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
    return [known[n] for n in dict.fromkeys(names)]


def logging_from(ctx: click.Context, deployment: Any) -> None:
    """Set logging from the command line, else the deployment's ``logging:``, else INFO on auto."""
    conf = getattr(deployment, "logging", None)
    obj = ctx.find_root().obj or {}
    level = obj.get("log_level") or getattr(conf, "level", None) or "INFO"
    fmt = obj.get("log_format") or getattr(conf, "format", None) or "auto"
    setup_logging(str(level), str(fmt))
