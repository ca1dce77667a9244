"""Command groups that installed packages extend: ``arbridge sandbox NAME``, ``auth NAME``, ``setup NAME``.

A package adds a subcommand through the entry-point group ``arbridge.commands`` with a name
``GROUP.NAME`` (``sandbox.quickbooks = "sandboxes.quickbooks.cli:command"``), so the core never
imports a connector or a sandbox by name. One that fails to load is reported and skipped.

``auth`` and ``setup`` subcommands work on a connection of the deployment: the host gives each of
them the ``-c/--config`` option (after the subcommand's name, like every command) and, in
``ctx.obj``, ``state_for(connection)`` (the connection's durable state) and
``settings_for(connection)`` (its settings, secrets resolved). An ``auth`` subcommand that
finishes without an error has given the connections it stored state for their credentials back,
so their needs-re-auth flag is cleared and syncing resumes.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable
from importlib import metadata
from typing import Any

import click

from cli.options import CONFIG_OPTION, config_option, load_deployment, open_store

__all__ = ["PLUGIN_GROUPS", "auth_group", "register_plugins", "sandbox_group", "setup_group"]

ENTRY_POINT_GROUP = "arbridge.commands"
log = logging.getLogger("arbridge.cli")


@click.group("sandbox")
def sandbox_group() -> None:
    """Local ERP servers speaking each ERP's wire protocol, seeded with realistic data."""


def _pass_config_down(ctx: click.Context, config_path: str | None) -> None:
    """``arbridge auth -c FILE quickbooks`` (the older order) still works: the subcommand gets FILE."""
    if config_path and isinstance(ctx.command, click.Group):
        ctx.default_map = {name: {"config_path": config_path} for name in ctx.command.commands}


@click.group("auth")
@config_option(required=False)
@click.pass_context
def auth_group(ctx: click.Context, config_path: str | None) -> None:
    """One-time authorisation of a connection (OAuth consent, tokens): arbridge auth CONNECTOR -c FILE."""
    _pass_config_down(ctx, config_path)


@click.group("setup")
@config_option(required=False)
@click.pass_context
def setup_group(ctx: click.Context, config_path: str | None) -> None:
    """One-time preparation of an ERP for arbridge (fields it writes back to), idempotent."""
    _pass_config_down(ctx, config_path)


PLUGIN_GROUPS: dict[str, click.Group] = {"sandbox": sandbox_group, "auth": auth_group, "setup": setup_group}


def _deployment_context(ctx: click.Context, config_path: str) -> tuple[Any, list[str]]:
    """Give a connector's subcommand the connection's settings and its durable state."""
    deployment = load_deployment(config_path)
    store = open_store(deployment)
    ctx.call_on_close(store.close)
    touched: list[str] = []

    def state_for(name: str) -> Any:
        touched.append(name)
        return store.connector_state(name)

    def settings_for(name: str) -> dict[str, Any]:
        conn = deployment.connection(name)
        settings = conn.validated_settings
        return settings.model_dump() if settings is not None else {}

    ctx.ensure_object(dict)
    ctx.obj["deployment"] = deployment
    ctx.obj["state_for"] = state_for
    ctx.obj["settings_for"] = settings_for
    return store, touched


def _on_a_deployment(command: click.Command, group: str) -> click.Command:
    """Give a plugin's command ``-c/--config`` and the deployment context before it runs."""
    original: Callable[..., Any] | None = command.callback
    if original is None or any(p.name == "config_path" for p in command.params):
        return command

    @functools.wraps(original)
    def callback(*args: Any, config_path: str, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        store, touched = _deployment_context(ctx, config_path)
        result = original(*args, **kwargs)
        if group == "auth":
            for name in dict.fromkeys(touched):
                if store.connection_health(name).get("needs_reauth"):
                    with store.transaction() as tx:
                        store.clear_needs_reauth(name, conn=tx)
                        store.audit(
                            "reauthorized",
                            connection=name,
                            detail={"by": f"arbridge auth {command.name}"},
                            conn=tx,
                        )
        return result

    # A copy: the plugin's own command object stays as its package defined it.
    wrapped = copy.copy(command)
    wrapped.callback = callback
    wrapped.params = [*command.params, *CONFIG_OPTION(lambda: None).__click_params__]  # type: ignore[attr-defined]
    return wrapped


def register_plugins() -> None:
    """Add every installed ``GROUP.NAME`` command to its group."""
    for entry in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        group_name, _, name = entry.name.partition(".")
        group = PLUGIN_GROUPS.get(group_name)
        if group is None or not name:
            log.warning("command %s from %s: unknown group %r", entry.name, entry.value, group_name)
            continue
        try:
            command = entry.load()
        except Exception as exc:  # a broken plugin must not take the command line down
            log.warning("command %s %s unavailable: %s: %s", group_name, name, type(exc).__name__, exc)
            continue
        if group_name in ("auth", "setup"):
            command = _on_a_deployment(command, group_name)
        group.add_command(command, name)
