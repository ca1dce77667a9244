"""A process killed with SIGKILL in the middle of a sync loses nothing and writes nothing twice."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.csv.sample import CUSTOMER_COLUMNS, INVOICE_COLUMNS, write_csv

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS, INVOICES = 60, 600


def make_exports(folder: Path) -> None:
    folder.mkdir()
    customers = [
        {
            "id": f"C{i:04d}",
            "name": f"Customer {i} GmbH",
            "currency": "EUR",
            "modified_at": f"2026-10-01T08:{i % 60:02d}:00+00:00",
        }
        for i in range(CUSTOMERS)
    ]
    invoices = [
        {
            "id": f"I{i:05d}",
            "number": f"INV-{10000 + i}",
            "customer_id": f"C{i % CUSTOMERS:04d}",
            "currency": "EUR",
            "issue_date": "2026-09-01",
            "due_date": "2026-10-01",
            "total": "119.00",
            "open_amount": "119.00",
            "version": "1",
            "modified_at": f"2026-10-02T{(i // 60) % 24:02d}:{i % 60:02d}:00+00:00",
        }
        for i in range(INVOICES)
    ]
    write_csv(folder / "customers.csv", CUSTOMER_COLUMNS, customers)
    write_csv(folder / "invoices.csv", INVOICE_COLUMNS, invoices)
    for name in ("credit_memos.csv", "payments.csv"):
        (folder / name).write_text("id,modified_at\n")


def run(state: str, folder: Path, kill_after: float | None = None) -> subprocess.CompletedProcess[str] | None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.kill_target", state, str(folder)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is None:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    # Kills are timed from the moment the sync starts, not from the process's start: on a busy
    # machine the interpreter's start-up alone can outlast a whole sync.
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "syncing"
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return None


def writeback_rows(folder: Path) -> list[dict[str, str]]:
    path = folder / "writeback.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r.get("target_id")]


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_record_and_sends_no_write_twice(tmp_path: Path) -> None:
    # How long one undisturbed run takes, so the kills spread over all of its phases.
    probe = tmp_path / "probe"
    make_exports(probe)
    full_run = _sync_time(f"sqlite:///{tmp_path / 'probe.sqlite'}", probe)

    rng = random.Random(20261123)
    interrupted_mid_sync = 0
    for seed in range(8):
        folder = tmp_path / f"erp{seed}"
        make_exports(folder)
        state = f"sqlite:///{tmp_path / f'state{seed}.sqlite'}"
        for _ in range(2):  # killed twice, at random instants of the sync
            run(state, folder, kill_after=rng.uniform(0.0, full_run))
            written = len(writeback_rows(folder))
            stored = _stored(state)
            if 0 < stored < CUSTOMERS + INVOICES or 0 < written < INVOICES:
                interrupted_mid_sync += 1
        finished = run(state, folder)
        assert finished is not None and finished.stdout.splitlines()[-1].startswith("ok")

        import sqlalchemy as sa

        engine = sa.create_engine(state)
        with engine.connect() as conn:
            counts = dict(conn.execute(sa.text("SELECT stream, count(*) FROM records GROUP BY stream")).all())
            outbox = dict(conn.execute(sa.text("SELECT status, count(*) FROM outbox GROUP BY status")).all())
        engine.dispose()
        assert counts == {"customers": CUSTOMERS, "invoices": INVOICES}, f"seed {seed}: records lost"
        assert outbox == {"done": INVOICES}, f"seed {seed}: outbox not drained: {outbox}"

        rows = writeback_rows(folder)
        keys = [r["idempotency_key"] for r in rows]
        targets = sorted(r["target_id"] for r in rows)
        assert len(keys) == len(set(keys)), f"seed {seed}: a write reached the ERP twice"
        assert targets == sorted(f"I{i:05d}" for i in range(INVOICES)), (
            f"seed {seed}: a write was lost or doubled"
        )
    # The kills must really have hit pulls and write-backs in progress, not only idle moments.
    assert interrupted_mid_sync >= 4


def _sync_time(state: str, folder: Path) -> float:
    """How long one undisturbed sync takes, from its start to its end, without the process's start-up."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.kill_target", state, str(folder)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "syncing"
    started = time.monotonic()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return time.monotonic() - started


def _stored(state: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(state)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one())
    except sa.exc.OperationalError:
        return 0  # killed before the schema existed
    finally:
        engine.dispose()
