"""Light internal types the matcher works on, and converters from the canonical model.

The matcher runs over a million open documents in one pass, so it works on small slotted objects
instead of full pydantic records; the converters below build them from ``mapping.models`` records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from itertools import repeat
from typing import Any, Literal, TypeVar

from mapping.models import CreditMemo, Customer, DocumentStatus, Invoice, Payment

DocKind = Literal["invoice", "credit_memo"]
Status = Literal["auto", "review", "unmatched"]

# The type, which PaymentInput's field ``date`` hides inside that class.
Day = date

ZERO = Decimal("0")
CENT = Decimal("0.01")

# A document's kind, currency, issue and due dates, discount percent and days and the invoice it
# applies to: what many documents of a ledger have alike (see OpenDocument.from_columns).
Terms = tuple[DocKind, str, date | None, date | None, Decimal | None, int | None, str | None]


@dataclass(slots=True, eq=False, init=False)
class OpenDocument:
    """An open invoice or credit memo as the matcher sees it.

    ``open_amount`` is the magnitude the ERP reports (positive for both kinds); ``remaining`` starts
    equal to it and shrinks as payments earlier in the same run are applied, so a second instalment
    sees what the first one left open.
    """

    doc_id: str
    customer_id: str
    number: str
    kind: DocKind
    currency: str
    total: Decimal
    open_amount: Decimal
    issue_date: date | None = None
    due_date: date | None = None
    discount_percent: Decimal | None = None
    discount_days: int | None = None
    applies_to: str | None = None
    key: str = ""
    remaining: Decimal = ZERO

    # Written out rather than generated: a reader makes a million of these, and the generated one
    # calls a __post_init__ for ``remaining`` on each (a tenth of the time a document takes to make).
    def __init__(
        self, doc_id: str, customer_id: str, number: str, kind: DocKind, currency: str, total: Decimal,
        open_amount: Decimal, issue_date: date | None = None, due_date: date | None = None,
        discount_percent: Decimal | None = None, discount_days: int | None = None,
        applies_to: str | None = None, key: str = "", remaining: Decimal = ZERO,
    ) -> None:
        self.doc_id = doc_id
        self.customer_id = customer_id
        self.number = number
        self.kind = kind
        self.currency = currency
        self.total = total
        self.open_amount = open_amount
        self.issue_date = issue_date
        self.due_date = due_date
        self.discount_percent = discount_percent
        self.discount_days = discount_days
        self.applies_to = applies_to
        self.key = key
        # A remaining of zero is none given: what is still open is then the open amount.
        self.remaining = remaining or open_amount

    @classmethod
    def from_columns(
        cls, doc_ids: list[str], customer_ids: Iterable[str], numbers: Iterable[str], terms: Iterable[Terms],
        totals: Iterable[Decimal], open_amounts: Iterable[Decimal], keys: Iterable[str],
    ) -> list[OpenDocument]:
        """Documents as a column reader knows them, one per id, each field given as a column (the
        :data:`Terms` as one, a ledger's few combinations of them shared by its rows); ``remaining``
        starts as the open amount.

        Made without a call of ``__init__`` per document, which takes half as long again: the objects
        first, then one loop setting their slots.
        """
        docs: list[OpenDocument] = list(map(object.__new__, repeat(cls, len(doc_ids))))
        for d, doc_id, customer_id, number, alike, total, open_amount, key in zip(
            docs, doc_ids, customer_ids, numbers, terms, totals, open_amounts, keys, strict=True
        ):
            d.doc_id = doc_id
            d.customer_id = customer_id
            d.number = number
            (d.kind, d.currency, d.issue_date, d.due_date, d.discount_percent, d.discount_days,
             d.applies_to) = alike
            d.total = total
            d.open_amount = d.remaining = open_amount
            d.key = key
        return docs

    @property
    def sign(self) -> int:
        """+1 for an invoice (the customer owes it), -1 for a credit memo (we owe it)."""
        return -1 if self.kind == "credit_memo" else 1

    @property
    def signed_remaining(self) -> Decimal:
        """What the document contributes to the cash the customer should send."""
        return -self.remaining if self.kind == "credit_memo" else self.remaining

    def discount_deadline(self) -> date | None:
        """Last day the early-payment discount may be taken, before any grace days."""
        if self.kind != "invoice" or not self.discount_percent or self.discount_days is None:
            return None
        if self.issue_date is None:
            return None
        return date.fromordinal(self.issue_date.toordinal() + self.discount_days)

    def discount_amount(self) -> Decimal:
        """The early-payment discount on what is still open, rounded to the cent."""
        if not self.discount_percent:
            return ZERO
        return (self.remaining * self.discount_percent / 100).quantize(CENT)


def age_key(doc: OpenDocument) -> tuple[date, str]:
    """Oldest due first (issue date when there is no due date), then by number."""
    return (doc.due_date or doc.issue_date or date.min, doc.number)


@dataclass(slots=True, frozen=True)
class RemittanceLine:
    """One line of a remittance advice: the customer's own statement of what a payment covers."""

    number: str
    amount: Decimal
    discount: Decimal = ZERO


@dataclass(slots=True, frozen=True)
class PaymentInput:
    """Incoming cash to apply: an unapplied ERP payment or a credit line of a bank statement."""

    payment_id: str
    date: date
    amount: Decimal
    currency: str
    customer_id: str | None = None
    payer_name: str | None = None
    payer_account: str | None = None
    reference: str | None = None
    remittance: tuple[RemittanceLine, ...] = ()

    @classmethod
    def from_columns(
        cls, payment_ids: list[str], dates: Iterable[Day], amounts: Iterable[Decimal],
        currencies: Iterable[str], customer_ids: Iterable[str | None], payer_names: Iterable[str | None],
        payer_accounts: Iterable[str | None], references: Iterable[str | None],
    ) -> list[PaymentInput]:
        """Payments without remittance, one per id, each field given as a column of the file (with a
        value for each id)."""
        return _made_by_columns(cls, len(payment_ids), (
            payment_ids, dates, amounts, currencies, customer_ids, payer_names, payer_accounts, references,
            repeat(()),
        ))


@dataclass(slots=True, frozen=True)
class CustomerInfo:
    """What the matcher knows about a customer to recognise a payer."""

    customer_id: str
    name: str
    bank_accounts: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_columns(
        cls, customer_ids: list[str], names: Iterable[str], bank_accounts: Iterable[tuple[str, ...]],
        aliases: Iterable[tuple[str, ...]],
    ) -> list[CustomerInfo]:
        """Customers, one per id, each field given as a column of the file (with a value for each id)."""
        return _made_by_columns(cls, len(customer_ids), (customer_ids, names, bank_accounts, aliases))


_Record = TypeVar("_Record")


def _made_by_columns(cls: type[_Record], count: int, columns: tuple[Iterable[Any], ...]) -> list[_Record]:
    """``count`` records of a frozen slotted dataclass, each field set from its column.

    A frozen record's generated ``__init__`` sets each field by a generic ``object.__setattr__``;
    setting a field's slot directly over a whole column takes half the time.
    """
    records = list(map(cls.__new__, repeat(cls, count)))
    for name, values in zip((f.name for f in fields(cls)), columns, strict=True):  # type: ignore[arg-type]
        deque(map(getattr(cls, name).__set__, records, values), maxlen=0)
    return records


@dataclass(slots=True, frozen=True, init=False)
class Application:
    """Cash applied to one document, plus what settles the rest of it without cash.

    ``amount`` is negative for a credit memo netted into the payment.
    """

    doc_id: str
    amount: Decimal
    discount: Decimal = ZERO
    writeoff: Decimal = ZERO
    kind: DocKind = "invoice"
    number: str = ""

    # Written out rather than generated: a run makes one or more for most payments, and the generated
    # one of a frozen class sets each field by name through object.__setattr__, twice as slow as
    # setting its slot.
    def __init__(self, doc_id: str, amount: Decimal, discount: Decimal = ZERO, writeoff: Decimal = ZERO,
                 kind: DocKind = "invoice", number: str = "") -> None:
        _set_doc_id(self, doc_id)
        _set_amount(self, amount)
        _set_discount(self, discount)
        _set_writeoff(self, writeoff)
        _set_kind(self, kind)
        _set_number(self, number)


# The slots' own setters, which a frozen class's __setattr__ does not stand in front of.
_set_doc_id, _set_amount, _set_discount, _set_writeoff, _set_kind, _set_number = (
    vars(Application)[f.name].__set__ for f in fields(Application)
)


@dataclass(slots=True)
class MatchResult:
    """The matcher's decision on one payment, with the reasons a controller can read."""

    payment_id: str
    status: Status
    customer_id: str | None
    confidence: float
    rule: str
    applications: list[Application] = field(default_factory=list)
    unapplied: Decimal = ZERO
    explanation: str = ""
    components: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The ``matches.jsonl`` form; money as decimal strings so no float ever touches it."""
        return {
            "payment_id": self.payment_id,
            "status": self.status,
            "customer_id": self.customer_id,
            "confidence": self.confidence,
            "rule": self.rule,
            "applications": [
                {
                    "invoice_id": a.doc_id,
                    "amount": str(a.amount),
                    "discount": str(a.discount),
                    "writeoff": str(a.writeoff),
                }
                for a in self.applications
            ],
            "unapplied": str(self.unapplied),
            "explanation": self.explanation,
            "components": self.components,
        }


_bare = object.__new__


def decided(payment_id: str, status: Status, customer_id: str | None, confidence: float, rule: str,
            applications: list[Application], unapplied: Decimal, explanation: str,
            components: dict[str, float]) -> MatchResult:
    """The :class:`MatchResult` of these fields, as ``MatchResult(...)`` makes it.

    The matcher makes one per payment: set slot by slot on a bare object, it skips the call of the
    generated ``__init__`` through the class, which takes longer than the setting itself.
    """
    result = _bare(MatchResult)
    result.payment_id = payment_id
    result.status = status
    result.customer_id = customer_id
    result.confidence = confidence
    result.rule = rule
    result.applications = applications
    result.unapplied = unapplied
    result.explanation = explanation
    result.components = components
    return result


def result_from_json(data: dict[str, Any]) -> MatchResult:
    """Rebuild a result from its ``matches.jsonl`` line (for a review queue or an accuracy check)."""
    return MatchResult(
        payment_id=str(data["payment_id"]),
        status=data["status"],
        customer_id=data.get("customer_id"),
        confidence=float(data.get("confidence") or 0.0),
        rule=str(data.get("rule") or ""),
        applications=[
            Application(str(a["invoice_id"]), Decimal(str(a["amount"])), Decimal(str(a.get("discount") or 0)),
                        Decimal(str(a.get("writeoff") or 0)))
            for a in data.get("applications") or []
        ],
        unapplied=Decimal(str(data.get("unapplied") or 0)),
        explanation=str(data.get("explanation") or ""),
        components=dict(data.get("components") or {}),
    )


_CLOSED = {DocumentStatus.PAID, DocumentStatus.VOID, DocumentStatus.DRAFT}


def document_from_invoice(invoice: Invoice) -> OpenDocument | None:
    """Convert a canonical invoice; ``None`` when it is not open (paid, void, draft or deleted)."""
    if invoice.deleted or invoice.status in _CLOSED or invoice.open_amount <= 0:
        return None
    return OpenDocument(
        doc_id=invoice.remote_id,
        customer_id=invoice.customer_remote_id,
        number=invoice.number or invoice.remote_id,
        kind="invoice",
        currency=invoice.currency,
        total=invoice.total,
        open_amount=invoice.open_amount,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        discount_percent=invoice.discount_percent,
        discount_days=invoice.discount_days,
    )


def document_from_credit_memo(memo: CreditMemo) -> OpenDocument | None:
    """Convert a canonical credit memo; ``None`` when nothing of it is left to net."""
    open_amount = abs(memo.open_amount)
    if memo.deleted or memo.status in _CLOSED or open_amount == 0:
        return None
    return OpenDocument(
        doc_id=memo.remote_id,
        customer_id=memo.customer_remote_id,
        number=memo.number or memo.remote_id,
        kind="credit_memo",
        currency=memo.currency,
        total=abs(memo.total),
        open_amount=open_amount,
        issue_date=memo.issue_date,
        due_date=memo.due_date,
        applies_to=memo.applies_to_invoice_id,
    )


def payment_from_model(payment: Payment) -> PaymentInput:
    """Convert a canonical payment; only its still-unapplied part is cash to match."""
    return PaymentInput(
        payment_id=payment.remote_id,
        date=payment.date,
        amount=payment.unapplied_amount,
        currency=payment.currency,
        customer_id=payment.customer_remote_id,
        payer_name=payment.payer_name,
        payer_account=payment.payer_account,
        reference=payment.reference,
    )


def customer_from_model(customer: Customer) -> CustomerInfo:
    """Convert a canonical customer."""
    return CustomerInfo(
        customer_id=customer.remote_id,
        name=customer.name,
        bank_accounts=tuple(customer.bank_accounts),
        aliases=tuple(customer.aliases),
    )
