"""The in-memory ERP: generated books, incremental reads, an exact write log, faults on demand."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from pydantic import SecretStr

from connectors.base import (
    AuthError,
    BadRecordError,
    ConflictError,
    ConnectorContext,
    Cursor,
    OutboundOp,
    Page,
)
from connectors.memory import MemoryConnector, MemoryErp
from mapping.models import (
    RECORD_TYPES,
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    DocumentStatus,
    Invoice,
    Note,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Stream,
    TargetType,
)


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    MemoryConnector.reset()
    yield
    MemoryConnector.reset()


def connect(**settings: object) -> MemoryConnector:
    base: dict[str, object] = {
        "erp": "acme",
        "customers": 20,
        "invoices": 200,
        "credit_memos": 10,
        "payments": 60,
    }
    connector = MemoryConnector.create({**base, **settings}, ConnectorContext("acme-books"))
    assert isinstance(connector, MemoryConnector)
    return connector


def read_ids(
    connector: MemoryConnector, stream: Stream, cursor: Cursor | None = None
) -> tuple[list[str], Cursor | None]:
    pages = list(connector.read(stream, cursor))
    return [r.remote_id for p in pages for r in p.records], (pages[-1].cursor if pages else cursor)


def reminder(invoice: str, *, base_version: str | None = None) -> CollectionStatusUpdate:
    return CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=invoice,
        collection_status=CollectionStatus.REMINDED,
        dunning_level=1,
        base_version=base_version,
    )


def open_invoice(connector: MemoryConnector) -> Invoice:
    for page in connector.read(Stream.INVOICES, None):
        for record in page.records:
            if (
                isinstance(record, Invoice)
                and record.status is DocumentStatus.OPEN
                and record.open_amount > 0
            ):
                return record
    raise AssertionError("the generated books have no open invoice")


def test_generated_books_are_the_same_for_the_same_seed_and_differ_for_another() -> None:
    first = [
        r.model_dump(exclude={"seen_at"}) for p in connect().read(Stream.INVOICES, None) for r in p.records
    ]
    MemoryConnector.reset()
    second = [
        r.model_dump(exclude={"seen_at"}) for p in connect().read(Stream.INVOICES, None) for r in p.records
    ]
    other = [
        r.model_dump(exclude={"seen_at"})
        for p in connect(seed=9).read(Stream.INVOICES, None)
        for r in p.records
    ]

    assert first == second
    assert first != other
    assert len(first) == 200


def test_generated_records_are_valid_canonical_records() -> None:
    connector = connect(customers=50, invoices=500, credit_memos=50, payments=200)

    for stream in Stream:
        for page in connector.read(stream, None):
            for record in page.records:
                assert RECORD_TYPES[stream].model_validate(record.model_dump()) == record


def test_payments_reference_real_invoices_in_the_same_currency() -> None:
    connector = connect()
    erp = connector.erp

    payments = [r for p in connector.read(Stream.PAYMENTS, None) for r in p.records]
    unapplied = [p for p in payments if isinstance(p, Payment) and p.status is PaymentStatus.UNAPPLIED]
    applied = [p for p in payments if isinstance(p, Payment) and p.status is PaymentStatus.APPLIED]

    assert unapplied and applied
    for payment in applied:
        [alloc] = payment.allocations
        invoice = erp.get(Stream.INVOICES, alloc.target_id)
        assert isinstance(invoice, Invoice) and invoice.currency == payment.currency
    for payment in unapplied:
        assert payment.reference and payment.reference.startswith("Payment INV-")


def test_pages_are_sorted_and_every_page_is_resumable() -> None:
    pages: list[Page] = list(connect(page_size=64).read(Stream.INVOICES, None))

    keys = [(r.remote_modified_at, r.remote_id) for p in pages for r in p.records]
    assert keys == sorted(keys) and len(set(keys)) == 200
    assert [len(p.records) for p in pages] == [64, 64, 64, 8]
    assert all(p.cursor is not None and p.cursor.resumable for p in pages)


def test_touch_makes_an_incremental_read_return_exactly_the_changed_records() -> None:
    connector = connect(page_size=7)
    _, cursor = read_ids(connector, Stream.INVOICES)

    changed = connector.erp.touch(Stream.INVOICES, 25, seed=4)
    again, cursor = read_ids(connector, Stream.INVOICES, cursor)
    nothing, _ = read_ids(connector, Stream.INVOICES, cursor)

    assert again == sorted(changed) and len(again) == 25
    assert nothing == []


def test_touch_by_fraction_changes_that_share_of_the_stream() -> None:
    erp = connect().erp

    assert len(erp.touch(Stream.PAYMENTS, 0.25, seed=1)) == 15
    [customer] = erp.touch(Stream.CUSTOMERS, 1, seed=2)
    assert erp.get(Stream.CUSTOMERS, customer).version == "2"  # type: ignore[union-attr]


def test_records_changed_in_one_batch_job_are_neither_lost_nor_repeated_across_pages() -> None:
    connector = connect(page_size=3)
    _, cursor = read_ids(connector, Stream.CUSTOMERS)
    changed = connector.erp.touch(Stream.CUSTOMERS, 10, seed=5)  # one modification time for all ten

    seen: list[str] = []
    while True:
        page = next(iter(connector.read(Stream.CUSTOMERS, cursor)), None)
        if page is None:
            break
        seen += [r.remote_id for r in page.records]
        cursor = page.cursor

    assert seen == changed


def test_resuming_from_a_middle_page_loses_no_base_record() -> None:
    connector = connect(page_size=50)
    pages = list(connector.read(Stream.INVOICES, None))

    rest, _ = read_ids(connector, Stream.INVOICES, pages[1].cursor)

    assert [r.remote_id for p in pages[:2] for r in p.records] + rest == [
        r.remote_id for p in pages for r in p.records
    ]


def test_the_engine_and_the_test_share_one_erp_by_name() -> None:
    connector = connect()

    assert MemoryConnector.erps["acme"] is connector.erp
    assert connect().erp is connector.erp
    assert connect(seed=1).erp is not connector.erp  # different books: a new ERP under the name


def test_write_applies_once_per_idempotency_key_and_logs_the_effect() -> None:
    connector = connect()
    invoice = open_invoice(connector)
    op = OutboundOp("k-remind-1", reminder(invoice.remote_id))

    [first] = connector.write([op])
    [retry] = connect().write([op])

    assert first.ok and not first.duplicate and first.version == "2"
    assert retry.ok and retry.duplicate
    erp = connector.erp
    assert erp.applied_count["k-remind-1"] == 1
    assert erp.effects[f"invoice/{invoice.remote_id}"] == 1
    assert erp.applied["k-remind-1"] == op.op
    updated = connector.fetch(TargetType.INVOICE, invoice.remote_id)
    assert isinstance(updated, Invoice) and updated.collection_status is CollectionStatus.REMINDED
    assert connector.find_written(op) is not None


def test_written_change_comes_back_in_the_next_incremental_read() -> None:
    connector = connect()
    _, cursor = read_ids(connector, Stream.INVOICES)
    invoice = open_invoice(connector)

    connector.write([OutboundOp("k-1", reminder(invoice.remote_id))])

    assert read_ids(connector, Stream.INVOICES, cursor)[0] == [invoice.remote_id]


def test_stale_base_version_is_a_conflict() -> None:
    connector = connect()
    invoice = open_invoice(connector)
    connector.erp.make_stale(TargetType.INVOICE, invoice.remote_id)

    [result] = connector.write([OutboundOp("k-stale", reminder(invoice.remote_id, base_version="1"))])

    assert isinstance(result.error, ConflictError)
    assert result.version == "2"
    assert connector.erp.applied_count["k-stale"] == 0


def test_cash_application_creates_a_payment_and_closes_the_invoice() -> None:
    connector = connect()
    invoice = open_invoice(connector)
    op = PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=invoice.customer_remote_id,
        customer_remote_id=invoice.customer_remote_id,
        amount=invoice.open_amount,
        currency=invoice.currency,
        date=date(2024, 3, 4),
        reference=f"Remittance {invoice.number}",
        allocations=[
            Allocation(
                target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=invoice.open_amount
            )
        ],
    )

    [result] = connector.write([OutboundOp("k-cash", op)])

    assert result.ok and result.remote_id == "P0000061"
    payment = connector.fetch(TargetType.PAYMENT, "P0000061")
    assert isinstance(payment, Payment) and payment.status is PaymentStatus.APPLIED
    paid = connector.fetch(TargetType.INVOICE, invoice.remote_id)
    assert isinstance(paid, Invoice) and (paid.status, paid.open_amount) == (
        DocumentStatus.PAID,
        Decimal("0.00"),
    )
    assert "P0000061" in read_ids(connector, Stream.PAYMENTS)[0]


def test_over_application_is_a_bad_record_and_changes_nothing() -> None:
    connector = connect()
    invoice = open_invoice(connector)
    too_much = invoice.open_amount + Decimal("1.00")
    op = PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=invoice.customer_remote_id,
        customer_remote_id=invoice.customer_remote_id,
        amount=too_much,
        currency=invoice.currency,
        date=date(2024, 3, 4),
        allocations=[
            Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=too_much)
        ],
    )

    [result] = connector.write([OutboundOp("k-over", op)])

    assert isinstance(result.error, BadRecordError) and "exceeds the open" in str(result.error)
    assert connector.fetch(TargetType.INVOICE, invoice.remote_id) == invoice
    assert connector.erp.total(Stream.PAYMENTS) == 60


def test_note_on_a_missing_customer_is_a_bad_record() -> None:
    connector = connect()
    good = Note(target_type=TargetType.CUSTOMER, target_id="C0000001", text="Promised to pay Friday")
    bad = Note(target_type=TargetType.CUSTOMER, target_id="C9999999", text="Who is this?")

    ok, missing = connector.write([OutboundOp("k-good", good), OutboundOp("k-bad", bad)])

    assert ok.ok and isinstance(missing.error, BadRecordError)
    assert connector.erp.notes == {"customer/C0000001": ["Promised to pay Friday"]}


def test_rejected_credentials_are_an_auth_error_and_a_failed_check() -> None:
    connector = connect(api_key=SecretStr("sk-live-correct"))
    connector.erp.api_key = "sk-live-correct"
    assert connector.check().ok

    connector.erp.auth_rejected = True

    assert not connector.check().ok
    with pytest.raises(AuthError):
        list(connector.read(Stream.CUSTOMERS, None))
    with pytest.raises(AuthError):
        connector.write([OutboundOp("k", reminder("I0000001"))])


def test_wrong_api_key_fails_the_check_without_showing_the_key() -> None:
    MemoryConnector.erps["acme"] = erp = MemoryErp(
        "acme", customers=20, invoices=200, credit_memos=10, payments=60
    )
    erp.api_key = "sk-live-correct"

    result = connect(api_key=SecretStr("sk-live-typo")).check()

    assert not result.ok and "api_key" in result.message
    assert "sk-live" not in result.message and "sk-live" not in repr(
        connect(api_key=SecretStr("sk-live-typo"))
    )


def test_batch_max_setting_is_the_connector_capability() -> None:
    connector = connect(batch_max=5)

    assert connector.capabilities.batch_max == 5
    assert MemoryConnector.capabilities.batch_max == 30
    with pytest.raises(Exception, match="at most 5"):
        connector.write([OutboundOp(f"k-{n}", reminder("I0000001")) for n in range(6)])


def test_a_million_invoices_stream_in_bounded_memory() -> None:
    connector = connect(erp="bench", customers=100_000, invoices=1_000_000, payments=0, credit_memos=0)

    tracemalloc.start()
    try:
        count = 0
        for page in connector.read(Stream.INVOICES, None):
            count += len(page.records)
            if count >= 50_000:
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 50_000
    assert peak < 15_000_000, f"peak {peak / 1e6:.1f} MB"


def test_cursor_points_at_the_last_record_of_its_page() -> None:
    [page] = list(connect(invoices=3).read(Stream.INVOICES, None))

    assert page.cursor is not None
    assert json.loads(page.cursor.value) == {"modified_at": "2024-01-01T00:00:02+00:00", "id": "I0000003"}
