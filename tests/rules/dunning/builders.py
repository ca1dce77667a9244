"""Builders for the dunning tests: customers, invoices and policies in a few words, and output readers."""

from __future__ import annotations

import copy
import re
import socket
import zlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from mapping.models import CreditMemo, Customer, Invoice
from rules.dunning import DunningPolicy, HistoryEntry, PlannedAction, Skip, plan

# A Monday, 11:00 in Berlin.
AS_OF = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

BASE_POLICY: dict[str, Any] = {
    "default_policy": "std",
    "default_time_zone": "Europe/Berlin",
    # Tests that are not about the contact window send at once on every channel.
    "contact_window": {"channels": []},
    "payment": {"reference": "{customer_id}-{currency}", "link": "https://pay.example.com/{reference}"},
    "sender": {"name": "Example Supplies Ltd", "address": ["1 Harbour Road", "Bristol"]},
    "policies": {
        "std": {
            "levels": [
                {"name": "first reminder", "days_overdue": 7, "channels": ["email", "letter"]},
                {
                    "name": "second reminder",
                    "days_overdue": 21,
                    "min_gap_days": 10,
                    "channels": ["email", "letter"],
                    "fee": {"EUR": "5.00", "USD": "6.00"},
                },
                {
                    "name": "final notice",
                    "days_overdue": 45,
                    "min_gap_days": 14,
                    "channels": ["letter"],
                    "template": "final",
                    "status": "escalated",
                },
            ]
        }
    },
}


def make_policy(**changes: Any) -> DunningPolicy:
    """The base policy with top-level keys replaced and ``std__KEY`` keys replacing policy fields."""
    data = copy.deepcopy(BASE_POLICY)
    for key, value in changes.items():
        if key.startswith("std__"):
            data["policies"]["std"][key[5:]] = value
        else:
            data[key] = value
    return DunningPolicy.model_validate(data)


def customer(cid: str = "C1", **kw: Any) -> Customer:
    data: dict[str, Any] = {
        "remote_id": cid,
        "name": f"Customer {cid}",
        "email": f"ap@{cid.lower()}.example",
        "phone": "+49 30 1234567",
        "time_zone": "Europe/Berlin",
        "language": "en",
        "billing_address": {
            "line1": "Hafenstrasse 1",
            "postal_code": "20457",
            "city": "Hamburg",
            "country": "DE",
        },
        "remote_modified_at": AS_OF,
    }
    data.update(kw)
    return Customer.model_validate(data)


def invoice(iid: str, due: date, amount: str = "100.00", cid: str = "C1", **kw: Any) -> Invoice:
    data: dict[str, Any] = {
        "remote_id": iid,
        "customer_remote_id": cid,
        "number": f"INV-{iid}",
        "currency": "EUR",
        "issue_date": min(due, date(2026, 1, 1)),
        "due_date": due,
        "total": Decimal(amount),
        "open_amount": Decimal(amount),
        "remote_modified_at": AS_OF,
    }
    data.update(kw)
    return Invoice.model_validate(data)


def credit_memo(mid: str, applies_to: str, amount: str = "20.00", cid: str = "C1", **kw: Any) -> CreditMemo:
    data: dict[str, Any] = {
        "remote_id": mid,
        "customer_remote_id": cid,
        "number": f"CM-{mid}",
        "currency": "EUR",
        "issue_date": date(2026, 11, 1),
        "total": Decimal(amount),
        "open_amount": Decimal(amount),
        "applies_to_invoice_id": applies_to,
        "remote_modified_at": AS_OF,
    }
    data.update(kw)
    return CreditMemo.model_validate(data)


def run(
    policy: DunningPolicy,
    customers: Iterable[Customer],
    invoices: Iterable[Invoice],
    memos: Iterable[CreditMemo] = (),
    history: Iterable[HistoryEntry] = (),
    as_of: datetime = AS_OF,
) -> list[PlannedAction | Skip]:
    return list(plan(policy, customers, invoices, memos, history, as_of))


def actions(results: Iterable[PlannedAction | Skip]) -> list[PlannedAction]:
    return [r for r in results if isinstance(r, PlannedAction)]


def skips(results: Iterable[PlannedAction | Skip]) -> list[Skip]:
    return [r for r in results if isinstance(r, Skip)]


def as_history(results: Iterable[PlannedAction | Skip]) -> list[HistoryEntry]:
    """What a run leaves behind: its planned actions, read back as history lines."""
    out = []
    for r in results:
        entry = HistoryEntry.from_json(r.to_json())
        if entry is not None:
            out.append(entry)
    return out


def pdf_streams(pdf: bytes) -> list[bytes]:
    """Every stream of a PDF made by fpdf2, inflated when it is compressed.

    A stream is cut by its dictionary's ``/Length``: its compressed bytes may end in a carriage
    return, which a search for the line end before ``endstream`` would take for that line end and
    cut off (about one page in 256, and then none of the page's text would be read).
    """
    out = []
    for found in re.finditer(rb"/Length (\d+)[^>]*>>\s*stream\r?\n", pdf):
        data = pdf[found.end() : found.end() + int(found.group(1))]
        try:
            out.append(zlib.decompress(data))
        except zlib.error:
            out.append(data)
    return out


def pdf_text(pdf: bytes) -> str:
    """The text drawn in a PDF made by fpdf2: inflate every content stream, keep the strings."""
    chunks = pdf_streams(pdf)
    drawn = b" ".join(re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", b"\n".join(chunks))).decode("latin-1")
    return drawn.replace("\\(", "(").replace("\\)", ")")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Received:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 Message accepted for delivery"
