"""A person's decision on a reminder in doubt is kept whole: a kill while it is stored keeps nothing.

``dunning mark-sent`` (with the invoices' statuses it queues for the ERP) and ``dunning resend`` are
stored in one transaction with their audit entry. Killed right after the audit entry reached the
database, the reminder is still in doubt with nothing queued, and the same command then works once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from config import load_config
from engine.runner import open_store
from store.dunning import DunningActions
from tests.cli.test_dunning_commands import config_file, cycle, invoke, two_customers
from tests.engine.dunning_fixtures import Mailbox, smtp

__all__ = ["smtp"]  # the fixture, imported for pytest

ROOT = Path(__file__).resolve().parents[2]
STATUSES = ["planned", "in_doubt", "failed", "sent", "expired", "cancelled"]


def killed(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.cli.killed_command", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr


def kept(path: Path) -> tuple[dict[str, str], list[str], int]:
    """Each reminder's status, the audit events of the dunning decisions, the statuses queued."""
    store = open_store(load_config(path))
    try:
        statuses = {r.customer_id: r.status for r in DunningActions(store).with_status("shop", STATUSES)}
        events = [e["event"] for e in store.audit_entries("shop", limit=500)]
        queued = sum(1 for r in store.outbox_rows("shop") if r.op_type == "collection_status")
        return statuses, [e for e in events if e in ("dunning_marked_sent", "dunning_resend")], queued
    finally:
        store.close()


def test_a_reminder_marked_sent_or_resent_while_the_process_is_killed_stays_in_doubt_and_is_decided_once(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    path = config_file(tmp_path, port, two_customers(tmp_path))
    mailbox.hang_up = {"ap@anker.example", "busy@bakery.example"}  # the relay takes both, then hangs up
    cycle(path)
    store = open_store(load_config(path))
    doubts = {r.customer_id: r.key for r in DunningActions(store).with_status("shop", ["in_doubt"])}
    store.close()
    before = kept(path)
    assert before[0] == {"C1": "in_doubt", "C2": "in_doubt"} and before[1] == []

    killed("dunning", "mark-sent", "-c", str(path), doubts["C1"], "--note", "relay log 10:00:02")
    killed("dunning", "resend", "-c", str(path), doubts["C2"], "--note", "not in the relay log")

    assert kept(path) == before  # nothing of either decision, no status queued for the ERP
    assert invoke("dunning", "mark-sent", "-c", str(path), doubts["C1"], "--note", "relay log")[0] == 0
    assert invoke("dunning", "resend", "-c", str(path), doubts["C2"], "--note", "not in the log")[0] == 0
    statuses, events, queued = kept(path)
    assert statuses == {"C1": "sent", "C2": "planned"}
    assert sorted(events) == ["dunning_marked_sent", "dunning_resend"]
    assert queued == before[2] + 1  # C1's invoice is now "reminded" in the ERP, once
    store = open_store(load_config(path))
    assert store.verify_audit() == []
    detail = [json.loads(e["detail"]) for e in store.audit_entries("shop") if e["event"] == "dunning_resend"]
    store.close()
    assert detail[0]["was"] == "in_doubt"
