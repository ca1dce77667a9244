"""What the store keeps of a record is the record's own JSON and hash, whatever the record holds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from mapping.models import (
    Allocation,
    CreditMemo,
    Customer,
    DocumentLine,
    Invoice,
    Payment,
    Record,
    Stream,
    TargetType,
)
from store import StateStore

SEEN = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
MODIFIED = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
# An ERP payload with everything JSON can trip on: nested keys named like canonical fields,
# quotes, commas and colons in text, numbers of each kind, times, and text beyond ASCII.
RAW: dict[str, Any] = {
    "customer_remote_id": "C9",
    "name": 'say "hi", then: go',
    "deleted": {"raw": [1, 2.5, None, True], "seen_at": "x"},
    "amount": Decimal("12.50000"),
    "when": datetime(2026, 1, 2, 3, 4, 5),
    "day": date(2026, 1, 2),
    "text": "Müller & Søn\n\t\\",
}


def records() -> list[Record]:
    common: dict[str, Any] = {"remote_modified_at": MODIFIED, "seen_at": SEEN, "raw": RAW}
    return [
        Customer(
            remote_id='C1,"deleted":true',
            name='A "quoted" name,"name":',
            billing_address={"line1": "1 Main St", "city": "Springfield"},
            tags=["on hold"],
            **common,
        ),
        Invoice(
            remote_id="1:INV1",
            customer_remote_id="C1",
            currency="EUR",
            issue_date=date(2026, 11, 1),
            total=Decimal("10.00"),
            open_amount=Decimal("10.00"),
            raw_status='open,"raw":{}',
            lines=[DocumentLine(amount=Decimal("10.00"), description="line")],
            **common,
        ),
        CreditMemo(
            remote_id="7:CM1",
            customer_remote_id="C1",
            currency="EUR",
            issue_date=date(2026, 11, 1),
            total=Decimal("5.00"),
            open_amount=Decimal("0"),
            allocations=[Allocation(target_type=TargetType.INVOICE, target_id="1:INV1", amount=Decimal("5"))],
            **common,
        ),
        Payment(
            remote_id="9:P1",
            currency="USD",
            date=date(2026, 11, 2),
            amount=Decimal("3.00"),
            unapplied_amount=Decimal("0"),
            **{**common, "raw": {}},
        ),
    ]


@pytest.mark.parametrize("record", records(), ids=lambda r: type(r).__name__)
def test_a_record_put_together_from_its_content_is_its_whole_json(record: Record) -> None:
    assert record.json_from_content(record.content_json()) == record.model_dump_json()
    assert record.content_json() == record.model_dump_json(exclude={"seen_at", "raw"})


def test_a_record_built_with_its_fields_out_of_order_is_still_written_whole() -> None:
    [_, invoice, *_] = records()
    shuffled = Invoice.model_construct(**dict(reversed(list(invoice.__dict__.items()))))

    assert shuffled.json_from_content(shuffled.content_json()) == shuffled.model_dump_json()


@pytest.fixture
def store(store_url: str):
    s = StateStore.open(store_url)
    yield s
    s.close()


def test_the_store_keeps_each_record_as_it_dumps_itself_with_its_content_hash(store: StateStore) -> None:
    for record in records():
        store.save_page("acme", record.stream, [record])

        with store.engine.connect() as conn:
            data, digest = conn.execute(
                sa.text("SELECT data, content_hash FROM records WHERE connection = 'acme' AND stream = :s"),
                {"s": record.stream.value},
            ).one()
        assert data == record.model_dump_json()
        assert digest == record.content_hash()
        stored = store.get_record("acme", record.stream, record.remote_id)
        assert stored is not None and stored.content_hash() == digest
    assert store.save_page("acme", Stream.INVOICES, [records()[1]]).unchanged == 1
