"""Write-back against the QuickBooks sandbox when a request id already has an answer, and two writes
to one invoice in one batch.

QuickBooks keeps its answer under a batch's ``requestid`` and replays it to a resend. That is what
makes a resend after a lost answer harmless, and what would make a refused request or a parked
write unsendable for good if the same id went out again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.base import ConnectorContext, MemoryKeyValueStore, OutboundOp
from connectors.quickbooks import QuickBooksConnector
from connectors.quickbooks.connector import batch_id_for, marker_for, request_id_for
from engine import CycleReport, DecisionContext, SyncEngine, SyncOptions
from mapping.models import CollectionStatus, CollectionStatusUpdate, Note, Operation, Stream, TargetType
from sandboxes.quickbooks.server import QuickBooksSandbox
from store import StateStore

INVOICES = ("10", "11", "12")


class RemindThreeInvoices:
    name = "remind"

    def decide(self, ctx: DecisionContext) -> Iterable[Operation]:
        for invoice in INVOICES:
            yield CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=invoice,
                collection_status=CollectionStatus.REMINDED,
                dunning_level=1,
            )


@pytest.fixture
def erp(specs_dir: Path) -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox(seed="large", records=30, specs=specs_dir) as sandbox:
        yield sandbox


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore.open(store_url)
    yield s
    s.close()


def settings_of(erp: QuickBooksSandbox) -> dict[str, Any]:
    return {
        "base_url": erp.base_url,
        "token_url": erp.token_url,
        "realm_id": erp.realm_id,
        "client_id": erp.client_id,
        "client_secret": erp.client_secret,
        "refresh_token": erp.issue_refresh_token(),
        "collection_status_field_id": "1",
    }


def cycle(store: StateStore, settings: dict[str, Any], *, write_back: bool = True) -> CycleReport:
    connector = QuickBooksConnector.create(
        settings, ConnectorContext("books", state=store.connector_state("books"))
    )
    options = SyncOptions(
        deciders=[RemindThreeInvoices()],
        write_back=write_back,
        streams=[Stream.INVOICES],
        sleep=lambda s: None,
    )
    with connector:
        return SyncEngine(store, connector, "books", options).run_cycle()


def batch_requestids(erp: QuickBooksSandbox) -> list[str]:
    return [e["requestid"] for e in erp.requests_log if e["path"].endswith("/batch")]


def applied_once(erp: QuickBooksSandbox, keys: list[str]) -> bool:
    applied = Counter(w["bId"] for w in erp.writes_log if w["applied"])
    return all(applied[batch_id_for(key)] == 1 for key in keys)


def test_a_batch_the_erp_refused_as_malformed_goes_again_under_a_new_request_id_and_lands_once(
    erp: QuickBooksSandbox, store: StateStore
) -> None:
    settings = settings_of(erp)
    cycle(store, settings, write_back=False)  # decided, queued, not sent
    keys = [row.key for row in store.outbox_rows("books")]
    poisoned = request_id_for(keys)
    # A request with this batch's id reached QuickBooks cut short (a gateway forwarded half of it):
    # QuickBooks answered 400 and keeps that answer under the id.
    half = json.dumps({"BatchItemRequest": [{"bId": "x"}]}).encode()[:20]
    refused = requests.post(
        f"{erp.api_url}/batch",
        params={"requestid": poisoned, "minorversion": "75"},
        data=half,
        headers={"Authorization": f"Bearer {erp.issue_access_token()}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert refused.status_code == 400

    report = cycle(store, settings)

    assert [row.status for row in store.outbox_rows("books")] == ["done"] * len(INVOICES)
    assert applied_once(erp, keys)
    manual, replayed, fresh = batch_requestids(erp)
    assert manual == replayed == poisoned and fresh != poisoned
    assert report.written["ok"] == len(INVOICES) and report.written["parked"] == 0
    # The refusal is the call's, said in the cycle's report, never the writes' own verdict.
    assert any("refused the whole request" in error for error in report.errors)
    assert not [e for e in store.audit_entries("books", limit=50) if e["event"] == "parked"]


def test_a_write_an_admin_retries_leaves_under_a_new_request_id_and_lands_once(
    erp: QuickBooksSandbox, store: StateStore
) -> None:
    settings = settings_of(erp)
    # The company's sales form lost the custom field: every status write is refused on its own.
    removed = erp.company.custom_fields.pop("1")
    first = cycle(store, settings)
    rows = store.outbox_rows("books")
    assert [row.status for row in rows] == ["parked"] * len(INVOICES), first.errors
    assert all("DefinitionId" in (row.last_error or "") for row in rows)

    erp.company.custom_fields["1"] = removed  # the admin puts the field back ...
    for row in rows:  # ... and runs `arbridge outbox retry` for each write
        assert store.retry_parked(row.key, by="admin")
    cycle(store, settings)

    assert [row.status for row in store.outbox_rows("books")] == ["done"] * len(INVOICES)
    assert applied_once(erp, [row.key for row in rows])
    [before, after] = batch_requestids(erp)
    assert after != before, "the same request id would have replayed QuickBooks' first answer"
    for invoice in INVOICES:
        fields = {f["DefinitionId"]: f.get("StringValue") for f in erp.db["Invoice"][invoice]["CustomField"]}
        assert fields["1"].startswith("reminded")


def test_a_status_and_a_note_on_one_invoice_in_one_batch_both_land(erp: QuickBooksSandbox) -> None:
    connector = QuickBooksConnector.create(
        settings_of(erp), ConnectorContext("books", state=MemoryKeyValueStore())
    )
    invoice = erp.db["Invoice"]["10"]
    token = invoice["SyncToken"]
    status = OutboundOp(
        "books/collection_status/invoice/10/a1",
        CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id="10",
            base_version=token,
            collection_status=CollectionStatus.PROMISED,
            dunning_level=2,
            next_action_date=date(2026, 12, 1),
        ),
    )
    note = OutboundOp(
        "books/note/invoice/10/b2",
        Note(target_type=TargetType.INVOICE, target_id="10", text="Promised to pay on 1 December."),
    )
    with connector:
        results = connector.write([status, note])

    assert [(r.key, r.ok) for r in results] == [(status.key, True), (note.key, True)], [
        r.error for r in results
    ]
    stored = erp.db["Invoice"]["10"]
    assert int(stored["SyncToken"]) == int(token) + 1, "one update carried both"
    assert marker_for(note.key) in stored["PrivateNote"]
    fields = {f["DefinitionId"]: f.get("StringValue") for f in stored["CustomField"]}
    assert fields["1"].startswith("promised")
    assert results[0].version == results[1].version == stored["SyncToken"]
