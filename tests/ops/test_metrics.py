"""/metrics exposes the backlog and health of each connection, and nothing about customers."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import requests

from connectors.base import Reject
from engine import metrics
from mapping import CollectionStatus, CollectionStatusUpdate, Customer, Invoice, Stream, TargetType
from service.http import OpsServer
from store import StateStore

SENTINEL = "Sentinel Customer GmbH"


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if got == wanted:
                return float(match.group(3))
    raise AssertionError(f"no sample {name}{{{wanted}}} in:\n{text}")


def seed(store: StateStore) -> None:
    customer = Customer(
        remote_id="C1",
        name=SENTINEL,
        email="ar@sentinel.example",
        remote_modified_at=datetime(2026, 11, 1, tzinfo=UTC),
        raw={"DisplayName": SENTINEL},
    )
    invoices = [
        Invoice(
            remote_id=str(i),
            number=f"INV-{i}",
            customer_remote_id="C1",
            currency="EUR",
            issue_date=date(2026, 10, 1),
            due_date=date(2026, 10, 31),
            total=Decimal("100.00"),
            open_amount=Decimal("100.00"),
            remote_modified_at=datetime(2026, 11, 1, tzinfo=UTC),
            raw={"CustomerRef": {"name": SENTINEL}},
        )
        for i in range(1, 4)
    ]
    bad = Reject(Stream.INVOICES, "9", "TotalAmt", f"not a number for {SENTINEL}", raw={"name": SENTINEL})
    store.save_page("acme-qbo", Stream.CUSTOMERS, [customer])
    store.save_page("acme-qbo", Stream.INVOICES, invoices, [bad])
    ops = [
        CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id=str(i),
            collection_status=CollectionStatus.REMINDED,
            dunning_level=1,
        )
        for i in range(1, 4)
    ]
    keys = store.enqueue("acme-qbo", ops)
    store.claim("acme-qbo", 1)
    store.mark_parked(keys[0], error=f"Customer {SENTINEL} is inactive", kind="permanent")
    store.mark_success("acme-qbo")


def test_metrics_expose_outbox_backlog_without_customer_data(
    make_server: Callable[..., OpsServer], store: StateStore
) -> None:
    seed(store)
    metrics.records_read("acme-qbo", Stream.INVOICES, 3)
    metrics.write_back("acme-qbo", SENTINEL)  # an unexpected result never becomes a label value
    metrics.retry("acme-qbo")
    metrics.conflict("acme-qbo")
    server = make_server()

    answer = requests.get(f"{server.url}/metrics", timeout=5)
    text = answer.text

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert SENTINEL not in text and "Sentinel" not in text and "sentinel" not in text
    assert sample(text, "arbridge_store_up") == 1.0
    assert sample(text, "arbridge_outbox_pending", connection="acme-qbo") == 2.0
    assert sample(text, "arbridge_outbox_parked", connection="acme-qbo") == 1.0
    assert sample(text, "arbridge_outbox_oldest_pending_age_seconds", connection="acme-qbo") >= 0.0
    assert sample(text, "arbridge_quarantined_records", connection="acme-qbo") == 1.0
    assert sample(text, "arbridge_records_stored", connection="acme-qbo", stream="invoices") == 3.0
    assert sample(text, "arbridge_records_stored", connection="acme-qbo", stream="customers") == 1.0
    last_ok = sample(text, "arbridge_last_successful_sync_timestamp_seconds", connection="acme-qbo")
    assert abs(last_ok - datetime.now(UTC).timestamp()) < 60
    assert sample(text, "arbridge_connection_needs_reauth", connection="acme-qbo") == 0.0
    assert sample(text, "arbridge_outbox_pending", connection="beta-csv") == 0.0
    assert sample(text, "arbridge_records_read_total", connection="acme-qbo", stream="invoices") >= 3.0
    assert sample(text, "arbridge_write_backs_total", connection="acme-qbo", result="other") >= 1.0
    assert sample(text, "arbridge_retries_total", connection="acme-qbo") >= 1.0
    assert sample(text, "arbridge_conflicts_total", connection="acme-qbo") >= 1.0


def test_metrics_flag_a_connection_needing_reauth(
    make_server: Callable[..., OpsServer], store: StateStore
) -> None:
    store.set_needs_reauth("acme-qbo", "invalid_grant")
    server = make_server()
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    assert sample(text, "arbridge_connection_needs_reauth", connection="acme-qbo") == 1.0
    assert sample(text, "arbridge_connection_needs_reauth", connection="beta-csv") == 0.0
