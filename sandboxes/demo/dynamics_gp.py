"""The demo's Dynamics GP: a GP company in the local PostgreSQL, reached through its ODBC driver.

The company lives in its own database (named after the state folder), so it is kept between demo
runs as a real GP company is. ``--resume`` simulates a day in GP: a customer pays part of an open
invoice, entered and applied through the eConnect stand-ins.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyodbc

from sandboxes.demo import DemoERP
from sandboxes.dynamics_gp import GpSandbox, OdbcDriverMissing
from sandboxes.specs import SpecsNotFound

SERVER = os.environ.get("ARBRIDGE_DEMO_PG", "postgresql://postgres@127.0.0.1:5432")


def _simulate_a_day(sandbox: GpSandbox) -> str:
    rows = sandbox.rows(
        f'SELECT "CUSTNMBR", "DOCNUMBR", "CURTRXAM" FROM {sandbox.t("RM20101")} '
        'WHERE "RMDTYPAL" = 1 AND "CURTRXAM" > 40 ORDER BY "DOCNUMBR"'
    )
    if not rows:
        return "nothing open to pay"
    customer, number, remaining = rows[0][0].rstrip(), rows[0][1].rstrip(), Decimal(rows[0][2])
    part = (remaining / 4).quantize(Decimal("0.01"))
    taken = {
        n.rstrip()
        for (n,) in sandbox.rows(f'SELECT "DOCNUMBR" FROM {sandbox.t("RM20101")} WHERE "RMDTYPAL" = 9')
    }
    receipt = next(f"PYMNT{4000 + i}" for i in range(10_000) if f"PYMNT{4000 + i}" not in taken)
    sandbox.post_payment(customer, receipt, part, date.today(), [(1, number, part)])
    return f"customer {customer} paid {part} of invoice {number} (cash receipt {receipt}, applied in GP)"


def names_for(state_dir: Path) -> tuple[str, str]:
    """The database and the login of the demo company kept for a state folder."""
    tag = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:10]
    return f"arbridge_demo_gp_{tag}", f"arbridge_demo_{tag}"


@contextmanager
def local_erp(state_dir: Path, *, resume: bool, echo: Callable[[str], None]) -> Iterator[DemoERP]:
    database, login = names_for(state_dir)
    try:
        sandbox = GpSandbox.from_url(f"{SERVER}/{database}")
        restoring = resume and _holds_a_company(sandbox)
        if restoring:
            echo(f"Simulated ERP activity: {_simulate_a_day(sandbox)}")
        else:
            sandbox.create("demo")
            sandbox.create_login(login)
    except (OdbcDriverMissing, SpecsNotFound) as exc:
        raise SystemExit(f"arbridge demo --erp dynamics-gp: {exc}") from None
    except pyodbc.Error as exc:
        raise SystemExit(
            f"arbridge demo --erp dynamics-gp needs the PostgreSQL server at {SERVER} "
            f"(set ARBRIDGE_DEMO_PG to another): {' '.join(str(exc).split())[:300]}"
        ) from None
    try:
        yield DemoERP(
            kind="dynamics-gp",
            connection={
                "name": "demo-gp",
                "connector": "dynamics-gp",
                "settings": {
                    "connection_string": sandbox.connection_string(user=login),
                    "schema": sandbox.schema,
                    "currencies": {"Z-US$": "USD"},
                },
                "write_back": {"enabled": True},
            },
            describe=f"Dynamics GP company in PostgreSQL database {database} over ODBC ({sandbox.driver}), "
            "eConnect stand-ins",
            where_written=f"the customers' USERDEF1 and the cash receipts and applications of {database}.dbo",
        )
    finally:
        sandbox.close()


def _holds_a_company(sandbox: GpSandbox) -> bool:
    try:
        return bool(sandbox.rows(f"SELECT COUNT(*) FROM {sandbox.t('RM00101')}")[0][0])
    except pyodbc.Error:
        return False
