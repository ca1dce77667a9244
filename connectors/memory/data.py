"""Deterministic generated receivables: every record is a pure function of (seed, stream, index).

Nothing is stored: a benchmark can page through a million invoices with a few pages in memory.
Values are built with ``model_construct`` (no validation, for speed) but are always valid; a test
round-trips a sample through ``model_validate`` to keep it so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from mapping.models import (
    Allocation,
    CreditMemo,
    Customer,
    CustomerStatus,
    DocumentStatus,
    Invoice,
    Payment,
    PaymentStatus,
    Record,
    Stream,
    TargetType,
)

M = TypeVar("M", bound=BaseModel)

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)

PREFIX: dict[Stream, str] = {
    Stream.CUSTOMERS: "C",
    Stream.INVOICES: "I",
    Stream.CREDIT_MEMOS: "M",
    Stream.PAYMENTS: "P",
}

_FIRST = [
    "Blue Fern", "Northwind", "Harbor Lane", "Maple & Oak", "Sunrise", "Atlas", "Green Valley", "Riverside",
    "Copper Kettle", "Silver Birch", "Red Rock", "Lakeside", "Golden Gate", "Pine Ridge", "Stonebridge",
    "Bright Path", "Cedar Grove", "Iron Works", "Summit", "Old Mill", "Seaside", "Bluebird", "Evergreen",
    "Kessler", "Fjord", "Meadowbrook", "Highland", "Brookfield", "Oakhurst", "Willow Creek", "Granite",
    "Morning Star",
]  # fmt: skip
_SECOND = [
    "Café", "Plumbing", "Bakery", "Interiors", "Dental Group", "Freight", "Farms", "Yoga Studio", "Hardware",
    "Landscaping", "Electric", "Florist", "Auto Repair", "Printing", "Catering", "Veterinary Clinic",
    "Roofing", "Brewing Co", "Books", "Fitness", "Pharmacy", "Tailors", "Logistics", "Architects",
]  # fmt: skip
_SUFFIX = ["", " LLC", " Ltd", " Inc.", " GmbH", " & Sons", " Co-op", " Partners"]
_CURRENCY = ["USD", "USD", "USD", "USD", "USD", "USD", "EUR", "EUR", "GBP", "CAD"]
_COUNTRY = {"USD": "US", "EUR": "DE", "GBP": "GB", "CAD": "CA"}
_ZONE = {"USD": "America/Chicago", "EUR": "Europe/Berlin", "GBP": "Europe/London", "CAD": "America/Toronto"}
_LANGUAGE = {"USD": "en-US", "EUR": "de", "GBP": "en-GB", "CAD": "en-CA"}
_TERMS = [
    ("Net 30", 30),
    ("Net 30", 30),
    ("Net 15", 15),
    ("Net 45", 45),
    ("Due on receipt", 0),
    ("Net 60", 60),
]
_METHODS = ["ACH", "Check", "Wire", "Card", "SEPA"]
_MEMOS = [
    "Monthly supplies", "Spring order", "Replacement parts", "Consulting hours", "Pallets and shrink wrap",
    "Catering, quarterly meeting", "Maintenance contract", "Copper fittings",
]  # fmt: skip

_CENTS = [Decimal(n).scaleb(-2) for n in range(100)]
_setattr = object.__setattr__


def _fast_construct(cls: type[M], values: dict[str, Any]) -> M:
    """``model_construct`` for a complete set of known-valid values, without its per-field loop.

    It sets the same four attributes ``model_construct`` sets; ``_check_fast_construct`` proves the
    two agree at import, and the generator falls back to ``model_construct`` if a pydantic release
    ever makes them differ.
    """
    given = set(values)
    if len(given) != len(cls.model_fields):
        # Fields left out take their defaults, as model_construct gives them (a field added to the
        # canonical model later must not leave generated records without the attribute).
        # In field order, so the JSON (and the content hash) is the same as a validated record's.
        defaults = _defaults(cls)
        values = {name: values[name] if name in values else defaults[name] for name in cls.model_fields}
    obj = cls.__new__(cls)
    _setattr(obj, "__dict__", values)
    _setattr(obj, "__pydantic_fields_set__", given)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


_DEFAULTS: dict[type[Any], dict[str, Any]] = {}


def _defaults(cls: type[M]) -> dict[str, Any]:
    found = _DEFAULTS.get(cls)
    if found is None:
        found = {
            name: field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
            for name, field in cls.model_fields.items()
            if not field.is_required()
        }
        _DEFAULTS[cls] = found
    # A copy: mutable defaults (lists) must not be shared between records.
    return {
        k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
        for k, v in found.items()
    }


def _slow_construct(cls: type[M], values: dict[str, Any]) -> M:
    return cls.model_construct(**values)


def _check_fast_construct() -> Callable[[type[M], dict[str, Any]], M]:
    values: dict[str, Any] = {
        "target_type": TargetType.INVOICE, "target_id": "I0000001", "amount": Decimal("1.00"),
        "currency_rate": None, "applied_date": None,
    }  # fmt: skip
    try:
        fast, slow = _fast_construct(Allocation, dict(values)), Allocation.model_construct(**values)
        if (
            fast == slow
            and fast.model_dump() == slow.model_dump()
            and fast.model_fields_set == slow.model_fields_set
        ):
            return _fast_construct
    except Exception:  # any surprise from pydantic internals: use the public API
        pass
    return _slow_construct


construct = _check_fast_construct()


def make(cls: type[M], /, **values: Any) -> M:
    """Build a model from a complete set of known-valid field values, without validation."""
    return construct(cls, values)


def _money(cents: int) -> Decimal:
    """Cents as a two-place Decimal, without parsing text."""
    return Decimal(cents // 100) + _CENTS[cents % 100]


def mix(seed: int, stream_salt: int, index: int) -> int:
    """A well-spread 32-bit hash of (seed, stream, index): the source of most generated values."""
    h = (index * 0x9E3779B1 + seed * 0x85EBCA77 + stream_salt * 0xC2B2AE3D) & 0xFFFFFFFF
    h = ((h ^ (h >> 16)) * 0x7FEB352D) & 0xFFFFFFFF
    return h ^ (h >> 15)


def remote_id(stream: Stream, index: int) -> str:
    """The id of record ``index`` of ``stream``: ``I0000001`` is the first invoice."""
    return f"{PREFIX[stream]}{index + 1:07d}"


def index_of(stream: Stream, rid: str) -> int | None:
    """The index behind an id, or None when the id is not one of this stream's."""
    if len(rid) < 2 or rid[0] != PREFIX[stream] or not rid[1:].isdigit():
        return None
    return int(rid[1:]) - 1


@dataclass(slots=True)
class _InvoiceFacts:
    customer: int
    currency: str
    total: int
    open: int
    status: DocumentStatus
    issue: date
    terms_days: int


class Generator:
    """Builds the base version of any record; the ERP layers its changes on top."""

    def __init__(self, counts: dict[Stream, int], seed: int, start: datetime = DEFAULT_START) -> None:
        self.counts = counts
        self.seed = seed
        self.start = start
        self._start_ordinal = start.date().toordinal()
        self.seen_at = datetime.now(UTC)

    def modified_at(self, index: int) -> datetime:
        """Base records were last changed one second apart, in index order."""
        return self.start + timedelta(seconds=index)

    def end(self) -> datetime:
        """A time after every base record of every stream."""
        return self.modified_at(max(self.counts.values(), default=0) + 1)

    def build(self, stream: Stream, index: int) -> Record:
        """The base version of record ``index`` of ``stream``."""
        if stream is Stream.CUSTOMERS:
            return self.customer(index)
        if stream is Stream.INVOICES:
            return self.invoice(index)
        if stream is Stream.CREDIT_MEMOS:
            return self.credit_memo(index)
        return self.payment(index)

    # -- customers ---------------------------------------------------------------------------

    # Invoices and payments look up their customer's currency, name and terms; those come from
    # cheap arithmetic on the index rather than the hash, which would triple the cost of a payment.

    def _customer_key(self, index: int) -> int:
        return index + self.seed * 7919

    def _customer_currency(self, index: int) -> str:
        return _CURRENCY[(self._customer_key(index) * 3) % len(_CURRENCY)]

    def _customer_terms(self, index: int) -> tuple[str, int]:
        return _TERMS[(self._customer_key(index) // 7) % len(_TERMS)]

    def customer_name(self, index: int) -> str:
        """The generated name of customer ``index``."""
        k = self._customer_key(index)
        first, second = _FIRST[k % len(_FIRST)], _SECOND[(k // len(_FIRST)) % len(_SECOND)]
        return f"{first} {second}{_SUFFIX[(k // (len(_FIRST) * len(_SECOND))) % len(_SUFFIX)]}"

    def customer(self, index: int) -> Customer:
        h = mix(self.seed, 1, index)
        currency = self._customer_currency(index)
        name = self.customer_name(index)
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
        terms = self._customer_terms(index)[0]
        return make(
            Customer,
            remote_id=remote_id(Stream.CUSTOMERS, index),
            external_id=None,
            remote_modified_at=self.modified_at(index),
            seen_at=self.seen_at,
            deleted=False,
            version="1",
            raw_status="Active" if h % 29 else "Inactive",
            raw={},
            name=name,
            status=CustomerStatus.ACTIVE if h % 29 else CustomerStatus.INACTIVE,
            email=f"ap{index + 1}@{slug}.example",
            phone=f"+1 555 {index % 10_000:04d}",
            currency=currency,
            country=_COUNTRY[currency],
            time_zone=_ZONE[currency],
            language=_LANGUAGE[currency],
            terms=terms,
            credit_limit=_money(((h >> 3) % 50 + 1) * 100_000),
            balance=None,
            risk_score=None,
            tags=[],
            bank_accounts=[],
            aliases=[],
            dunning_block=h % 97 == 0,
            opt_out_channels=[],
            parent_remote_id=None,
        )

    # -- invoices ----------------------------------------------------------------------------

    def invoice_facts(self, index: int) -> _InvoiceFacts:
        """What the payment and credit-memo generators need to know about invoice ``index``."""
        h = mix(self.seed, 2, index)
        customers = self.counts[Stream.CUSTOMERS] or 1
        customer = h % customers
        total = 5_000 + (h >> 7) % 995_000
        kind = (h >> 3) % 10
        if kind <= 5:
            status, open_ = DocumentStatus.OPEN, total
        elif kind == 6:
            status, open_ = DocumentStatus.PARTIALLY_PAID, total // 2
        elif kind <= 8:
            status, open_ = DocumentStatus.PAID, 0
        else:
            status, open_ = (DocumentStatus.VOID, 0) if (h >> 20) % 4 == 0 else (DocumentStatus.OPEN, total)
        age = (h >> 11) % 120
        issue = date.fromordinal(self._start_ordinal + index // 86_400 - age)
        terms_days = self._customer_terms(customer)[1]
        return _InvoiceFacts(
            customer, self._customer_currency(customer), total, open_, status, issue, terms_days
        )

    def invoice_number(self, index: int) -> str:
        return f"INV-{100_001 + index}"

    def invoice(self, index: int) -> Invoice:
        f = self.invoice_facts(index)
        return make(
            Invoice,
            remote_id=remote_id(Stream.INVOICES, index),
            external_id=None,
            remote_modified_at=self.modified_at(index),
            seen_at=self.seen_at,
            deleted=False,
            version="1",
            raw_status=f.status.value,
            raw={},
            customer_remote_id=remote_id(Stream.CUSTOMERS, f.customer),
            number=self.invoice_number(index),
            status=f.status,
            currency=f.currency,
            issue_date=f.issue,
            due_date=f.issue + timedelta(days=f.terms_days),
            total=_money(f.total),
            open_amount=_money(f.open),
            lines=None,
            memo=_MEMOS[index % len(_MEMOS)],
            disputed=False,
            promise_to_pay_date=None,
            dunning_block=False,
            dunning_level=None,
            collection_status=None,
            discount_percent=None,
            discount_days=None,
        )

    # -- credit memos ------------------------------------------------------------------------

    def credit_memo(self, index: int) -> CreditMemo:
        invoices = self.counts[Stream.INVOICES]
        h = mix(self.seed, 3, index)
        if invoices:
            target = (index * 13 + h % 7) % invoices
            f = self.invoice_facts(target)
            customer, currency, issue = f.customer, f.currency, f.issue + timedelta(days=h % 20)
            total, applies_to = max(100, f.total // 10), remote_id(Stream.INVOICES, target)
        else:
            customer = h % (self.counts[Stream.CUSTOMERS] or 1)
            currency, issue = self._customer_currency(customer), self.start.date()
            total, applies_to = 1_000 + h % 50_000, None
        return make(
            CreditMemo,
            remote_id=remote_id(Stream.CREDIT_MEMOS, index),
            external_id=None,
            remote_modified_at=self.modified_at(index),
            seen_at=self.seen_at,
            deleted=False,
            version="1",
            raw_status="open",
            raw={},
            customer_remote_id=remote_id(Stream.CUSTOMERS, customer),
            number=f"CM-{50_001 + index}",
            status=DocumentStatus.OPEN,
            currency=currency,
            issue_date=issue,
            due_date=None,
            total=_money(total),
            open_amount=_money(total),
            lines=None,
            memo="Credit for damaged goods",
            applies_to_invoice_id=applies_to,
            allocations=[],
        )

    # -- payments ----------------------------------------------------------------------------

    def payment(self, index: int) -> Payment:
        invoices = self.counts[Stream.INVOICES]
        h = mix(self.seed, 4, index)
        allocations: list[Allocation] = []
        reference: str | None
        if invoices:
            target = (index * 7) % invoices
            f = self.invoice_facts(target)
            customer, currency = f.customer, f.currency
            paid_date = f.issue + timedelta(days=h % 40)
            if f.status in (DocumentStatus.OPEN, DocumentStatus.VOID):
                # Money received but not applied yet: the matcher's work, found by the reference.
                amount, unapplied = f.total, f.total
                status, reference = PaymentStatus.UNAPPLIED, f"Payment {self.invoice_number(target)}"
            else:
                amount, unapplied = f.total - f.open, 0
                status, reference = PaymentStatus.APPLIED, self.invoice_number(target)
                allocations.append(
                    make(
                        Allocation,
                        target_type=TargetType.INVOICE,
                        target_id=remote_id(Stream.INVOICES, target),
                        amount=_money(amount),
                        currency_rate=None,
                        applied_date=paid_date,
                    )
                )
        else:
            customer = h % (self.counts[Stream.CUSTOMERS] or 1)
            currency, paid_date = self._customer_currency(customer), self.start.date()
            amount = unapplied = 1_000 + h % 500_000
            status, reference = PaymentStatus.UNAPPLIED, None
        known_customer = h % 3 != 0
        return make(
            Payment,
            remote_id=remote_id(Stream.PAYMENTS, index),
            external_id=None,
            remote_modified_at=self.modified_at(index),
            seen_at=self.seen_at,
            deleted=False,
            version="1",
            raw_status=status.value,
            raw={},
            customer_remote_id=remote_id(Stream.CUSTOMERS, customer) if known_customer else None,
            status=status,
            date=paid_date,
            amount=_money(amount),
            currency=currency,
            unapplied_amount=_money(unapplied),
            reference=reference,
            payer_name=self.customer_name(customer),
            payer_account=None,
            method=_METHODS[h % len(_METHODS)],
            allocations=allocations,
        )
