"""Reading a GP company: documents moving to history, voids, applications, stamps and reconciliation."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from connectors.base import Cursor
from connectors.dynamics_gp import DynamicsGpConnector
from mapping.models import DocumentStatus, Invoice, Payment, PaymentStatus, Record, Stream, TargetType
from sandboxes.dynamics_gp import GpSandbox
from tests.connectors.dynamics_gp.conftest import connector_for


def read(
    connector: DynamicsGpConnector, stream: Stream, cursor: Cursor | None = None
) -> tuple[list[Record], Cursor]:
    pages = list(connector.read(stream, cursor))
    last = next((p.cursor for p in reversed(pages) if p.cursor is not None), cursor)
    assert last is not None
    return [r for p in pages for r in p.records], last


def by_id(records: list[Record]) -> dict[str, Any]:
    return {r.remote_id: r for r in records}


def test_an_invoice_paid_in_full_and_moved_to_history_arrives_paid_from_history(
    gp: GpSandbox, login: str
) -> None:
    connector = connector_for(gp, login)
    invoices, cursor = read(connector, Stream.INVOICES)
    invoice = by_id(invoices)["1:STDINV2003"]
    gp.post_payment(
        invoice.customer_remote_id,
        "PAY-HIST-1",
        invoice.open_amount,
        date.today(),
        [(1, "STDINV2003", invoice.open_amount)],
    )
    gp.move_to_history(1, "STDINV2003")

    changed, _ = read(connector, Stream.INVOICES, cursor)

    [paid] = [r for r in changed if r.remote_id == "1:STDINV2003"]
    assert isinstance(paid, Invoice)
    assert paid.status is DocumentStatus.PAID and paid.open_amount == 0
    assert paid.raw_status == "invoice (history)"
    everything, _ = read(connector_for(gp, login), Stream.INVOICES)
    assert [r.remote_id for r in everything].count("1:STDINV2003") == 1


def test_a_voided_payment_arrives_deleted_and_void(gp: GpSandbox, login: str) -> None:
    connector = connector_for(gp, login)
    _, cursor = read(connector, Stream.PAYMENTS)
    gp.void(9, "PYMNT3006")

    changed, _ = read(connector, Stream.PAYMENTS, cursor)

    [voided] = changed
    assert voided.remote_id == "9:PYMNT3006" and voided.deleted
    assert isinstance(voided, Payment) and voided.status is PaymentStatus.VOID


def test_a_payment_carries_its_applications_from_the_open_and_the_history_tables(
    gp: GpSandbox, login: str
) -> None:
    gp.post_payment(
        "AARONFIT0001",
        "PAY-SPLIT",
        Decimal("300.00"),
        date.today(),
        [(1, "STDINV2010", Decimal("100.00")), (1, "STDINV2020", Decimal("200.00"))],
    )
    gp.execute(f'UPDATE {gp.t("RM20101")} SET "CURTRXAM" = 0 WHERE "DOCNUMBR" = \'STDINV2010\'')
    gp.move_to_history(1, "STDINV2010")  # its application moves to RM30201
    connector = connector_for(gp, login)

    payment = connector.fetch(TargetType.PAYMENT, "9:PAY-SPLIT")

    assert isinstance(payment, Payment)
    assert {(a.target_id, a.amount) for a in payment.allocations} == {
        ("1:STDINV2010", Decimal("100.00000")),
        ("1:STDINV2020", Decimal("200.00000")),
    }
    assert payment.status is PaymentStatus.APPLIED and payment.unapplied_amount == 0


def test_an_incremental_read_resumed_inside_a_run_of_equal_stamps_loses_nothing(
    gp: GpSandbox, login: str
) -> None:
    connector = connector_for(gp, login, page_size=3)
    _, cursor = read(connector, Stream.INVOICES)
    # One statement: every changed row gets the same DEX_ROW_TS from GP's trigger.
    gp.execute(f'UPDATE {gp.t("RM20101")} SET "TRXDSCRN" = \'reprinted\' WHERE "RMDTYPAL" = 1')
    changed = {r for (r,) in gp.rows(f'SELECT "DOCNUMBR" FROM {gp.t("RM20101")} WHERE "RMDTYPAL" = 1')}
    pages = list(connector_for(gp, login, page_size=3).read(Stream.INVOICES, cursor))
    assert len(pages) > 3

    for index in range(len(pages) - 1):
        before = [r.remote_id for p in pages[: index + 1] for r in p.records]
        after = [
            r.remote_id
            for p in connector_for(gp, login, page_size=3).read(Stream.INVOICES, pages[index].cursor)
            for r in p.records
        ]
        assert not set(before) & set(after)
        assert {i.split(":")[1] for i in before + after} == {c.rstrip() for c in changed}


def test_a_change_stamped_before_the_newest_one_read_is_caught_by_the_overlap(
    gp: GpSandbox, login: str
) -> None:
    connector = connector_for(gp, login)
    gp.execute(f"UPDATE {gp.t('RM20101')} SET \"TRXDSCRN\" = 'newest' WHERE \"DOCNUMBR\" = 'STDINV2005'")
    _, cursor = read(connector, Stream.INVOICES)
    # A posting that began a minute ago commits now: its rows carry the stamp of its statement.
    gp.execute(f'ALTER TABLE {gp.t("RM20101")} DISABLE TRIGGER "zDT_RM20101U"')
    gp.execute(
        f'UPDATE {gp.t("RM20101")} SET "CURTRXAM" = 1, "DEX_ROW_TS" = '
        "(now() AT TIME ZONE 'UTC') - interval '1 minute' WHERE \"DOCNUMBR\" = 'STDINV2006'"
    )
    gp.execute(f'ALTER TABLE {gp.t("RM20101")} ENABLE TRIGGER "zDT_RM20101U"')

    changed, cursor = read(connector, Stream.INVOICES, cursor)

    assert [r.remote_id for r in changed] == ["1:STDINV2006"]
    assert read(connector, Stream.INVOICES, cursor)[0] == []


def test_an_application_changed_without_a_stamp_is_caught_by_the_daily_reconciliation(
    gp: GpSandbox, login: str
) -> None:
    connector = connector_for(gp, login)
    payments, cursor = read(connector, Stream.PAYMENTS)
    assert by_id(payments)["9:PYMNT3006"].allocations == []
    # An integration that writes the apply table directly: no DEX_ROW_TS anywhere moves.
    gp.insert(
        "RM20201",
        [
            {
                "CUSTNMBR": "ATMORERE0001",
                "APFRDCTY": 9,
                "APFRDCNM": "PYMNT3006",
                "APTODCTY": 1,
                "APTODCNM": "STDINV2006",
                "APPTOAMT": Decimal("25.00"),
                "POSTED": 1,
            }
        ],
    )
    assert read(connector, Stream.PAYMENTS, cursor)[0] == []

    reconciling = connector_for(gp, login, reconcile_every_hours=0.0001)
    state = json.loads(cursor.value)
    state["reconciled"] = "2000-01-01T00:00:00.000000"
    changed, _ = read(reconciling, Stream.PAYMENTS, Cursor(json.dumps(state)))

    [payment] = [r for r in changed if r.remote_id == "9:PYMNT3006"]
    assert isinstance(payment, Payment)
    assert [(a.target_id, a.amount) for a in payment.allocations] == [("1:STDINV2006", Decimal("25.00000"))]


def test_a_blank_gp_date_is_no_date_and_a_mapped_company_currency_is_its_iso_code(
    gp: GpSandbox, login: str
) -> None:
    gp.execute(
        f"UPDATE {gp.t('RM20101')} SET \"DUEDATE\" = TIMESTAMP '1900-01-01', \"CURNCYID\" = 'Z-CHF' "
        "WHERE \"DOCNUMBR\" = 'STDINV2011'"
    )
    connector = connector_for(gp, login, currencies={"Z-CHF": "CHF"})

    invoice = by_id(read(connector, Stream.INVOICES)[0])["1:STDINV2011"]

    assert invoice.due_date is None and invoice.currency == "CHF"
    assert invoice.issue_date <= date.today() and invoice.issue_date > date.today() - timedelta(days=200)
