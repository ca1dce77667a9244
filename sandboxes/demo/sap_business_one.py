"""The demo's SAP Business One: the Service Layer sandbox, its company kept in the demo's state folder.

The first run creates arbridge's user-defined fields as ``arbridge setup sap-business-one`` would.
``--resume`` restores the company as the first run left it (the statuses written back, the
payments posted), then simulates a day in B1: a customer pays part of an open invoice.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandboxes.demo import DemoERP
from sandboxes.sap_business_one import ServiceLayerSandbox

TRANSFER_ACCOUNT = "_SYS00000000103"
FIELDS = [
    ("OINV", "ARB_CollStatus", "db_Alpha", 30),
    ("OINV", "ARB_DunLevel", "db_Numeric", 2),
    ("OINV", "ARB_NextAction", "db_Date", None),
    ("OCRD", "ARB_CollStatus", "db_Alpha", 30),
    ("OCRD", "ARB_DunLevel", "db_Numeric", 2),
    ("OCRD", "ARB_NextAction", "db_Date", None),
    ("ORCT", "ARB_OutboxKey", "db_Alpha", 64),
    ("OCLG", "ARB_OutboxKey", "db_Alpha", 64),
]


def _save(sandbox: ServiceLayerSandbox, path: Path) -> None:
    company = sandbox.company
    with company.lock:
        data = pickle.dumps({"tables": company.tables, "udfs": company.udfs, "next": company._next_entry})
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _restore(sandbox: ServiceLayerSandbox, path: Path) -> None:
    # The file is one the demo itself wrote into its own state folder.
    state: dict[str, Any] = pickle.loads(path.read_bytes())
    company = sandbox.company
    with company.lock:
        # A state saved before the sandbox held activities lacks them: start those empty.
        company.tables = {**company.tables, **state["tables"]}
        company._next_entry = {**company._next_entry, **state["next"]}
        company.udfs = state["udfs"]
        have = {(u["TableName"], u["Name"]) for u in company.udfs}
        for table, name, kind, size in FIELDS:
            if (table, name) not in have:
                company.add_udf({"TableName": table, "Name": name, "Type": kind, "Size": size})


def _simulate_a_day(sandbox: ServiceLayerSandbox) -> str:
    company = sandbox.company
    for doc in sorted(company.tables["Invoices"].values(), key=lambda d: d["DocEntry"]):
        if doc["DocumentStatus"] == "bost_Open" and doc["PaidToDate"] == 0:
            part = round(doc["DocTotal"] / 4, 2)
            with company.lock:
                company.add_payment(
                    {
                        "CardCode": doc["CardCode"],
                        "TransferSum": part,
                        "TransferAccount": TRANSFER_ACCOUNT,
                        "TransferReference": "BANK-DEMO",
                        "DocCurrency": doc["DocCurrency"],
                        "PaymentInvoices": [
                            {"DocEntry": doc["DocEntry"], "SumApplied": part, "InvoiceType": "it_Invoice"}
                        ],
                    }
                )
            return f"customer {doc['CardCode']} paid {part} {doc['DocCurrency']} of invoice {doc['DocNum']}"
    return "nothing open to pay"


@contextmanager
def local_erp(state_dir: Path, *, resume: bool, echo: Callable[[str], None]) -> Iterator[DemoERP]:
    snapshot = state_dir / "sap-business-one-sandbox.pickle"
    restoring = resume and snapshot.exists()
    sandbox = ServiceLayerSandbox(seed="empty" if restoring else "demo")
    if restoring:
        _restore(sandbox, snapshot)
    else:
        for table, name, kind, size in FIELDS:
            sandbox.company.add_udf({"TableName": table, "Name": name, "Type": kind, "Size": size})
    sandbox.start()
    try:
        if restoring:
            echo(f"Simulated ERP activity: {_simulate_a_day(sandbox)}")
        yield DemoERP(
            kind="sap-business-one",
            name="SAP Business One",
            connection={
                "name": "demo-b1",
                "connector": "sap-business-one",
                "settings": {
                    "service_url": sandbox.service_root,
                    "company_db": sandbox.company_db,
                    "username": sandbox.user,
                    "password": sandbox.password,
                    "transfer_account": TRANSFER_ACCOUNT,
                },
                "write_back": {"enabled": True},
            },
            describe=f"SAP Business One Service Layer sandbox at {sandbox.service_root} "
            f"(company {sandbox.company_db})",
            where_written=f"the sandbox's user-defined fields and incoming payments, saved in {snapshot}",
        )
    finally:
        sandbox.stop()
        _save(sandbox, snapshot)
