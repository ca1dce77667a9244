"""SIGKILL during a Dynamics GP sync over ODBC: nothing is lost, and GP applies each key's payment once.

The GP company is a PostgreSQL database reached through the real ODBC driver; it outlives the killed
process. A child syncs it and pays every 30th invoice together with another invoice of its customer
(one cash receipt and two applications per outbox key, in one transaction). It is killed with
SIGKILL while it pulls, while the server runs one of its eConnect calls, and between a receipt and
its applications (the server shows its session "idle in transaction" after taRMCashReceiptInsert),
then run again until it finishes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.connectors.dynamics_gp.gp_support import odbc_missing

if odbc_missing() and not os.environ.get("CI"):
    pytest.skip(str(odbc_missing()), allow_module_level=True)

from connectors.dynamics_gp.writer import receipt_number
from sandboxes.dynamics_gp import GpSandbox
from tests.connectors.dynamics_gp.gp_support import new_sandbox
from tests.engine.gp_kill_target import PART, pairs

ROOT = Path(__file__).resolve().parents[2]
SEEDS = max(1, int(os.environ.get("ARBRIDGE_KILL_SEEDS", "2")) // 2)
INVOICES = 3_000
CUSTOMERS = INVOICES // 10


def start_child(connection: str, state: str, settings: Path, logs: Path) -> subprocess.Popen[bytes]:
    with open(logs / "stdout", "ab") as out, open(logs / "stderr", "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.engine.gp_kill_target", connection, state, str(settings)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=err,
        )


def kill_when(proc: subprocess.Popen[bytes], reached: Callable[[], bool]) -> bool:
    """SIGKILL the child the moment ``reached()``; False when it finished first."""
    deadline = time.monotonic() + 180
    while proc.poll() is None and not reached():
        assert time.monotonic() < deadline, "the child made no progress"
        time.sleep(0.002)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return True


def pages_read(logs: Path) -> int:
    path = logs / "stdout"
    return path.read_text().count("page ") if path.exists() else 0


def in_call(gp: GpSandbox, login: str) -> bool:
    return any(state == "active" and "taRMApply" in query for state, query in gp.activity(login))


def between_receipt_and_applications(gp: GpSandbox, login: str) -> bool:
    return any(
        state == "idle in transaction" and "taRMCashReceiptInsert" in query
        for state, query in gp.activity(login)
    )


def open_amounts(gp: GpSandbox) -> dict[str, Decimal]:
    rows = gp.rows(f'SELECT "DOCNUMBR", "CURTRXAM" FROM {gp.t("RM20101")} WHERE "RMDTYPAL" = 1')
    return {n.rstrip(): Decimal(a) for n, a in rows}


@pytest.mark.slow
def test_gp_sync_killed_pulling_in_an_econnect_call_and_before_the_applications_applies_each_payment_once(
    tmp_path: Path,
) -> None:
    for seed in range(SEEDS):
        gp = new_sandbox("large", invoices=INVOICES)
        try:
            sync_with_kills(gp, tmp_path / f"gp{seed}", f"gp-kill-{seed}")
        finally:
            gp.drop()
            gp.close()


def sync_with_kills(gp: GpSandbox, logs: Path, connection: str) -> None:
    login = gp.create_login()
    gp.slow_econnect(login, 0.02)
    before = open_amounts(gp)
    logs.mkdir()
    settings = logs / "settings.json"
    settings.write_text(
        json.dumps(
            {
                "connection_string": gp.connection_string(user=login),
                "schema": gp.schema,
                "page_size": 200,
                "customers": CUSTOMERS,
                "invoices": INVOICES,
            }
        )
    )
    state = f"sqlite:///{logs / 'state.sqlite'}"

    child = start_child(connection, state, settings, logs)
    assert kill_when(child, lambda: pages_read(logs) >= 4), "the pull finished before the kill"
    child = start_child(connection, state, settings, logs)
    assert kill_when(child, lambda: in_call(gp, login)), "no eConnect call was caught in flight"
    child = start_child(connection, state, settings, logs)
    assert kill_when(child, lambda: between_receipt_and_applications(gp, login)), (
        "no receipt was caught before its applications"
    )
    child = start_child(connection, state, settings, logs)
    assert child.wait(180) == 0, (logs / "stderr").read_text()[-3000:]
    last = (logs / "stdout").read_text().splitlines()[-1]
    assert last.startswith("ok "), f"the final run did not finish cleanly: {last}"

    engine = sa.create_engine(state)
    with engine.connect() as conn:
        stored = Counter(s for (s,) in conn.execute(sa.text("SELECT stream FROM records")))
        outbox = [(str(k), str(s)) for k, s in conn.execute(sa.text("SELECT key, status FROM outbox"))]
    engine.dispose()

    # Nothing lost: every customer and document of the company is in the store.
    assert stored["customers"] == CUSTOMERS and stored["invoices"] == INVOICES
    # Every decision was confirmed; each key entered one receipt and two applications, once.
    paid = pairs(CUSTOMERS, INVOICES)
    assert len(outbox) == len(paid) and {s for _, s in outbox} == {"done"}
    for key, _ in outbox:
        assert gp.calls(key, "taRMCashReceiptInsert") == 1, key
        assert gp.calls(key, "taRMApply") == 2, key
        [(count,)] = gp.rows(
            f'SELECT COUNT(*) FROM {gp.t("RM20101")} WHERE "DOCNUMBR" = ?', receipt_number(key)
        )
        assert count == 1
    receipts = gp.rows(f"SELECT COUNT(*) FROM {gp.t('RM20101')} WHERE \"DOCNUMBR\" LIKE 'AR%'")
    assert receipts[0][0] == len(outbox)
    # Each paid invoice went down by 5.00 per payment naming it, once; no other invoice changed.
    after = open_amounts(gp)
    touched = Counter(f"INV{g:09d}" for pair in paid.items() for g in pair)
    for invoice, amount in before.items():
        assert after[invoice] == amount - PART * touched[invoice], f"{invoice} {amount} -> {after[invoice]}"
