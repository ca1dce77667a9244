"""The demo's SAP S/4HANA: the local sandbox, its company kept between demo runs in the state folder.

``--resume`` restores the company as the first run left it (the dunning levels written back, the
payments posted), then simulates a day in SAP: a customer pays part of an invoice, and the
scheduled automatic clearing runs, closing the invoices the first run's payments carried.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandboxes.demo import DemoERP
from sandboxes.sap_s4hana.seed import BANK_GL, post_payment
from sandboxes.sap_s4hana.server import S4Sandbox


def _save(sandbox: S4Sandbox, path: Path) -> None:
    book = sandbox.book
    with book.lock:
        state: dict[str, Any] = {
            "tables": book.tables,
            "etags": book.etags,
            "company_codes": book.company_codes,
            "journal": book.journal,
            "numbers": {key: next(counter) for key, counter in book._numbers.items()},
        }
        data = pickle.dumps(state)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _restore(sandbox: S4Sandbox, path: Path) -> None:
    # The file is one the demo itself wrote into its own state folder.
    state: dict[str, Any] = pickle.loads(path.read_bytes())
    book = sandbox.book
    with book.lock:
        book.tables = state["tables"]
        book.etags = state["etags"]
        book.company_codes = state["company_codes"]
        book.journal = state["journal"]
        book._numbers = {key: itertools.count(value) for key, value in state["numbers"].items()}


def _simulate_a_day(sandbox: S4Sandbox) -> str:
    book = sandbox.book
    for (cc, year, doc, item), row in sorted(book.open_items()):
        if row["DebitCreditCode"] == "S" and row["AccountingDocumentType"] == "DR":
            part = (abs(row["AmountInTransactionCurrency"]) / 4).quantize(Decimal("0.01"))
            post_payment(
                book,
                row["Customer"],
                cc,
                part,
                book.today(),
                assignment=row["AssignmentReference"],
                invoice=(cc, year, doc, item),
            )
            cleared = sandbox.run_automatic_clearing()
            return (
                f"customer {row['Customer']} paid {part} {row['TransactionCurrency']} of invoice {doc}; "
                f"automatic clearing closed {sum(len(v) for v in cleared.documents.values())} item(s)"
            )
    return "nothing open to pay"


@contextmanager
def local_erp(state_dir: Path, *, resume: bool, echo: Callable[[str], None]) -> Iterator[DemoERP]:
    snapshot = state_dir / "sap-s4hana-sandbox.pickle"
    restoring = resume and snapshot.exists()
    sandbox = S4Sandbox(seed="empty" if restoring else "demo")
    if restoring:
        _restore(sandbox, snapshot)
    sandbox.start()
    try:
        if restoring:
            echo(f"Simulated ERP activity: {_simulate_a_day(sandbox)}")
        user, password = next(iter(sandbox.users.items()))
        yield DemoERP(
            kind="sap-s4hana",
            connection={
                "name": "demo-sap",
                "connector": "sap-s4hana",
                "settings": {
                    "base_url": sandbox.base_url,
                    "username": user,
                    "password": password,
                    "company_codes": sorted(sandbox.book.company_codes),
                    "bank_gl_account": BANK_GL,
                },
                "write_back": {"enabled": True},
            },
            describe=f"SAP S/4HANA sandbox at {sandbox.base_url} (company codes "
            f"{', '.join(sorted(sandbox.book.company_codes))})",
            where_written=f"A_CustomerDunning and the journal of the sandbox, saved in {snapshot}",
        )
    finally:
        sandbox.stop()
        _save(sandbox, snapshot)
