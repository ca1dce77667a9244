"""Data sets for the GP sandbox: ``demo`` (a small company to look at), ``empty``, ``large``.

Documents are dated relative to today so some are overdue; ``DEX_ROW_TS`` lies in the past, as in
a company that has been running for a while. Amounts are in the functional currency (``Z-US$``, as
GP's sample company names it). ``large`` is generated set-based on the server (``generate_series``),
so a million invoices take seconds, not an hour of single inserts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandboxes.dynamics_gp.ddl import blank_sql, quote

if TYPE_CHECKING:
    from sandboxes.dynamics_gp.database import GpSandbox

__all__ = ["CURRENCY", "SEEDS", "demo", "empty", "large"]

CURRENCY = "Z-US$"
_CUSTOMERS = [
    ("AARONFIT0001", "Aaron Fitz Electrical", "USA", "Net 30"),
    ("ADAMPARK0001", "Adam Park Resort", "USA", "Net 30"),
    ("ADVANCED0001", "Advanced Paper Co.", "USA", "2% 10/Net 30"),
    ("ALTONMAN0001", "Alton Manufacturing", "USA", "Net 60"),
    ("AMERICAN0001", "American Electrical Contractor", "USA", "Net 30"),
    ("ASSOCIAT0001", "Associated Insurance Company", "USA", "Net 30"),
    ("ATMORERE0001", "Atmore Retirement Center", "USA", "Net 15"),
    ("BAKERSEM0001", "Baker's Emporium Inc.", "USA", "Net 30"),
    ("BERLINER0001", "Berliner Elektro GmbH", "Germany", "Net 30"),
    ("BREAKTHR0001", "Breakthrough Telemarketing", "USA", "Net 30"),
]


def _stamp(days_ago: float) -> datetime:
    return (datetime.now(UTC) - timedelta(days=days_ago)).replace(tzinfo=None, microsecond=0)


def _day(days_ago: int) -> datetime:
    return datetime.combine(date.today() - timedelta(days=days_ago), datetime.min.time())


def empty(sandbox: GpSandbox, **_: Any) -> None:
    """Tables and procedures only."""


def _address(number: str, country: str) -> dict[str, str]:
    """A primary address in the customer's country (RM00101's address columns)."""
    house = 100 + sum(map(ord, number)) % 800
    if country == "Germany":
        return {"ADDRESS1": f"Hafenstrasse {house % 90 + 1}", "CITY": "Hamburg", "STATE": "", "ZIP": "20457"}
    return {"ADDRESS1": f"{house} Main Street", "ADDRESS2": "Suite 200", "CITY": "Redmond", "STATE": "WA",
            "ZIP": "98052-6399"}  # fmt: skip


def _customer_row(number: str, name: str, country: str, terms: str, days_ago: float) -> dict[str, Any]:
    return {
        "CUSTNMBR": number,
        "CUSTNAME": name,
        "STMTNAME": name,
        "SHRTNAME": name[:15],
        "COUNTRY": country,
        "PHONE1": "42555501010000",
        **_address(number, country),
        "PYMTRMID": terms,
        "CURNCYID": CURRENCY,
        "CRLMTTYP": 2,
        "CRLMTAMT": Decimal("50000"),
        "ADRSCODE": "PRIMARY",
        "CREATDDT": _day(900),
        "MODIFDT": _day(int(days_ago)),
        "DEX_ROW_TS": _stamp(days_ago),
    }


def _document(
    customer: str, doc_type: int, number: str, amount: Decimal, issued: int, due_in: int, stamp: float
) -> dict[str, Any]:
    return {
        "CUSTNMBR": customer,
        "DOCNUMBR": number,
        "RMDTYPAL": doc_type,
        "BACHNUMB": "RMSLS" + ("" if doc_type != 9 else "CASH"),
        "DOCDATE": _day(issued),
        "DUEDATE": _day(issued - due_in),
        "POSTDATE": _day(issued),
        "GLPOSTDT": _day(issued),
        "ORTRXAMT": amount,
        "CURTRXAM": amount,
        "SLSAMNT": amount if doc_type in (1, 3) else Decimal(0),
        "CURNCYID": CURRENCY,
        "TRXDSCRN": {
            1: "Sales",
            3: "Debit memo",
            4: "Finance charge",
            7: "Credit memo",
            8: "Return",
            9: "Payment",
        }[doc_type],
        "PYMTRMID": "Net 30",
        "CSHRCTYP": 0,
        "CHEKNMBR": f"CHK{number[-4:]}" if doc_type == 9 else "",
        "DEX_ROW_TS": _stamp(stamp),
    }


def demo(sandbox: GpSandbox, **_: Any) -> None:
    """Ten customers, 40 invoices (a third overdue), credit memos, payments applied in GP, history."""
    sandbox.insert("RM00101", [_customer_row(*c, days_ago=30 + i) for i, c in enumerate(_CUSTOMERS)])
    invoices = []
    for i in range(40):
        customer = _CUSTOMERS[i % len(_CUSTOMERS)][0]
        amount = Decimal(250 + (i * 137) % 4000) + Decimal("0.50") * (i % 2)
        doc_type = 1 if i % 10 not in (7, 9) else (3 if i % 10 == 7 else 4)
        prefix = {1: "STDINV", 3: "DM", 4: "FIN"}[doc_type]
        invoices.append(
            _document(customer, doc_type, f"{prefix}{2000 + i}", amount, 5 + (i * 7) % 100, 30, 20 - i * 0.3)
        )
    credits = [
        _document(
            _CUSTOMERS[i][0], 7 if i % 2 == 0 else 8, f"CM{1000 + i}", Decimal(75 + 40 * i), 12 + i, 0, 10 - i
        )
        for i in range(5)
    ]
    sandbox.insert("RM20101", invoices + credits)
    # A history: invoices paid in full last year and moved out of the open table.
    history = [
        {
            **_document(
                _CUSTOMERS[i][0], 1, f"STDINV{1000 + i}", Decimal(500 + i * 10), 400 + i, 30, 300 + i
            ),
            "CURTRXAM": 0,
        }
        for i in range(6)
    ]
    sandbox.insert("RM30101", history)
    # Payments entered in GP: some applied in full, some in part, one not applied at all.
    for i in range(8):
        customer = _CUSTOMERS[i % len(_CUSTOMERS)][0]
        invoice = invoices[i + 10 * (i % 2)]
        part = (invoice["ORTRXAMT"] / (1 if i % 3 == 0 else 2)).quantize(Decimal("0.01"))
        applies = [(invoice["RMDTYPAL"], invoice["DOCNUMBR"], part)] if i != 6 else []
        sandbox.post_payment(
            customer,
            f"PYMNT{3000 + i}",
            part + (Decimal(0) if applies else Decimal(150)),
            date.today() - timedelta(days=3 + i),
            applies,
        )
    sandbox.void(1, invoices[-2]["DOCNUMBR"])


def _insert_select(sandbox: GpSandbox, table: str, values: dict[str, str], source: str) -> None:
    columns = [c for c in sandbox.vendor.tables[table].columns if not c.identity]
    names = ", ".join(quote(c.name) for c in columns)
    exprs = ", ".join(values.get(c.name, blank_sql(c)) for c in columns)
    sandbox.execute(f"INSERT INTO {sandbox.t(table)} ({names}) SELECT {exprs} FROM {source}")


def large(sandbox: GpSandbox, *, invoices: int | None = None, **_: Any) -> None:
    """``invoices`` invoices (default 5,000) for a tenth as many customers; a payment for every 20th."""
    n = 5_000 if invoices is None else invoices
    customers = max(10, n // 10)
    today = "CAST(CURRENT_DATE AS timestamp)"
    _insert_select(
        sandbox,
        "RM00101",
        {
            "CUSTNMBR": "'C' || lpad(g::text, 7, '0')",
            "CUSTNAME": "'Customer ' || g",
            "STMTNAME": "'Customer ' || g",
            "COUNTRY": "'USA'",
            "PYMTRMID": "'Net 30'",
            "CURNCYID": f"'{CURRENCY}'",
            "CRLMTAMT": "100000",
            "CREATDDT": f"{today} - interval '900 days'",
            "MODIFDT": f"{today} - interval '60 days'",
            "DEX_ROW_TS": "TIMESTAMP '2025-01-01' + g * interval '1 second'",
        },
        f"generate_series(1, {customers}) AS g",
    )
    amount = "(100 + (g::bigint * 7919) % 9900)::numeric(19,5) + ((g % 100)::numeric / 100)"
    _insert_select(
        sandbox,
        "RM20101",
        {
            "CUSTNMBR": f"'C' || lpad((1 + g % {customers})::text, 7, '0')",
            "DOCNUMBR": "'INV' || lpad(g::text, 9, '0')",
            "RMDTYPAL": "1",
            "BACHNUMB": "'RMSLS'",
            "DOCDATE": f"{today} - (g % 180) * interval '1 day'",
            "DUEDATE": f"{today} - (g % 180) * interval '1 day' + interval '30 days'",
            "POSTDATE": f"{today} - (g % 180) * interval '1 day'",
            "GLPOSTDT": f"{today} - (g % 180) * interval '1 day'",
            "ORTRXAMT": amount,
            "CURTRXAM": amount,
            "SLSAMNT": amount,
            "CURNCYID": f"'{CURRENCY}'",
            "TRXDSCRN": "'Sales'",
            "PYMTRMID": "'Net 30'",
            "DEX_ROW_TS": "TIMESTAMP '2025-06-01' + g * interval '2 seconds'",
        },
        f"generate_series(1, {n}) AS g",
    )
    payments = n // 20
    if payments:
        pay = "(50 + (g::bigint * 20 * 7919) % 50)::numeric(19,5)"
        _insert_select(
            sandbox,
            "RM20101",
            {
                "CUSTNMBR": f"'C' || lpad((1 + (g * 20) % {customers})::text, 7, '0')",
                "DOCNUMBR": "'PMT' || lpad(g::text, 9, '0')",
                "RMDTYPAL": "9",
                "BACHNUMB": "'RMCASH'",
                "BCHSOURC": "'RM_Cash'",
                "DOCDATE": f"{today} - (g % 60) * interval '1 day'",
                "DUEDATE": f"{today} - (g % 60) * interval '1 day'",
                "POSTDATE": f"{today} - (g % 60) * interval '1 day'",
                "GLPOSTDT": f"{today} - (g % 60) * interval '1 day'",
                "ORTRXAMT": pay,
                "CURTRXAM": "0",
                "CASHAMNT": pay,
                "CHEKNMBR": "'CHK' || g",
                "CURNCYID": f"'{CURRENCY}'",
                "TRXDSCRN": "'Payment'",
                "DEX_ROW_TS": "TIMESTAMP '2026-01-01' + g * interval '3 seconds'",
            },
            f"generate_series(1, {payments}) AS g",
        )
        _insert_select(
            sandbox,
            "RM20201",
            {
                "CUSTNMBR": f"'C' || lpad((1 + (g * 20) % {customers})::text, 7, '0')",
                "DATE1": f"{today} - (g % 60) * interval '1 day'",
                "GLPOSTDT": f"{today} - (g % 60) * interval '1 day'",
                "POSTED": "1",
                "APTODCNM": "'INV' || lpad((g * 20)::text, 9, '0')",
                "APTODCTY": "1",
                "APTODCDT": f"{today} - ((g * 20) % 180) * interval '1 day'",
                "CURNCYID": f"'{CURRENCY}'",
                "APPTOAMT": pay,
                "ORAPTOAM": pay,
                "APFRDCNM": "'PMT' || lpad(g::text, 9, '0')",
                "APFRDCTY": "9",
                "FROMCURR": f"'{CURRENCY}'",
                "APFRMAPLYAMT": pay,
                "ActualApplyToAmount": pay,
            },
            f"generate_series(1, {payments}) AS g",
        )
        # Applied long ago: the invoices keep their old stamps (GP's trigger is off while seeding).
        trigger = quote("zDT_RM20101U")
        sandbox.execute(f"ALTER TABLE {sandbox.t('RM20101')} DISABLE TRIGGER {trigger}")
        sandbox.execute(
            f'UPDATE {sandbox.t("RM20101")} AS d SET "CURTRXAM" = d."CURTRXAM" - a."APPTOAMT" '
            f'FROM {sandbox.t("RM20201")} AS a WHERE d."RMDTYPAL" = 1 AND d."DOCNUMBR" = a."APTODCNM"'
        )
        sandbox.execute(f"ALTER TABLE {sandbox.t('RM20101')} ENABLE TRIGGER {trigger}")


SEEDS: dict[str, Callable[..., None]] = {"demo": demo, "empty": empty, "large": large}
