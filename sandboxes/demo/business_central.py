"""The demo's Business Central: the OData v4 sandbox, its company kept in the demo's state folder.

The company is reached through the on-premises layout (a web-service access key), so the demo
needs no Entra ID app. ``--resume`` restores the company as the first run left it (the collection
statuses written back, the payments posted), then simulates a day in BC: a customer pays part of
an open invoice through the cash receipt journal.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandboxes.business_central import BusinessCentralSandbox
from sandboxes.demo import DemoERP

_TABLES = (
    "name",
    "id",
    "customers",
    "entries",
    "invoices",
    "credit_memos",
    "journals",
    "journal_lines",
    "applications",
    "balances",
)
_COUNTERS = ("_versions", "_entry_numbers", "_payment_numbers")


def _save(sandbox: BusinessCentralSandbox, path: Path) -> None:
    company = sandbox.company
    with company.lock:
        state: dict[str, Any] = {name: getattr(company, name) for name in _TABLES}
        state["counters"] = {name: next(getattr(company, name)) for name in _COUNTERS}
        data = pickle.dumps(state)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _restore(sandbox: BusinessCentralSandbox, path: Path) -> None:
    # The file is one the demo itself wrote into its own state folder.
    state: dict[str, Any] = pickle.loads(path.read_bytes())
    company = sandbox.company
    with company.lock:
        for name in _TABLES:
            setattr(company, name, state[name])
        for name, value in state["counters"].items():
            setattr(company, name, itertools.count(value))


def _simulate_a_day(sandbox: BusinessCentralSandbox) -> str:
    company = sandbox.company
    journal = next(j for j in company.journals.values() if j["code"] == "GENERAL")
    entries = sorted(company.entries.values(), key=lambda e: e["entryNumber"])
    for entry in entries:
        if (
            entry["documentType"] == "Invoice"
            and entry["open"]
            and entry["remainingAmount"] == entry["amount"]
        ):
            part = (entry["remainingAmount"] / 4).quantize(Decimal("0.01"))
            with company.lock:
                company.add_payment_line(
                    journal,
                    {
                        "customerId": entry["customerId"],
                        "amount": part,
                        "appliesToInvoiceNumber": entry["documentNumber"],
                        "externalDocumentNumber": "BANK-DEMO",
                        "description": f"Payment {entry['documentNumber']}",
                    },
                )
                company.post_journal(journal)
            return (
                f"customer {entry['customerNumber']} paid {part} {entry['currencyCode']} "
                f"of invoice {entry['documentNumber']}"
            )
    return "nothing open to pay"


@contextmanager
def local_erp(state_dir: Path, *, resume: bool, echo: Callable[[str], None]) -> Iterator[DemoERP]:
    snapshot = state_dir / "business-central-sandbox.pickle"
    restoring = resume and snapshot.exists()
    sandbox = BusinessCentralSandbox(seed="empty" if restoring else "demo", notification_delay=0)
    if restoring:
        _restore(sandbox, snapshot)
    sandbox.start()
    try:
        if restoring:
            echo(f"Simulated ERP activity: {_simulate_a_day(sandbox)}")
        yield DemoERP(
            kind="business_central",
            name="Business Central",
            connection={
                "name": "demo-bc",
                "connector": "business_central",
                "settings": {
                    "deployment": "on_premises",
                    "server_url": sandbox.onprem_api_url,
                    "username": sandbox.web_service_user,
                    "web_service_key": sandbox.web_service_key,
                    "company": sandbox.company.name,
                },
                "write_back": {"enabled": True},
            },
            describe=f"Business Central OData v4 sandbox at {sandbox.onprem_api_url} "
            f"(company {sandbox.company.name}, with the arbridge extension's pages)",
            where_written="the sandbox's ledger entries (collection status, dunning level) and the "
            f"payments posted through journal ARBRIDGE, saved in {snapshot}",
        )
    finally:
        sandbox.stop()
        _save(sandbox, snapshot)
