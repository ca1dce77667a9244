"""SIGKILL during an SAP Business One sync over real HTTP: nothing lost, each key's write applied once.

The case of ``test_kill_over_http`` for B1: the Service Layer sandbox outlives the killed process
and keeps the company's own records. B1 has no idempotency key and posts an incoming payment it
receives twice twice; so a company holding one payment per outbox key (by the key in the payment's
user-defined field) proves the connector looks the key up before any resend, as one activity per
note's outbox key does for notes, and an invoice
whose user-defined fields were patched once proves a replayed status write was recognised (its
If-Match is stale, and the values are found in place). The sandbox answers a write 0.3 s after
applying it, so a kill while writing mostly lands where B1 has acted and arbridge does not know.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext, MemoryKeyValueStore
from connectors.sap_business_one import SapBusinessOneConnector
from mapping.models import Payment, Stream
from sandboxes.sap_business_one import ServiceLayerSandbox
from tests.conftest import SPECS
from tests.connectors.sap_business_one.b1_target import create_fields, settings_for
from tests.engine.kill_writes import PAYMENT
from tests.engine.test_kill_over_http import SEEDS, Outcome, Phases, kill_when, stored
from tests.engine.test_sap_kill_over_http import invoices_paid, outbox_ops

ROOT = Path(__file__).resolve().parents[2]
B1_SEEDS = max(1, SEEDS // 2)
B1_INVOICES = 4_000  # with partners, credit notes and payments: about 4,900 records
SETS = ("BusinessPartners", "Invoices", "CreditNotes", "IncomingPayments")


def start_child(connection: str, state: str, settings: Path, logs: Path) -> subprocess.Popen[bytes]:
    with open(logs / "stdout", "ab") as out, open(logs / "stderr", "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.engine.b1_kill_target", connection, state, str(settings)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=err,
        )


def held(b1: ServiceLayerSandbox) -> dict[str, set[str]]:
    """What the company holds per canonical stream."""
    tables = b1.company.tables
    return {
        "customers": {k for k, r in tables["BusinessPartners"].items() if r["CardType"] == "cCustomer"},
        "invoices": {str(k) for k in tables["Invoices"]},
        "credit_memos": {str(k) for k in tables["CreditNotes"]},
        "payments": {str(k) for k in tables["IncomingPayments"]},
    }


def phases_of(b1: ServiceLayerSandbox) -> Phases:
    """Pages read, and writes B1 applied (each counted before the client hears of it)."""

    def pulls() -> int:
        return sum(
            1
            for r in list(b1.requests_log)
            if r["method"] == "GET" and not r["inner"] and r["path"] in SETS and r["status"] == 200
        )

    def writes() -> int:
        return sum(
            1
            for r in list(b1.requests_log)
            if r["inner"] and r["method"] in ("PATCH", "POST") and r["status"] < 300
        )

    return Phases(pulls=pulls, writes=writes)


def payments_posted(b1: ServiceLayerSandbox) -> int:
    return sum(
        1
        for r in list(b1.requests_log)
        if r["inner"] and r["method"] == "POST" and r["path"] == "IncomingPayments" and r["status"] == 201
    )


def notes_posted(b1: ServiceLayerSandbox) -> int:
    return sum(
        1
        for r in list(b1.requests_log)
        if r["inner"] and r["method"] == "POST" and r["path"] == "Activities" and r["status"] == 201
    )


def pages_read(logs: Path) -> int:
    """Pages the children stored, as they print them (a read over ODBC leaves no request log)."""
    path = logs / "stdout"
    return path.read_text().count("page ") if path.exists() else 0


def sync_with_kills(
    b1: ServiceLayerSandbox,
    logs: Path,
    connection: str,
    rng: random.Random,
    outcome: Outcome,
    **extra: Any,
) -> tuple[str, dict[str, Any]]:
    """Kill a sync while it pulls, one writing statuses and one posting payments; then finish."""
    logs.mkdir()
    settings = settings_for(b1, page_size=200, batch_max=5, **extra)
    settings_file = logs / "settings.json"
    settings_file.write_text(json.dumps(settings))
    state = f"sqlite:///{logs / 'state.sqlite'}"
    phases = phases_of(b1)
    if extra.get("read_via") == "odbc":
        phases.pulls = lambda: pages_read(logs)

    base = phases.pulls()
    target = rng.randint(1, 12)
    child = start_child(connection, state, settings_file, logs)
    outcome.killed_pulling += kill_when(child, lambda: phases.pulls() - base >= target, rng)
    # The relay writes a claim's status updates before its payments and notes: one kill lands
    # among the status writes, the other among the payments and notes (both POSTs B1 repeats).
    for count in (phases.writes, lambda: payments_posted(b1) + notes_posted(b1)):
        base = count()
        target = rng.randint(1, 15)
        child = start_child(connection, state, settings_file, logs)
        outcome.killed_writing += kill_when(
            child, lambda count=count, base=base, target=target: count() - base >= target, rng
        )
    child = start_child(connection, state, settings_file, logs)
    assert child.wait(180) == 0, (logs / "stderr").read_text()[-3000:]
    last = (logs / "stdout").read_text().splitlines()[-1]
    assert last.startswith("ok "), f"the final run did not finish cleanly: {last}"
    return state, settings


def payments_read_back(settings: dict[str, Any]) -> dict[str, tuple[Decimal, list[tuple[str, Decimal]]]]:
    """Per outbox key, the unapplied amount and allocations of B1's payment, as arbridge reads them."""
    connector = SapBusinessOneConnector.create(
        settings, ConnectorContext("read-back", state=MemoryKeyValueStore())
    )
    try:
        return {
            str(p.raw.get("U_ARB_OutboxKey")): (
                p.unapplied_amount,
                [(a.target_id, a.amount) for a in p.allocations],
            )
            for page in connector.read(Stream.PAYMENTS, None)
            for p in page.records
            if isinstance(p, Payment) and p.raw.get("U_ARB_OutboxKey")
        }
    finally:
        connector.close()


def check_each_write_once(
    b1: ServiceLayerSandbox,
    seed: int,
    state: str,
    settings: dict[str, Any],
    before: dict[str, set[str]],
    paid_before: dict[int, float],
    invoices: int,
) -> None:
    """Nothing lost; one payment per key, each invoice paid and patched once; payments read back applied."""
    records, outbox = stored(state)
    ops = outbox_ops(state)

    # Every record the company held before the sync is in the store.
    for stream, ids in before.items():
        lost = ids - records.get(stream, set())
        assert not lost, f"seed {seed}: {stream} lost: {sorted(lost)[:5]}"
    assert {s for _, _, s in outbox} == {"done"}, f"seed {seed}: writes not confirmed"
    payments = [k for k, t in ops.items() if t == "payment_application"]
    reminders = {t for k, t, _ in outbox if ops[k] == "collection_status"}
    assert len(payments) > 20 and len(reminders) == invoices // 50

    # B1 holds one payment per key, and no payment beyond them was posted.
    posted = Counter(r.get("U_ARB_OutboxKey") for r in b1.company.tables["IncomingPayments"].values())
    twice = {k: posted[k] for k in payments if posted[k] != 1}
    assert not twice, f"seed {seed}: posted twice or never: {list(twice.items())[:5]}"
    assert len(b1.company.tables["IncomingPayments"]) == len(before["payments"]) + len(payments)

    # B1 holds one activity per note's key, each on the invoice the note is about.
    notes = {k: t for k, t, _ in outbox if ops[k] == "note"}
    assert len(notes) == invoices // 50
    logged = Counter(a.get("U_ARB_OutboxKey") for a in b1.company.tables["Activities"].values())
    twice = {k: logged[k] for k in notes if logged[k] != 1}
    assert not twice, f"seed {seed}: note logged twice or never: {list(twice.items())[:5]}"
    assert len(b1.company.tables["Activities"]) == len(notes)
    for activity in b1.company.tables["Activities"].values():
        assert activity["DocEntry"] == notes[activity["U_ARB_OutboxKey"]] and activity["DocType"] == "13"

    # Each paid invoice's open amount went down by 10.00 once; no other invoice's changed.
    paid = invoices_paid(state)
    hit = {int(paid[k]) for k in payments}
    assert len(hit) == len(payments)
    for entry, was in paid_before.items():
        now = b1.company.tables["Invoices"][entry]["PaidToDate"]
        want = round(was + float(PAYMENT), 2) if entry in hit else was
        assert now == want, f"seed {seed}: invoice {entry} paid {was} -> {now}"

    # Each reminded invoice's fields were patched once and hold the decision.
    patched = {key: len(changes) for (entity_set, key), changes in b1.patches.items()}
    assert patched == {int(t): 1 for t in reminders}, f"seed {seed}: patches {patched}"
    for t in reminders:
        invoice = b1.company.tables["Invoices"][int(t)]
        assert (invoice["U_ARB_CollStatus"], invoice["U_ARB_DunLevel"]) == ("reminded", 2)

    # Read back, each posted payment applies 10.00 to its invoice, those B1 posted while the
    # process was being killed included: cash application would not see that cash again.
    assert payments_read_back(settings) == {k: (Decimal(0), [(paid[k], PAYMENT)]) for k in payments}, (
        f"seed {seed}: a posted payment does not read back applied to its invoice"
    )


def _specs() -> None:
    if not (SPECS / "sap-business-one").is_dir():
        pytest.skip(f"SAP's Service Layer metadata not found under {SPECS}; set ARBRIDGE_SPECS")


@pytest.mark.slow
def test_b1_sync_killed_while_pulling_and_writing_posts_each_payment_once_and_patches_each_invoice_once(
    tmp_path: Path,
) -> None:
    _specs()
    rng = random.Random(int(os.environ.get("ARBRIDGE_KILL_SEED", "20261205")))
    outcome = Outcome()
    for seed in range(B1_SEEDS):
        with ServiceLayerSandbox(seed="large", invoices=B1_INVOICES, write_answer_delay=0.3) as b1:
            create_fields(b1)
            before = held(b1)
            paid_before = {k: r["PaidToDate"] for k, r in b1.company.tables["Invoices"].items()}
            state, settings = sync_with_kills(b1, tmp_path / f"b1{seed}", f"b1-kill-{seed}", rng, outcome)
            check_each_write_once(b1, seed, state, settings, before, paid_before, B1_INVOICES)
    assert outcome.killed_pulling == B1_SEEDS and outcome.killed_writing == 2 * B1_SEEDS


ODBC_INVOICES = 2_000  # B1's tables are copied again after every write the sandbox takes


@pytest.mark.slow
def test_b1_sync_reading_over_odbc_killed_while_pulling_and_writing_applies_each_write_once(
    tmp_path: Path,
) -> None:
    """The fast read's case: records read from B1's tables (no ETag), writes through the Service
    Layer; a status write replayed after a kill finds the record's stamp moved by itself."""
    _specs()
    from tests.connectors.dynamics_gp.gp_support import odbc_missing

    if odbc_missing() and not os.environ.get("CI"):
        pytest.skip(str(odbc_missing()))
    from sandboxes.sap_business_one.database import B1Database
    from tests.connectors.sap_business_one.test_b1_odbc_read import B1_DATABASE

    rng = random.Random(int(os.environ.get("ARBRIDGE_KILL_SEED", "20261205")) + 1)
    outcome = Outcome()
    with ServiceLayerSandbox(seed="large", invoices=ODBC_INVOICES, write_answer_delay=0.3) as b1:
        create_fields(b1)
        tables = B1Database(database=B1_DATABASE, schema=f"b1kill_{uuid.uuid4().hex[:10]}", specs=SPECS)
        tables.create(b1.company)
        b1.on_change = lambda: tables.load(b1.company)
        try:
            login = tables.create_login()
            odbc = {"connection_string": tables.connection_string(user=login), "schema": tables.schema}
            before = held(b1)
            paid_before = {k: r["PaidToDate"] for k, r in b1.company.tables["Invoices"].items()}
            state, settings = sync_with_kills(
                b1, tmp_path / "b1odbc", "b1-kill-odbc", rng, outcome, read_via="odbc", odbc=odbc
            )
            check_each_write_once(b1, 0, state, settings, before, paid_before, ODBC_INVOICES)
        finally:
            tables.drop()
            tables.close()
    assert (outcome.killed_pulling, outcome.killed_writing) == (1, 2)
