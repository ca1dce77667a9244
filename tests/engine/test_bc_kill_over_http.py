"""SIGKILL during a Business Central sync over real HTTP: nothing lost, each write-back applied once.

The case of ``test_kill_over_http`` for Business Central: the sandbox outlives the killed process
and keeps its own ledger, every PATCH it applied per record and every ledger entry its journal
postings created. BC posts whatever lines a journal batch holds, so a payment posted once proves
the connector looks its marker up (posted entries and waiting journal lines) before it sends a
line again; an entry patched once proves a replayed collection status is recognised in BC; one
application row per key proves an existing payment is applied once.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.business_central.connector import marker_for
from connectors.business_central.notes import comment_code_for
from sandboxes.business_central import BusinessCentralSandbox
from tests.connectors.business_central.bc_target import onprem_settings
from tests.engine.bc_kill_decider import APPLIED
from tests.engine.kill_writes import PAYMENT
from tests.engine.test_kill_over_http import SEEDS, Outcome, Phases, stored, sync_with_kills
from tests.engine.test_sap_kill_over_http import invoices_paid, outbox_ops

BC_INVOICES = 5_000  # with its customers, payments and credit memos: about 8,500 records
STREAM_OF = {"Invoice": "invoices", "Payment": "payments", "Credit_x0020_Memo": "credit_memos"}


def unfinished(state: str) -> list[tuple[str, str, str, str]]:
    """The outbox rows not done: key, operation, status and the ERP's last error."""
    engine = sa.create_engine(state)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT key, op_type, status, last_error FROM outbox WHERE status != 'done'")
            )
            return [(str(k), str(o), str(s), str(e)[:300]) for k, o, s, e in rows][:5]
    finally:
        engine.dispose()


def held(bc: BusinessCentralSandbox) -> dict[str, set[str]]:
    """What the company holds per canonical stream, read from the sandbox's own tables."""
    out: dict[str, set[str]] = {"customers": set(bc.company.customers)}
    for entry in bc.company.entries.values():
        out.setdefault(STREAM_OF[entry["documentType"]], set()).add(entry["id"])
    return out


@pytest.mark.slow
def test_bc_sync_killed_while_writing_statuses_and_payments_applies_each_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("ARBRIDGE_KILL_SEED", "20261123")))
    outcome = Outcome()
    for seed in range(SEEDS):
        # BC's request limits stay on, as they are in BC: the sync must live with them.
        with BusinessCentralSandbox(seed="large", invoices=BC_INVOICES, notification_delay=0) as bc:
            settings = onprem_settings(bc, page_size=200, batch_max=8)
            log = bc.requests_log
            phases = Phases(
                pulls=lambda log=log: sum(
                    1
                    for r in list(log)
                    if r["method"] == "GET" and r["path"].endswith(("customers", "Entries"))
                ),
                # Batches answered and journals posted: the moments a write may have landed.
                writes=lambda log=log: sum(
                    1 for r in list(log) if r["path"].endswith(("$batch", "Microsoft.NAV.post"))
                ),
            )
            before = held(bc)
            remaining_before = {i: e["remainingAmount"] for i, e in bc.company.entries.items()}
            state = sync_with_kills(
                "business_central", tmp_path / f"bc{seed}", settings, phases, rng, outcome
            )
            records, outbox = stored(state)
            ops = outbox_ops(state)

            # Every record BC held before the sync is in the store (payments the sync itself posted
            # may land after the payments were read).
            for stream, ids in before.items():
                lost = ids - records.get(stream, set())
                assert not lost, f"seed {seed}: {stream} lost: {sorted(lost)[:5]}"
            assert {s for _, _, s in outbox} == {"done"}, (
                f"seed {seed}: writes not confirmed: {unfinished(state)}"
            )
            paid = invoices_paid(state)
            existing = {e["id"] for e in bc.company.entries.values() if e["documentType"] == "Payment"}
            targets_of = {k: t for k, t, _ in outbox}
            applications = [
                k for k, t in ops.items() if t == "payment_application" and targets_of[k] in existing
            ]
            payments = [k for k, t in ops.items() if t == "payment_application" and k not in applications]
            reminders = [k for k, t in ops.items() if t == "collection_status"]
            notes = [k for k, t in ops.items() if t == "note"]
            assert len(payments) == len(reminders) == len(notes) > 20 and len(applications) > 5

            # Each note is one comment line of its customer (it fits in 80 characters), once.
            codes = Counter(c["commentCode"] for c in bc.company.comments.values())
            assert {k: codes[comment_code_for(k)] for k in notes} == dict.fromkeys(notes, 1), (
                f"seed {seed}: a note was written twice or never"
            )
            assert sum(codes.values()) == len(notes)

            # Each reminded entry was patched once, to Reminded at level 2.
            targets = {t for k, t, _ in outbox if k in set(reminders)}
            patched = {i: len(p) for i, p in bc.patches.items()}
            assert patched == dict.fromkeys(targets, 1), f"seed {seed}: an entry was patched twice or never"
            assert {
                (bc.company.entries[t]["collectionStatus"], bc.company.entries[t]["dunningLevel"])
                for t in targets
            } == {("Reminded", 2)}

            # BC's ledger holds each payment key's entry once, and nothing else arbridge posted.
            posted = Counter(
                e["externalDocumentNumber"]
                for e in bc.company.entries.values()
                if e["id"] not in remaining_before
            )
            twice = [k for k in payments if posted[marker_for(k)] != 1]
            assert not twice, (
                f"seed {seed}: posted twice or never: {[(k, posted[marker_for(k)]) for k in twice][:5]}"
            )
            assert sum(posted.values()) == len(payments)
            assert not bc.company.journal_lines, f"seed {seed}: journal lines left unposted"

            # Each existing payment was applied once: one row per key in BC's application table.
            rows = Counter(a["applicationKey"] for a in bc.company.applications.values())
            assert {marker_for(k): rows[marker_for(k)] for k in applications} == {
                marker_for(k): 1 for k in applications
            }, f"seed {seed}: an existing payment was applied twice or never"
            assert sum(rows.values()) == len(applications)

            # Each paid invoice owes 10.00 less, once, each applied one 1.00 less per application,
            # and each applied payment has 1.00 less unapplied; no other entry's amount moved.
            paid_invoices = Counter(paid[k] for k in payments)
            applied_to = Counter(paid[k] for k in applications)
            applied_from = Counter(targets_of[k] for k in applications)
            for entry_id, was in remaining_before.items():
                now = bc.company.entries[entry_id]["remainingAmount"]
                expected = (
                    was
                    - PAYMENT * paid_invoices.get(entry_id, 0)
                    - APPLIED * applied_to.get(entry_id, 0)
                    + APPLIED * applied_from.get(entry_id, 0)
                )
                assert now == expected, f"seed {seed}: entry {entry_id}"
            assert set(paid_invoices.values()) == {1} and set(paid_invoices) == targets
            assert set(applied_from.values()) == {1}
            assert sum(paid_invoices.values()) * PAYMENT + len(applications) * APPLIED == sum(
                (
                    was - bc.company.entries[i]["remainingAmount"]
                    for i, was in remaining_before.items()
                    if i not in applied_from
                ),
                Decimal(0),
            )
    assert (outcome.killed_pulling, outcome.killed_writing) == (SEEDS, SEEDS)
