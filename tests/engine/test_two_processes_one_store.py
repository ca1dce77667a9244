"""Two live processes on one store, relaying the same connection's outbox, write everything once.

The store is new, so both also migrate it at the same moment; each then syncs the shared
connection and one of its own, which makes them save pages and audit entries side by side. On
SQLite a process waits for the other's transaction instead of failing with "database is locked";
a connection one process is syncing is skipped by the other with one line, and taken up again
once it is free. The ERP (the QuickBooks sandbox) keeps its own ledger of every batch item.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from connectors.quickbooks.connector import batch_id_for
from sandboxes.quickbooks.server import QuickBooksSandbox
from tests.engine.relay_race_target import OFFSET, chosen

ROOT = Path(__file__).resolve().parents[2]
INVOICES = 600


def test_two_processes_relaying_one_outbox_write_each_status_once_and_never_crash(
    tmp_path: Path, store_url: str
) -> None:
    with QuickBooksSandbox(seed="large", records=INVOICES, refresh_grace_seconds=3600, throttle=False) as erp:
        settings = tmp_path / "settings.json"
        settings.write_text(
            json.dumps(
                {
                    "base_url": erp.base_url,
                    "token_url": erp.token_url,
                    "realm_id": erp.realm_id,
                    "client_id": erp.client_id,
                    "client_secret": erp.client_secret,
                    "refresh_token": erp.issue_refresh_token(),
                    "collection_status_field_id": "1",
                    "batch_max": 10,
                }
            )
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.engine.relay_race_target",
                    store_url,
                    str(settings),
                    "shared",
                    own,
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for own in ("left", "right")
        ]
        outputs = [p.communicate(timeout=280) for p in procs]

        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, f"{out}\n{err}"
            assert "Traceback" not in err and "database is locked" not in err, err
        lines = [line.split(" ", 2) for out, _ in outputs for line in out.splitlines()]
        assert {status for _, status, _ in lines} <= {"ok", "busy", "partial"}, lines
        # They really met: one found the shared connection taken and said so in one line.
        busy = [errors for name, status, errors in lines if status == "busy"]
        assert busy and all("is being synced by another process" in e for e in busy)

        engine = sa.create_engine(store_url)
        with engine.connect() as conn:
            outbox = conn.execute(sa.text("SELECT key, connection, status FROM outbox")).all()
            running = conn.execute(sa.text("SELECT count(*) FROM runs WHERE status = 'running'")).scalar()
        engine.dispose()
        wanted = {c: sum(1 for i in erp.db["Invoice"] if chosen(c, i)) for c in OFFSET}
        assert Counter(c for _, c, _ in outbox) == wanted
        assert {s for _, _, s in outbox} == {"done"} and running == 0

        # The ERP's own ledger: each key was sent once and took effect once.
        sent = Counter(w["bId"] for w in erp.writes_log)
        applied = Counter(w["bId"] for w in erp.writes_log if w["applied"])
        for key, _, _ in outbox:
            assert (sent[batch_id_for(key)], applied[batch_id_for(key)]) == (1, 1), key
        assert sum(applied.values()) == len(outbox) == sum(wanted.values())
