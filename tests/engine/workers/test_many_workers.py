"""Three worker processes share twelve connections through PostgreSQL; one is killed with SIGKILL mid-cycle.

Afterwards every record is in the store, the dead worker's job was run again by another worker, no
connection was ever synced by two workers at once, and every reminder reached the ERP exactly once.
"""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from benchmarks.worker_processes import free_port, overlapping_runs, start_worker
from connectors.csv.sample import CUSTOMER_COLUMNS, INVOICE_COLUMNS, write_csv
from sync_daemon import cli
from tests.engine.workers.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CONNECTIONS, CUSTOMERS, INVOICES, OVERDUE_EVERY = 12, 40, 2000, 50
OVERDUE = INVOICES // OVERDUE_EVERY
STALLED_AFTER = 3
WORKER = "tests.engine.workers.remind_overdue"


def make_exports(folder: Path) -> set[str]:
    """An ERP's exports, sorted by modification time; returns the ids of the overdue invoices."""
    folder.mkdir(parents=True)
    today = date.today()
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    customers = [
        {
            "id": f"C{i:04d}",
            "name": f"Customer {i}",
            "currency": "EUR",
            "modified_at": (stamp + timedelta(seconds=i)).isoformat(),
        }
        for i in range(CUSTOMERS)
    ]
    invoices, overdue = [], set()
    for i in range(INVOICES):
        due = today - timedelta(days=30) if i % OVERDUE_EVERY == 0 else today + timedelta(days=30)
        if due < today:
            overdue.add(f"I{i:05d}")
        invoices.append(
            {
                "id": f"I{i:05d}",
                "number": f"INV-{10000 + i}",
                "customer_id": f"C{i % CUSTOMERS:04d}",
                "currency": "EUR",
                "issue_date": (due - timedelta(days=30)).isoformat(),
                "due_date": due.isoformat(),
                "total": "119.00",
                "open_amount": "119.00",
                "version": "1",
                "modified_at": (stamp + timedelta(minutes=1, seconds=i)).isoformat(),
            }
        )
    write_csv(folder / "customers.csv", CUSTOMER_COLUMNS, customers)
    write_csv(folder / "invoices.csv", INVOICE_COLUMNS, invoices)
    for name in ("credit_memos.csv", "payments.csv"):
        (folder / name).write_text("id,modified_at\n")
    return overdue


def config(tmp_path: Path, store_url: str, index: int) -> Path:
    # Every third ERP answers slowly: workers done with the fast ones are free while those still
    # sync, and the next cycle of a connection in progress is waiting for one of them.
    connections = "".join(
        textwrap.dedent(
            f"""
              - name: company-{c:02d}
                connector: faulty
                schedule: {{interval: 3s}}
                write_back: {{enabled: true}}
                settings:
                  latency: {0.2 if c % 3 == 0 else 0.02}
                  inner:
                    connector: csv
                    settings: {{folder: "{tmp_path / f"erp-{c:02d}"}", page_size: 100}}
            """
        )
        for c in range(CONNECTIONS)
    )
    path = tmp_path / f"worker-{index}.yaml"
    path.write_text(
        f"""version: 1
store: {{url: "{store_url}"}}
server: {{bind: "127.0.0.1:{free_port()}"}}
workers: {{engine: procrastinate, concurrency: 3, heartbeat: 1s, stalled_after: {STALLED_AFTER}s}}
connections:{textwrap.indent(connections, "  ")}"""
    )
    path.chmod(0o600)
    return path


def start(tmp_path: Path, cfg: Path, index: int) -> subprocess.Popen[bytes]:
    return start_worker(
        cfg, tmp_path / f"worker-{index}.log", module=WORKER, global_options=["--log-format", "json"]
    )


def test_three_workers_share_twelve_connections_and_survive_one_killed_mid_cycle(
    tmp_path: Path, postgres_url: str
) -> None:
    overdue = {f"company-{c:02d}": make_exports(tmp_path / f"erp-{c:02d}") for c in range(CONNECTIONS)}
    db = sa.create_engine(postgres_url)

    def query(sql: str, **params: object) -> list[sa.Row]:
        with db.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    started = time.monotonic()
    workers = [start(tmp_path, config(tmp_path, postgres_url, i), i) for i in range(3)]
    victim = workers[0]
    try:
        # Kill the first worker once it is in the middle of a full sync of some connection.
        running: list[sa.Row] = []

        def victim_is_mid_cycle() -> bool:
            if victim.poll() is not None:
                raise AssertionError((tmp_path / "worker-0.log").read_text())
            try:
                running[:] = query(
                    "SELECT r.connection, r.job_id FROM runs r"
                    " WHERE r.status = 'running' AND r.worker LIKE :w"
                    " AND EXISTS (SELECT 1 FROM records x WHERE x.connection = r.connection)",
                    w=f"%:{victim.pid}",
                )
            except sa.exc.ProgrammingError:
                return False  # the first worker is still creating the schema
            return bool(running)

        wait_for("the victim to be mid-cycle", victim_is_mid_cycle, timeout=40)
        victim.send_signal(signal.SIGKILL)
        killed_at = datetime.now(UTC)
        victim.wait(timeout=10)
        victim_job = running[0].job_id

        def all_synced() -> bool:
            records = dict(
                query("SELECT connection, count(*) FROM records WHERE NOT deleted GROUP BY connection")
            )
            done = dict(
                query("SELECT connection, count(*) FROM outbox WHERE status = 'done' GROUP BY connection")
            )
            retried = query(
                "SELECT 1 FROM runs WHERE job_id = :j AND status = 'ok' AND worker NOT LIKE :w",
                j=victim_job,
                w=f"%:{victim.pid}",
            )
            return (
                bool(retried)
                and all(records.get(c) == CUSTOMERS + INVOICES for c in overdue)
                and all(done.get(c) == OVERDUE for c in overdue)
            )

        wait_for("every connection to be synced and written back", all_synced, timeout=60)
        synced_after = time.monotonic() - started
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
        for w in workers[1:]:
            assert w.wait(timeout=30) == 0, "a worker did not drain and exit 0 on SIGTERM"
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()

    # Every record of every ERP is in the store.
    counts = query("SELECT connection, stream, count(*) FROM records GROUP BY connection, stream")
    assert {(c, s): n for c, s, n in counts} == {
        **{(c, "customers"): CUSTOMERS for c in overdue},
        **{(c, "invoices"): INVOICES for c in overdue},
    }

    # The dead worker's job was put back in the queue and run to its end by another worker.
    runs_of_job = query(
        "SELECT worker, status, started_at, finished_at FROM runs WHERE job_id = :j ORDER BY started_at",
        j=victim_job,
    )
    assert runs_of_job[0].worker.endswith(f":{victim.pid}") and runs_of_job[0].status == "abandoned"
    assert any(r.status == "ok" and not r.worker.endswith(f":{victim.pid}") for r in runs_of_job[1:])
    retried_at = datetime.fromisoformat(runs_of_job[1].started_at)
    assert retried_at - killed_at >= timedelta(seconds=STALLED_AFTER - 1)  # after its heartbeats stopped
    # `arbridge status` tells which worker ran each cycle, for which job.
    status_out = CliRunner().invoke(cli, ["status", "-c", str(tmp_path / "worker-1.yaml"), "--json"], obj={})
    latest = json.loads(status_out.output)["connections"][running[0].connection]["runs"][0]
    survivors = {f"{socket.gethostname()}:{w.pid}" for w in workers[1:]}
    assert latest["worker"] in survivors and latest["job_id"] is not None
    [(status, attempts)] = query(
        "SELECT status, attempts FROM procrastinate_jobs WHERE id = :j", j=victim_job
    )
    assert attempts >= 1 and status == "succeeded"

    # No connection was ever synced by two workers at once: each run ends before the next begins.
    assert not query("SELECT connection FROM runs WHERE finished_at IS NULL"), "a run was never closed"
    assert overlapping_runs(db) == []
    assert len(query("SELECT DISTINCT worker FROM runs")) == 3, "the work was not shared by all workers"
    # ... although cycles were queued while their connection was being synced, for any free worker to take.
    [(queued_behind,)] = query(
        "SELECT count(*) FROM procrastinate_jobs a"
        " JOIN procrastinate_jobs b ON b.args->>'connection' = a.args->>'connection' AND b.id > a.id"
        " JOIN procrastinate_events s ON s.job_id = a.id AND s.type = 'started'"
        " JOIN procrastinate_events e ON e.job_id = a.id AND e.type IN ('succeeded', 'failed', 'aborted')"
        " JOIN procrastinate_events d ON d.job_id = b.id AND d.type = 'deferred'"
        " WHERE d.at > s.at AND d.at < e.at"
    )
    assert queued_behind > 0
    logs = "".join((tmp_path / f"worker-{i}.log").read_text() for i in range(3))
    assert '"event": "fence_wait"' not in logs, "the queue's lock alone must keep workers apart"

    # Each reminder reached the ERP exactly once.
    for connection, expected in overdue.items():
        erp = tmp_path / f"erp-{connection.removeprefix('company-')}"
        with open(erp / "writeback.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("target_id")]
        keys = [r["idempotency_key"] for r in rows]
        assert len(keys) == len(set(keys)), f"{connection}: a write reached the ERP twice"
        targets = sorted(r["target_id"] for r in rows)
        assert targets == sorted(expected), f"{connection}: a write was lost or doubled"
    sent = query("SELECT event, detail FROM audit_log WHERE event IN ('written', 'reconciled')")
    assert not [d for e, d in sent if e == "written" and json.loads(d).get("duplicate")], (
        "the ERP was sent a write it already had"
    )
    assert len(sent) == CONNECTIONS * OVERDUE
    db.dispose()
    print(f"synced, killed and recovered in {synced_after:.1f}s")
