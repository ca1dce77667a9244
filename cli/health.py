"""A connection's health as ``arbridge check`` and ``arbridge status`` both tell it.

Both read the same stored facts: the needs-re-auth flag (set by a cycle or by ``check`` when the
ERP refuses the credentials, cleared by ``arbridge auth …`` or by a ``check`` the ERP accepts)
and the last run. So the two commands never disagree about a connection.
"""

from __future__ import annotations

from typing import Any

__all__ = ["connection_health", "fix_credentials_hint"]


def fix_credentials_hint(connection: Any, config_path: str) -> str:
    """The exact command that gives a connection its credentials back."""
    from cli.plugins import auth_group

    if connection.connector in auth_group.commands:
        return f"run: arbridge auth {connection.connector} -c {config_path} --connection {connection.name}"
    return (
        f"fix the credentials of {connection.name} in {config_path}, "
        f"then run: arbridge check -c {config_path} --connection {connection.name}"
    )


def connection_health(store: Any, connection: Any, config_path: str) -> dict[str, Any]:
    """``state`` (ok, needs_reauth, failing, never_synced) with a sentence saying what to do."""
    stored = store.connection_health(connection.name)
    if stored.get("needs_reauth"):
        reason = stored.get("reauth_reason") or "the ERP refused the credentials"
        return {
            "state": "needs_reauth",
            "reason": reason,
            "text": f"NEEDS RE-AUTH: {reason}; {fix_credentials_hint(connection, config_path)}",
        }
    runs = store.runs(connection.name, limit=1)
    if not runs:
        return {"state": "never_synced", "reason": None, "text": "never synced"}
    last = runs[0]
    if last.status == "needs_reauth":
        text = "re-authorized since the last cycle; the next one syncs"
        return {"state": "ok", "reason": None, "text": text}
    if last.status == "failed":
        when = last.started_at.isoformat(timespec="seconds")
        return {
            "state": "failing",
            "reason": last.error,
            "text": f"FAILING: the last cycle ({when}) failed: {last.error}",
        }
    return {"state": "ok", "reason": None, "text": "ok"}
