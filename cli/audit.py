"""``arbridge audit verify|head``: the append-only, hash-chained audit log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.options import CONFIG_OPTION, load_deployment
from engine.runner import open_store

__all__ = ["audit_group"]


@click.group("audit")
def audit_group() -> None:
    """The append-only, hash-chained audit log."""


def _checkpoints(values: tuple[str, ...], files: tuple[str, ...]) -> list[Any]:
    """Checkpoints given on the command line and in files (one per line, or a log line holding one)."""
    from store import AuditCheckpoint

    try:
        out = [AuditCheckpoint.parse(t) for t in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--checkpoint") from exc
    for name in files:
        found = AuditCheckpoint.find_all(Path(name).read_text(encoding="utf-8"))
        if not found:
            raise click.BadParameter(f"{name} holds no ROW:HASH checkpoint", param_hint="--checkpoint-file")
        out += found
    return out


@audit_group.command("verify")
@CONFIG_OPTION
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    metavar="ROW:HASH",
    help="A head recorded earlier (arbridge audit head, or the daemon's audit_head log field); repeatable.",
)
@click.option(
    "--checkpoint-file",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A file holding checkpoints, e.g. the daemon's log as kept by your log server; repeatable.",
)
def audit_verify(config_path: str, checkpoints: tuple[str, ...], checkpoint_files: tuple[str, ...]) -> None:
    """Check that no audit entry was changed or deleted.

    The chain shows a changed or deleted entry anywhere before the newest one. That the newest
    entries were deleted shows only against a checkpoint kept outside the store.
    """
    wanted = _checkpoints(checkpoints, checkpoint_files)
    deployment = load_deployment(config_path)
    store = open_store(deployment)
    problems = store.verify_audit(wanted)
    head = store.audit_head()
    store.close()
    if problems:
        for p in problems:
            click.echo(f"TAMPERED: {p}")
        sys.exit(1)
    checked = f", {len(wanted)} checkpoint(s) found" if wanted else ""
    click.echo(f"audit log intact: {head.row if head else 0} entries{checked}")
    if head is not None:
        click.echo(f"head: {head}")


@audit_group.command("head")
@CONFIG_OPTION
def audit_head(config_path: str) -> None:
    """Print the newest entry as ROW:HASH, to keep outside this machine for audit verify."""
    deployment = load_deployment(config_path)
    store = open_store(deployment)
    head = store.audit_head()
    store.close()
    click.echo(str(head) if head else "the audit log is empty")
