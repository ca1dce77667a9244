"""``arbridge users add|passwd|role|list|remove``: who may log in to the workspace, and as what.

Passwords are asked for at a prompt that does not echo (twice), or read from standard input with
``--password-stdin`` for scripts; they are never a command-line value and never stored: the state
store keeps their argon2 hash. Every change is in the audit log with the operating-system user.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click

from cli.options import CONFIG_OPTION, load_deployment, open_store

__all__ = ["users_group"]

_ROLES = ("viewer", "collector", "clerk", "admin")
_ROLE_HELP = (
    "viewer: the overview and customers, read only; collector: also the worklist (calls, promises, "
    "disputes); clerk: also the review queue; admin: everything, including dunning in doubt."
)
_STDIN = click.option(
    "--password-stdin",
    "from_stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _users(config_path: str, ctx: click.Context) -> Any:
    from store.users import Users

    deployment = load_deployment(config_path, store_only=True)
    store = open_store(deployment)
    ctx.call_on_close(store.close)
    return Users(store)


def _fail(exc: Exception) -> None:
    click.echo(f"arbridge users: {exc}", err=True)
    sys.exit(1)


@click.group("users")
def users_group() -> None:
    """Who may log in to the workspace, and as what (viewer, collector, clerk, admin)."""


@users_group.command("add")
@CONFIG_OPTION
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(_ROLES), help=_ROLE_HELP)
@_STDIN
@click.pass_context
def add_command(ctx: click.Context, config_path: str, username: str, role: str, from_stdin: bool) -> None:
    """Create USERNAME with a role; the password is prompted for."""
    from store.users import UserError

    users = _users(config_path, ctx)
    try:
        users.add(username, _password(from_stdin), role, by=getpass.getuser())
    except UserError as exc:
        _fail(exc)
    click.echo(f"{username}: added as {role}")


@users_group.command("passwd")
@CONFIG_OPTION
@click.argument("username")
@_STDIN
@click.pass_context
def passwd_command(ctx: click.Context, config_path: str, username: str, from_stdin: bool) -> None:
    """Set a new password for USERNAME; their open sessions end and a login lock is lifted."""
    from store.users import UserError

    users = _users(config_path, ctx)
    if users.get(username) is None:
        _fail(UserError(f"no user {username!r}"))
    try:
        users.set_password(username, _password(from_stdin), by=getpass.getuser())
    except UserError as exc:
        _fail(exc)
    click.echo(f"{username}: password changed")


@users_group.command("role")
@CONFIG_OPTION
@click.argument("username")
@click.argument("role", type=click.Choice(_ROLES))
@click.pass_context
def role_command(ctx: click.Context, config_path: str, username: str, role: str) -> None:
    """Give USERNAME another ROLE, from their next page on."""
    from store.users import UserError

    try:
        _users(config_path, ctx).set_role(username, role, by=getpass.getuser())
    except UserError as exc:
        _fail(exc)
    click.echo(f"{username}: now {role}")


@users_group.command("list")
@CONFIG_OPTION
@click.pass_context
def list_command(ctx: click.Context, config_path: str) -> None:
    """Every user with their role, last login and whether a lock holds after wrong passwords."""
    from store.state import now

    found = _users(config_path, ctx).all()
    for u in found:
        last = f"last login {u.last_login_at:%Y-%m-%d %H:%M} UTC" if u.last_login_at else "never logged in"
        locked = ""
        if u.locked_until is not None and u.locked_until > now():
            locked = f"; LOCKED until {u.locked_until:%H:%M:%S} UTC after {u.failed_logins} wrong passwords"
        click.echo(f"{u.username:<24} {u.role:<10} {last}{locked}")
    click.echo(f"{len(found)} user(s)" if found else "no users: add one with arbridge users add")


@users_group.command("remove")
@CONFIG_OPTION
@click.argument("username")
@click.pass_context
def remove_command(ctx: click.Context, config_path: str, username: str) -> None:
    """Delete USERNAME; their open sessions end with their next request."""
    from store.users import UserError

    try:
        _users(config_path, ctx).remove(username, by=getpass.getuser())
    except UserError as exc:
        _fail(exc)
    click.echo(f"{username}: removed")
