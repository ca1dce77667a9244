"""The SQL Server form of every statement: valid T-SQL, and the same rows as PostgreSQL's form."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlglot

from connectors.base import OutboundOp
from connectors.dynamics_gp.connector import _fieldmap
from connectors.dynamics_gp.reader import GpReader
from connectors.dynamics_gp.writer import GpWriter
from connectors.odbc import MSSQL, POSTGRESQL
from mapping.models import Allocation, PaymentApplication, Stream, TargetType
from sandboxes.dynamics_gp import GpSandbox
from tests.connectors.dynamics_gp.conftest import connector_for
from tests.connectors.odbc.translated import TranslatedDatabase, translate


def _reader(connector: Any, db: Any, page_size: int = 3) -> GpReader:
    return GpReader(
        db,
        connector.settings.schema_name,
        _fieldmap(connector.settings, {}),
        page_size=page_size,
        overlap=timedelta(minutes=5),
        reconcile_every=None,
    )


def _read_all(reader: GpReader, stream: Stream, cursor: Any = None) -> tuple[list[str], Any]:
    pages = list(reader.read(stream, cursor))
    return [r.remote_id for p in pages for r in p.records], pages[-1].cursor if pages else cursor


@pytest.mark.parametrize("stream", list(Stream), ids=[s.value for s in Stream])
def test_sql_server_keyset_reads_return_exactly_what_postgresql_reads(
    gp: GpSandbox, login: str, stream: Stream
) -> None:
    connector = connector_for(gp, login)
    native = _reader(connector, connector.db)
    translated_db = TranslatedDatabase(connector.db)
    translated = _reader(connector, translated_db)

    want, cursor = _read_all(native, stream)
    got, tsql_cursor = _read_all(translated, stream)
    assert got == want and len(want) >= 5

    # Incremental reads (DEX_ROW_TS and the key, CAST(? AS datetime)) after users changed rows.
    table = "RM00101" if stream is Stream.CUSTOMERS else "RM20101"
    column = "COMMENT2" if stream is Stream.CUSTOMERS else "TRXDSCRN"
    gp.execute(f"UPDATE {gp.t(table)} SET \"{column}\" = 'changed'")
    want_changed, _ = _read_all(native, stream, cursor)
    got_changed, _ = _read_all(translated, stream, tsql_cursor)
    assert got_changed == want_changed and want_changed
    assert any("CAST(? AS datetime)" in s for s in translated_db.statements)
    assert any(s.startswith("SELECT TOP (?)") for s in translated_db.statements)


def test_every_statement_of_the_gp_connector_parses_as_tsql(gp: GpSandbox, login: str) -> None:
    connector = connector_for(gp, login)
    translated_db = TranslatedDatabase(connector.db)
    reader = _reader(connector, translated_db, page_size=2)
    for stream in Stream:
        _, cursor = _read_all(reader, stream)
        gp.execute(f"UPDATE {gp.t('RM20101')} SET \"TRXDSCRN\" = 'x'")
        _read_all(reader, stream, cursor)
        reader.fetch(stream, "AARONFIT0001" if stream is Stream.CUSTOMERS else "1:STDINV2000")

    batches: list[str] = []

    class Cursor:
        description = (("O_iErrorState",), ("oErrString",))

        def execute(self, sql: str, *params: Any) -> None:
            assert sql.count("?") == len(params), sql
            batches.append(sql)

        def fetchone(self) -> tuple[int, str]:
            return (0, "")

        def nextset(self) -> bool:
            return False

    writer = GpWriter(translated_db, connector.settings)
    for procedure, params in {
        "taRMCashReceiptInsert": {"@I_vCUSTNMBR": "AARONFIT0001", "@I_vORTRXAMT": Decimal("1")},
        "taRMApply": {"@I_vAPTODCNM": "STDINV2000", "@I_vAPPTOAMT": Decimal("1")},
        "taUpdateCreateCustomerRcd": {"@I_vCUSTNMBR": "AARONFIT0001", "@I_vUSERDEF1": "ESCALATED"},
    }.items():
        writer.econnect(Cursor(), procedure, params, "key")  # type: ignore[arg-type]

    statements = translated_db.statements + batches
    assert len(statements) > 20
    for sql in statements:
        parsed = sqlglot.parse(sql, read="tsql")
        assert parsed and all(p is not None for p in parsed), sql
    assert all(
        b.startswith("SET NOCOUNT ON; DECLARE @O_iErrorState int, @oErrString varchar(255); EXEC")
        for b in batches
    )
    assert all("@O_iErrorState = @O_iErrorState OUTPUT" in b for b in batches)


def test_a_malformed_statement_does_not_pass_as_tsql() -> None:
    with pytest.raises(sqlglot.ParseError):
        translate("SELECT TOP (?) FROM WHERE")


def test_keyset_predicates_of_both_dialects_select_the_same_rows(gp: GpSandbox, login: str) -> None:
    # Keys that differ only in padding, case and punctuation, and rows that share one stamp.
    gp.insert(
        "RM00101",
        [
            {"CUSTNMBR": number, "CUSTNAME": number, "CURNCYID": "Z-US$"}
            for number in ("A", "A A", "A-1", "AB", "a", "Z", "ZZZZZZZZZZZZZZZ")
        ],
    )
    gp.execute(f"UPDATE {gp.t('RM00101')} SET \"COMMENT1\" = 'same stamp'")
    connector = connector_for(gp, login)
    keys = ["DEX_ROW_TS", "CUSTNMBR"]
    rows = connector.db.query(
        f'SELECT "DEX_ROW_TS", "CUSTNMBR" FROM {gp.t("RM00101")} ORDER BY "DEX_ROW_TS", "CUSTNMBR"',
        (),
        what="t",
    )
    assert len({r[0] for r in rows}) == 1
    for position in [tuple(v.rstrip() if isinstance(v, str) else v for v in r) for r in rows]:
        chosen = {}
        for dialect in (POSTGRESQL, MSSQL):
            sql = dialect.select(
                ["CUSTNMBR"],
                dialect.table(gp.schema, "RM00101"),
                where=[dialect.after(keys, ["datetime", ""])],
                order_by=keys,
            )
            params = dialect.after_params(position)
            run = translate(sql) if dialect is MSSQL else sql
            chosen[dialect.name] = [r[0].rstrip() for r in connector.db.query(run, params, what="t")]
        assert chosen["mssql"] == chosen["postgresql"]
        assert position[1] not in chosen["mssql"]


def test_a_payment_written_through_sql_server_statements_lands_once(gp: GpSandbox, login: str) -> None:
    connector = connector_for(gp, login)
    translated_db = TranslatedDatabase(connector.db)
    writer = GpWriter(translated_db, connector.settings)
    before = _open_amount(gp, "STDINV2001")
    op = PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id="ADAMPARK0001",
        customer_remote_id="ADAMPARK0001",
        amount=Decimal("10.00"),
        currency="USD",
        date=date.today(),
        allocations=[
            Allocation(target_type=TargetType.INVOICE, target_id="1:STDINV2001", amount=Decimal("10.00"))
        ],
    )
    item = OutboundOp("tsql-key", op)
    found = writer.find(item)
    assert found is not None and not found.ok

    first, again = writer.write(item), writer.write(item)

    assert first.ok and not first.duplicate, first.error
    assert again.ok and again.duplicate
    assert _open_amount(gp, "STDINV2001") == before - Decimal("10.00")
    assert gp.calls("tsql-key", "taRMCashReceiptInsert") == 1 and gp.calls("tsql-key", "taRMApply") == 1
    assert any(s.startswith("SET NOCOUNT ON;") and "[taRMApply]" in s for s in translated_db.statements)


def _open_amount(gp: GpSandbox, number: str) -> Decimal:
    return Decimal(gp.rows(f'SELECT "CURTRXAM" FROM {gp.t("RM20101")} WHERE "DOCNUMBR" = ?', number)[0][0])
