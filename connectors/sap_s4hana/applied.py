"""Payment applications arbridge posted, recognised when SAP's items are read back.

SAP's journal-entry service has no invoice reference on a customer line: a payment arbridge posts
is, to SAP, an open credit item carrying the invoice's assignment (and payment reference) until
automatic clearing closes it with the invoice, and a partial payment is never cleared. Read as SAP
shows it, that cash would be a payment on account, and cash application could apply it once more.

So before a journal entry is sent, the connection's state keeps, under its document reference
(``DocumentReferenceID``, derived from the outbox key), which item each of its customer lines
settles: ``sap_s4hana.applied.<reference>``. Read back, an item of a document with such a
reference is matched to its line by amount (assignment and item number tell lines of one amount
apart), and:

- a credit line for an invoice is a payment applied to that invoice;
- a debit line (a credit memo netted in, or the transfer of a payment on account) settles that
  document and is no receivable of its own;
- the line left on account is an ordinary payment on account.

Every open item that settles another (those lines, and SAP's own partial payments, which name
their invoice in ``InvoiceReference``) lowers the open amount of the item it settles until SAP
clears them. A credit memo naming an invoice in ``InvoiceReference`` does not: it is an open credit
raised against that invoice (``applies_to_invoice_id``), and lowering the invoice as well would
count the credit twice. A document with any other reference, posted by someone else, is read as
SAP shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from connectors.base import KeyValueStore
from connectors.sap_s4hana import items as it
from mapping.models import Allocation, DocumentStatus, PaymentStatus, Stream, TargetType

__all__ = ["Applications", "AppliedLedger", "AppliedLine", "Settles", "is_our_reference", "item_extras"]

PREFIX = "sap_s4hana.applied."
#: The document references arbridge gives its postings (``journal.reference_for``).
_OURS = re.compile(r"^AR[0-9A-F]{14}$")


def is_our_reference(reference: object) -> bool:
    return isinstance(reference, str) and bool(_OURS.match(reference))


class Settles(StrEnum):
    """What a customer line of an arbridge posting settles."""

    INVOICE = "invoice"  # a credit line: cash (with discount and write-off) for an invoice
    CREDIT_MEMO = "credit_memo"  # a debit line: a credit memo netted in
    PAYMENT = "payment"  # a debit line: the payment on account whose cash moves to the invoices
    NOTHING = "on_account"  # a credit line: the cash left on account


@dataclass(frozen=True)
class AppliedLine:
    """One customer line of a posted application, as the connection's state keeps it."""

    settles: Settles
    target: str | None  # remote id of the item it settles; None on account
    amount: Decimal  # signed as posted: credit negative
    assignment: str
    item: int  # its ReferenceDocumentItem in the message
    discount: Decimal = Decimal(0)
    writeoff: Decimal = Decimal(0)

    @property
    def cash(self) -> Decimal:
        """The cash the line applies: what it settles less discount and write-off."""
        return abs(self.amount) - self.discount - self.writeoff

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "settles": self.settles.value,
            "target": self.target,
            "amount": str(self.amount),
            "assignment": self.assignment,
            "item": self.item,
        }
        if self.discount:
            out["discount"] = str(self.discount)
        if self.writeoff:
            out["writeoff"] = str(self.writeoff)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AppliedLine:
        return cls(
            Settles(data["settles"]),
            data.get("target"),
            Decimal(data["amount"]),
            str(data.get("assignment") or ""),
            int(data.get("item") or 0),
            Decimal(data.get("discount") or 0),
            Decimal(data.get("writeoff") or 0),
        )


class AppliedLedger:
    """The applications this connection posted, by document reference (cached per connector)."""

    def __init__(self, state: KeyValueStore) -> None:
        self.state = state
        self._cache: dict[str, list[AppliedLine] | None] = {}

    def record(self, reference: str, key: str, lines: list[AppliedLine]) -> None:
        """Keep what a posting settles; called before it is sent, so a kill cannot lose it."""
        body = {"key": key, "lines": [line.to_json() for line in lines]}
        self.state.put(PREFIX + reference, json.dumps(body, separators=(",", ":")))
        self._cache[reference] = lines

    def lines(self, reference: object) -> list[AppliedLine] | None:
        """The lines of the posting with ``reference``; None when this connection never posted it."""
        if not is_our_reference(reference):
            return None
        assert isinstance(reference, str)
        if reference not in self._cache:
            text = self.state.get(PREFIX + reference)
            try:
                lines = [AppliedLine.from_json(d) for d in json.loads(text)["lines"]] if text else None
            except (ValueError, KeyError, TypeError):
                lines = None  # not ours after all: read as SAP shows it
            self._cache[reference] = lines
        return self._cache[reference]

    def line_of(self, row: Mapping[str, Any]) -> AppliedLine | None:
        """The posted line a customer item is, if it is one of this connection's postings."""
        lines = self.lines(row.get("DocumentReferenceID"))
        if not lines:
            return None
        amount = it.amount(row)
        fits = [line for line in lines if line.amount == amount]
        if len(fits) < 2:
            return fits[0] if fits else None
        # Lines of one amount are told apart by assignment (SAP may fill an empty one from the
        # account's sort key, so it is not required to match) and by item number.
        assignment = str(row.get("AssignmentReference") or "").strip()
        number = str(row.get("AccountingDocumentItem") or "")
        item = int(number) if number.isdigit() else -1
        return max(fits, key=lambda line: (line.assignment == assignment, line.item == item))


@dataclass
class Applications:
    """Items that settle other items, read from SAP (open ones, and those cleared lately).

    ``settled`` is, per remote id, what open items settle of it: SAP's partial payments naming an
    invoice, and the lines of arbridge's postings. ``touched`` lists, for re-reading, the items
    such an item settles with the day it was entered or cleared.
    """

    since: str | None
    #: The document types of incoming payments: only their items naming an invoice are cash for it.
    payment_types: frozenset[str] = frozenset({"DZ"})
    settled: dict[str, Decimal] = field(default_factory=dict)
    touched: list[tuple[str, Settles, str]] = field(default_factory=list)
    posted: dict[str, list[AppliedLine]] = field(default_factory=dict)
    streams: set[str] = field(default_factory=set)

    def add(self, row: Mapping[str, Any], ledger: AppliedLedger) -> None:
        """Count one item read from SAP, if it settles another."""
        target: str | None
        if (
            row.get("DebitCreditCode") == "H"
            and row.get("InvoiceReference")
            and it.stream_of(row, self.payment_types) is Stream.PAYMENTS
        ):
            # SAP's partial payment: cash applied to the invoice it names.
            target, settles = it.invoice_key_of(row), Settles.INVOICE
        else:
            line = ledger.line_of(row)
            if line is None:
                return
            target, settles = line.target, line.settles
        if target is None:
            return
        # A cleared item (paid in full, or reversed) settles nothing any more, but what it settled
        # is read again: its open amount changed.
        cleared = it.is_cleared(row)
        if not cleared:
            self.settled[target] = self.settled.get(target, Decimal(0)) + abs(it.amount(row))
        day = row.get("ClearingCreationDate") if cleared else None
        day = day or row.get("AccountingDocumentCreationDate") or ""
        self.touched.append((target, settles, str(day)[:10]))

    def post(self, key: str, lines: Iterable[AppliedLine], day: str) -> None:
        """Count the lines of a posting this connector just made (SAP holds them open now)."""
        kept = [line for line in lines if line.target is not None]
        self.posted[key] = kept
        self.touched += [(str(line.target), line.settles, day) for line in kept]

    def amounts(self, *, besides: str | None = None) -> dict[str, Decimal]:
        """What open items settle of each item, with the postings made since the read."""
        out = dict(self.settled)
        for key, lines in self.posted.items():
            if key == besides:
                continue
            for line in lines:
                assert line.target is not None
                out[line.target] = out.get(line.target, Decimal(0)) + abs(line.amount)
        return out

    def targets(self, settles: Settles, since: str) -> set[str]:
        """The items of one kind that an item entered or cleared on or after ``since`` settles."""
        return {target for target, kind, day in self.touched if kind is settles and day >= since}


def item_extras(
    stream: Stream, row: Mapping[str, Any], settled: Mapping[str, Decimal], own: AppliedLine | None
) -> dict[str, Any]:
    """``items.item_extras``, with the lines of arbridge's own postings read as what they settle.

    Args:
        stream: the item's stream.
        row: the item, normalised.
        settled: what open items settle of each item (``Applications.amounts``).
        own: the posted line the item is (``AppliedLedger.line_of``), or None.
    """
    extra = it.item_extras(stream, row, settled)
    if own is None or extra["deleted"]:
        return extra
    if stream is Stream.INVOICES and own.settles in (Settles.CREDIT_MEMO, Settles.PAYMENT):
        # The debit line of an application (a credit memo netted in, a payment on account moved
        # to invoices) settles that document: no one owes it.
        extra.update(open_amount=Decimal(0), status=DocumentStatus.PAID)
    elif stream is Stream.PAYMENTS and own.settles is Settles.INVOICE and own.target is not None:
        # Cash arbridge posted for an invoice: applied to it, whether SAP cleared it yet or not.
        extra.update(
            amount=own.cash,
            unapplied_amount=Decimal(0),
            status=PaymentStatus.APPLIED,
            allocations=[
                Allocation(
                    target_type=TargetType.INVOICE,
                    target_id=own.target,
                    amount=own.cash,
                    discount=own.discount or None,
                    writeoff=own.writeoff or None,
                )
            ],
        )
    return extra
