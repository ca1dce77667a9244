"""Command groups that installed packages extend: ``arbridge sandbox NAME``, ``auth NAME``, ``setup NAME``.

A package adds a subcommand through the entry-point group ``arbridge.commands`` with a name
``GROUP.NAME`` (``sandbox.quickbooks = "sandboxes.quickbooks.cli:command"``), so the core never
imports a connector or a sandbox by name. One that fails to load is reported and skipped.
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

import click

from cli.options import CONFIG_OPTION, load_deployment
from engine.runner import open_store

__all__ = ["PLUGIN_GROUPS", "auth_group", "register_plugins", "sandbox_group", "setup_group"]

ENTRY_POINT_GROUP = "arbridge.commands"
log = logging.getLogger("arbridge.cli")


@click.group("sandbox")
def sandbox_group() -> None:
    """Local ERP servers speaking each ERP's wire protocol, seeded with realistic data."""


def _deployment_context(ctx: click.Context, config_path: str) -> None:
    """Give a connector's subcommand the connection's settings and its durable state."""
    deployment = load_deployment(config_path)
    store = open_store(deployment)
    ctx.call_on_close(store.close)

    def settings_for(name: str) -> dict[str, Any]:
        conn = deployment.connection(name)
        settings = conn.validated_settings
        return settings.model_dump() if settings is not None else {}

    ctx.ensure_object(dict)
    ctx.obj["deployment"] = deployment
    ctx.obj["state_for"] = store.connector_state
    ctx.obj["settings_for"] = settings_for


@click.group("auth")
@CONFIG_OPTION
@click.pass_context
def auth_group(ctx: click.Context, config_path: str) -> None:
    """One-time authorisation of a connection (OAuth consent, tokens)."""
    _deployment_context(ctx, config_path)


@click.group("setup")
@CONFIG_OPTION
@click.pass_context
def setup_group(ctx: click.Context, config_path: str) -> None:
    """One-time preparation of an ERP for arbridge (fields it writes back to), idempotent."""
    _deployment_context(ctx, config_path)


PLUGIN_GROUPS: dict[str, click.Group] = {"sandbox": sandbox_group, "auth": auth_group, "setup": setup_group}


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
        group.add_command(command, name)
