"""SIGKILL during an SAP S/4HANA sync over real HTTP: nothing lost, each write-back applied once.

The case of ``test_kill_over_http`` for SAP: the sandbox outlives the killed process and keeps
its own ledger, the journal of every entry the SOAP service posted (with the message ID each
carried) and every change to a dunning record. SAP's journal-entry service posts a message it
receives twice twice, so a payment posted once proves the connector looks its key up before any
resend; a dunning record changed once proves a replayed status update is recognised in SAP.
Read back afterwards, every payment posted reads as applied to its invoice, those SAP posted while
the process was being killed included, so cash application could never apply that cash again.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.sap_s4hana import SapS4HanaConnector
from connectors.sap_s4hana.journal import reference_for
from connectors.sap_s4hana.notes import marker_for
from mapping.models import Payment, Stream
from sandboxes.sap_s4hana.server import S4Sandbox
from store import StateStore
from tests.conftest import SPECS
from tests.engine.kill_writes import PAYMENT
from tests.engine.test_kill_over_http import SEEDS, Outcome, Phases, stored, sync_with_kills

SAP_SEEDS = max(1, SEEDS // 2)  # an SAP sync costs about twice a QuickBooks one
SAP_INVOICES = 6_000  # with customers, payments and credit memos: about 10,000 records
ITEMS = "A_OperationalAcctgDocItemCube"


def held(sap: S4Sandbox) -> dict[str, set[str]]:
    """What the SAP book holds per canonical stream, read from the book itself."""
    out: dict[str, set[str]] = {
        "customers": {c for c, _ in sap.book.tables["A_CustomerCompany"]},
        "invoices": set(),
        "payments": set(),
        "credit_memos": set(),
    }
    for row in sap.book.tables[ITEMS].values():
        if row["FinancialAccountType"] != "D":
            continue
        stream = (
            "invoices"
            if row["DebitCreditCode"] == "S"
            else "payments"
            if row["AccountingDocumentType"] == "DZ"
            else "credit_memos"
        )
        key = ("CompanyCode", "FiscalYear", "AccountingDocument", "AccountingDocumentItem", "Customer")
        out[stream].add("/".join(row[k] for k in key))
    return out


def invoices_paid(state: str) -> dict[str, str]:
    """The invoice each payment application's key pays."""
    import sqlalchemy as sa

    engine = sa.create_engine(state)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT key, payload FROM outbox WHERE op_type = 'payment_application'")
            )
            return {str(k): json.loads(p)["allocations"][0]["target_id"] for k, p in rows}
    finally:
        engine.dispose()


def applied_as_read_back(
    settings: dict[str, Any], state: str, connection: str
) -> dict[str, tuple[Decimal, list[tuple[str, Decimal]]]]:
    """Per document reference, the unapplied amount and allocations of the payments SAP holds."""
    store = StateStore.open(state)
    conn = SapS4HanaConnector.create(
        settings, ConnectorContext(connection, state=store.connector_state(connection))
    )
    try:
        return {
            str(p.raw.get("DocumentReferenceID")): (
                p.unapplied_amount,
                [(a.target_id, a.amount) for a in p.allocations],
            )
            for page in conn.read(Stream.PAYMENTS, None)
            for p in page.records
            if isinstance(p, Payment)
        }
    finally:
        conn.close()
        store.close()


def outbox_ops(state: str) -> dict[str, str]:
    """Each outbox key with its operation type."""
    import sqlalchemy as sa

    engine = sa.create_engine(state)
    try:
        with engine.connect() as conn:
            return {str(k): str(t) for k, t in conn.execute(sa.text("SELECT key, op_type FROM outbox"))}
    finally:
        engine.dispose()


@pytest.mark.slow
def test_sap_sync_killed_while_writing_dunning_levels_and_payments_applies_each_once(
    tmp_path: Path,
) -> None:
    if not (SPECS / "sap-s4hana").is_dir():
        pytest.skip(f"SAP's EDMX and WSDL not found under {SPECS}; set ARBRIDGE_SPECS")
    rng = random.Random(int(os.environ.get("ARBRIDGE_KILL_SEED", "20261123")))
    outcome = Outcome()
    for seed in range(SAP_SEEDS):
        # SAP's API management throttles as it does by default: the sync must live with it. SAP
        # answers a journal-entry post half a second after posting it, so a kill while writing
        # mostly lands where the entry is posted and arbridge does not know it yet.
        with S4Sandbox(seed="large", invoices=SAP_INVOICES, specs=SPECS, soap_answer_delay=0.5) as sap:
            user, password = next(iter(sap.users.items()))
            settings = {
                "base_url": sap.base_url,
                "username": user,
                "password": password,
                "company_codes": sorted(sap.book.company_codes),
                "bank_gl_account": "11001020",
                "page_size": 200,
                "batch_max": 5,
            }
            phases = Phases(
                pulls=lambda sap=sap: sum(1 for r in list(sap.requests_log) if r.kind == "odata"),
                # Dunning change sets answered, and journal entries posted (before SAP answers).
                writes=lambda sap=sap: (
                    sum(1 for r in list(sap.requests_log) if r.kind == "batch")
                    + sum(1 for e in list(sap.book.journal) if e["message_id"])
                ),
            )
            before = held(sap)
            state = sync_with_kills("sap-s4hana", tmp_path / f"sap{seed}", settings, phases, rng, outcome)
            records, outbox = stored(state)
            ops = outbox_ops(state)

            # Every record SAP held before the sync is in the store (payments the sync itself
            # posted may land after the payments were read).
            for stream, ids in before.items():
                lost = ids - records.get(stream, set())
                assert not lost, f"seed {seed}: {stream} lost: {sorted(lost)[:5]}"
            assert {s for _, _, s in outbox} == {"done"}, f"seed {seed}: writes not confirmed"
            payments = [k for k, t in ops.items() if t == "payment_application"]
            reminders = [k for k, t in ops.items() if t == "collection_status"]
            notes = [k for k, t in ops.items() if t == "note"]
            assert len(payments) == len(reminders) == len(notes) > 20

            # Each note is one line of its customer's text: its marker there once.
            texts = "\n".join(str(r["LongText"]) for r in sap.book.tables["A_CustomerText"].values())
            shown = {k: texts.count(marker_for(k)) for k in notes}
            assert shown == dict.fromkeys(notes, 1), f"seed {seed}: a note was written twice or never"

            # SAP's journal holds each payment key's entry once: by its message ID and its reference.
            posted = Counter(entry["message_id"] for entry in sap.book.journal)
            twice = [k for k in payments if posted[k[:35]] != 1]
            assert not twice, (
                f"seed {seed}: posted twice or never: {[(k, posted[k[:35]]) for k in twice][:5]}"
            )
            assert all(len(sap.book.documents_with_reference(reference_for(k))) == 1 for k in payments)
            assert sum(posted[k[:35]] for k in payments) == sum(
                1 for e in sap.book.journal if e["message_id"]
            )

            # Each dunning record the reminders reach was changed once, to level 2.
            targets = {t for k, t, _ in outbox if k in set(reminders)}
            records_reached = {(t.split("/")[4], t.split("/")[0], "") for t in targets}
            changes = Counter(w["key"] for w in sap.writes_log if w["entity_set"] == "A_CustomerDunning")
            assert set(changes) == records_reached, f"seed {seed}: dunning records changed: {changes}"
            assert set(changes.values()) == {1}, f"seed {seed}: a dunning record was changed twice"
            assert {sap.book.tables["A_CustomerDunning"][r]["DunningLevel"] for r in records_reached} == {"2"}

            # Read back, each posted payment is applied to its invoice, those SAP posted while the
            # process was being killed included: cash application would not see them again.
            applied = applied_as_read_back(settings, state, f"sap-s4hana-sap{seed}")
            paid = invoices_paid(state)
            assert {k: applied.get(reference_for(k)) for k in payments} == {
                k: (Decimal(0), [(paid[k], PAYMENT)]) for k in payments
            }, f"seed {seed}: a posted payment does not read back applied to its invoice"
    assert (outcome.killed_pulling, outcome.killed_writing) == (SAP_SEEDS, SAP_SEEDS)
