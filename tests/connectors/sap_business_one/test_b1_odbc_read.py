"""The fast read over ODBC: B1's tables through a read-only SQL login give the Service Layer's records.

A sandbox company is served by the Service Layer sandbox and copied into B1's table layout in
PostgreSQL (reached through the real PostgreSQL ODBC driver); the connector reads it both ways.
The statements' SQL Server form is checked as T-SQL (sqlglot) and run, translated, on the same rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.dynamics_gp.gp_support import odbc_missing

if odbc_missing() and not os.environ.get("CI"):
    pytest.skip(str(odbc_missing()), allow_module_level=True)

from connectors.base import Cursor, MemoryKeyValueStore, OutboundOp
from connectors.sap_business_one import SapBusinessOneConnector
from mapping.models import CollectionStatus, CollectionStatusUpdate, Record, Stream, TargetType
from sandboxes.sap_business_one import ServiceLayerSandbox
from sandboxes.sap_business_one.database import B1Database
from tests.connectors.odbc.translated import TranslatedDatabase
from tests.connectors.sap_business_one.b1_target import connector_for, create_fields

B1_DATABASE = os.environ.get("ARBRIDGE_TEST_B1_DB", "arbridge_b1_tests")


@pytest.fixture
def b1(specs_dir: Path) -> Iterator[ServiceLayerSandbox]:
    with ServiceLayerSandbox(seed="demo", specs=str(specs_dir), throttle=False) as sandbox:
        create_fields(sandbox)
        # What a company holds after some work: collection fields set, a payment cancelled,
        # an old record without an update time.
        invoices = sorted(sandbox.company.tables["Invoices"])
        sandbox.touch("Invoices", invoices[0], U_ARB_CollStatus="reminded", U_ARB_DunLevel=2)
        sandbox.touch("Invoices", invoices[1], U_ARB_NextAction="2026-12-09")
        sandbox.company.tables["Invoices"][invoices[2]]["UpdateTime"] = None
        sandbox.company.cancel_payment(max(sandbox.company.tables["IncomingPayments"]))
        yield sandbox


@pytest.fixture
def database(b1: ServiceLayerSandbox, specs_dir: Path) -> Iterator[B1Database]:
    import pyodbc

    try:
        db = B1Database(database=B1_DATABASE, schema=f"b1_{uuid.uuid4().hex[:12]}", specs=specs_dir)
        db.create(b1.company)
    except pyodbc.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable through ODBC: {exc}")
    try:
        yield db
    finally:
        db.drop()
        db.close()


def _odbc(b1: ServiceLayerSandbox, db: B1Database, state: MemoryKeyValueStore | None = None) -> Any:
    login = db.create_login()
    return connector_for(
        b1,
        state,
        page_size=4,
        read_via="odbc",
        odbc={"connection_string": db.connection_string(user=login), "schema": db.schema},
    )


def _read(
    connector: SapBusinessOneConnector, stream: Stream, cursor: Cursor | None = None
) -> tuple[list[Record], Any]:
    pages = list(connector.read(stream, cursor))
    return [r for p in pages for r in p.records], (pages[-1].cursor if pages else cursor)


def _comparable(records: list[Record]) -> list[dict[str, Any]]:
    # The version differs by nature (an ETag through the Service Layer, the update stamp from the
    # tables), and raw holds each source's own rows; everything else must be equal.
    return [r.model_dump(mode="json", exclude={"version", "raw", "seen_at"}) for r in records]


@pytest.mark.parametrize("stream", list(Stream), ids=[s.value for s in Stream])
def test_the_odbc_read_gives_the_same_records_as_the_service_layer(
    b1: ServiceLayerSandbox, database: B1Database, stream: Stream
) -> None:
    service_layer, _ = _read(connector_for(b1, page_size=4), stream)
    odbc, _ = _read(_odbc(b1, database), stream)
    assert len(service_layer) >= 5
    assert _comparable(odbc) == _comparable(service_layer)


def test_the_odbc_read_keeps_b1s_collection_fields_status_and_cancellations(
    b1: ServiceLayerSandbox, database: B1Database
) -> None:
    invoices, _ = _read(_odbc(b1, database), Stream.INVOICES)
    first = min(invoices, key=lambda r: int(r.remote_id))
    assert (first.collection_status, first.dunning_level) == (CollectionStatus.REMINDED, 2)
    assert all(r.version and r.version.startswith("db:") for r in invoices)
    payments, _ = _read(_odbc(b1, database), Stream.PAYMENTS)
    assert sum(1 for p in payments if p.deleted) == 1
    assert all(p.allocations for p in payments)


def test_an_incremental_odbc_read_returns_what_changed_in_b1_and_nothing_else(
    b1: ServiceLayerSandbox, database: B1Database
) -> None:
    connector = _odbc(b1, database)
    _, cursor = _read(connector, Stream.INVOICES)
    changed = sorted(b1.company.tables["Invoices"])[3]
    b1.touch("Invoices", changed, b1.clock() + timedelta(hours=1), Comments="called the buyer")
    database.load(b1.company)
    again, _ = _read(connector, Stream.INVOICES, cursor)
    assert [r.remote_id for r in again] == [str(changed)]
    assert again[0].memo == "called the buyer"


def test_a_status_decided_on_the_odbc_read_is_written_through_the_service_layer_with_b1s_etag(
    b1: ServiceLayerSandbox, database: B1Database
) -> None:
    connector = _odbc(b1, database)
    invoices, _ = _read(connector, Stream.INVOICES)
    fresh, stale = sorted(invoices, key=lambda r: int(r.remote_id))[4:6]
    b1.touch("Invoices", int(stale.remote_id), b1.clock() + timedelta(minutes=5), Comments="edited in B1")

    def op(record: Record) -> OutboundOp:
        return OutboundOp(
            f"{record.remote_id:0>64}",
            CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=record.remote_id,
                base_version=record.version,
                collection_status=CollectionStatus.ESCALATED,
                dunning_level=3,
                next_action_date=date(2026, 12, 9),
            ),
        )

    written, refused = connector.write([op(fresh), op(stale)])
    assert written.ok and b1.company.tables["Invoices"][int(fresh.remote_id)]["U_ARB_DunLevel"] == 3
    assert not refused.ok and refused.error is not None and refused.error.kind.value == "conflict"
    assert "U_ARB_DunLevel" not in b1.company.tables["Invoices"][int(stale.remote_id)]
    assert not [
        r for r in b1.requests_log if r["method"] == "GET" and not r["inner"] and r["path"] == "Invoices"
    ]


@pytest.mark.parametrize("stream", list(Stream), ids=[s.value for s in Stream])
def test_the_sql_server_statements_parse_as_tsql_and_read_the_same_rows(
    b1: ServiceLayerSandbox, database: B1Database, stream: Stream
) -> None:
    native = _odbc(b1, database)
    translated = _odbc(b1, database)
    assert translated.sql is not None
    tsql = TranslatedDatabase(translated.sql.db)
    translated.sql.db = tsql

    want, cursor = _read(native, stream)
    got, tsql_cursor = _read(translated, stream)
    assert _comparable(got) == _comparable(want)
    assert any(s.startswith("SELECT TOP (?)") for s in tsql.statements)
    if stream is not Stream.PAYMENTS:
        assert any("CAST(? AS datetime)" in s for s in tsql.statements)
        key = "CardCode" if stream is Stream.CUSTOMERS else "DocEntry"
        entity_set = {Stream.CUSTOMERS: "BusinessPartners", Stream.INVOICES: "Invoices"}.get(
            stream, "CreditNotes"
        )
        first = sorted(
            k
            for k, r in b1.company.tables[entity_set].items()
            if r.get("CardType", "cCustomer") == "cCustomer"
        )[0]
        b1.touch(entity_set, first, b1.clock() + timedelta(hours=2))
        database.load(b1.company)
        again_want, _ = _read(native, stream, cursor)
        again_got, _ = _read(translated, stream, tsql_cursor)
        assert [r.remote_id for r in again_got] == [r.remote_id for r in again_want] == [str(first)], key


def test_check_says_when_the_fast_reads_sql_login_cannot_read_b1s_tables(
    b1: ServiceLayerSandbox, database: B1Database
) -> None:
    assert _odbc(b1, database).check().ok
    no_grant = f"b1_none_{uuid.uuid4().hex[:6]}"
    database.execute(f'CREATE ROLE "{no_grant}" LOGIN')
    try:
        result = connector_for(
            b1,
            read_via="odbc",
            odbc={"connection_string": database.connection_string(user=no_grant), "schema": database.schema},
        ).check()
    finally:
        database.execute(f'DROP ROLE "{no_grant}"')
    assert not result.ok and "SQL login" in result.message and "permission denied" in result.message


def test_a_record_changed_again_within_the_same_second_is_read_again_over_odbc(
    b1: ServiceLayerSandbox, database: B1Database
) -> None:
    # B1 stamps to the second and its tables hold no ETag: only the values tell the change.
    connector = _odbc(b1, database)
    _, cursor = _read(connector, Stream.INVOICES)
    newest = max(
        b1.company.tables["Invoices"].values(),
        key=lambda r: (r["UpdateDate"], r["UpdateTime"], r["DocEntry"]),
    )
    same_second = datetime.strptime(
        f"{newest['UpdateDate'][:10]} {newest['UpdateTime']}", "%Y-%m-%d %H:%M:%S"
    )
    b1.touch("Invoices", newest["DocEntry"], same_second.replace(tzinfo=UTC), Comments="second change")
    database.load(b1.company)
    again, _ = _read(connector, Stream.INVOICES, cursor)
    assert [(r.remote_id, r.memo) for r in again] == [(str(newest["DocEntry"]), "second change")]


def test_a_hana_database_is_refused_with_what_to_set_instead() -> None:
    from connectors.errors import PermanentError
    from connectors.odbc import dialect_for_dbms
    from connectors.sap_business_one.sql_source import SqlSource

    class HanaDatabase:
        @property
        def dialect(self) -> Any:
            return dialect_for_dbms("HDB")  # neither SQL Server nor PostgreSQL, as HANA is

    source = SqlSource(HanaDatabase(), "SBODEMOUS", {})  # type: ignore[arg-type]
    with pytest.raises(PermanentError) as refused:
        source.changed(Stream.INVOICES, None, None, 10)
    assert "read_via: service_layer" in refused.value.message


def test_a_payment_written_through_the_service_layer_is_read_back_over_odbc_with_its_invoice_paid(
    b1: ServiceLayerSandbox, database: B1Database
) -> None:
    from decimal import Decimal

    from mapping.models import Allocation, Invoice, Payment, PaymentApplication

    b1.on_change = lambda: database.load(b1.company)
    connector = _odbc(b1, database)
    invoices, invoice_cursor = _read(connector, Stream.INVOICES)
    _, payment_cursor = _read(connector, Stream.PAYMENTS)
    invoice = next(r for r in invoices if isinstance(r, Invoice) and r.open_amount > 20)
    payment = PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=invoice.customer_remote_id,
        customer_remote_id=invoice.customer_remote_id,
        amount=Decimal("20.00"),
        currency=invoice.currency,
        date=date(2026, 11, 2),
        reference="BANK-4711",
        allocations=[
            Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=Decimal("20.00"))
        ],
    )
    [written] = connector.write([OutboundOp("p" * 64, payment)])
    assert written.ok

    [paid] = [r for r in _read(connector, Stream.INVOICES, invoice_cursor)[0] if isinstance(r, Invoice)]
    assert (paid.remote_id, paid.open_amount) == (invoice.remote_id, invoice.open_amount - Decimal("20.00"))
    [new] = [r for r in _read(connector, Stream.PAYMENTS, payment_cursor)[0] if isinstance(r, Payment)]
    assert new.remote_id == written.remote_id and new.raw["U_ARB_OutboxKey"] == "p" * 64
    assert [(a.target_id, a.amount) for a in new.allocations] == [(invoice.remote_id, Decimal("20.00"))]


def test_rows_without_an_update_day_become_rejects_and_the_odbc_read_goes_on(
    b1: ServiceLayerSandbox, database: B1Database
) -> None:
    undated = sorted(b1.company.tables["Invoices"])[:5]
    for entry in undated:
        b1.company.tables["Invoices"][entry]["UpdateDate"] = None
    database.load(b1.company)
    pages = list(_odbc(b1, database).read(Stream.INVOICES, None))
    rejected = [j.remote_id for p in pages for j in p.rejects]
    read = [r.remote_id for p in pages for r in p.records]
    assert sorted(rejected, key=int) == [str(e) for e in undated]
    assert sorted(read + rejected, key=int) == [str(e) for e in sorted(b1.company.tables["Invoices"])]
