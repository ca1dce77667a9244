"""Seed data for the sandbox account: ``demo`` (a small wholesale business), ``empty``, ``large``."""

from __future__ import annotations

import functools
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from lxml import etree

from sandboxes.netsuite.store import Book

# The account's time zone: NetSuite answers in the account's offset, not UTC.
PACIFIC = timezone(timedelta(hours=-8))
SEEDS = ("demo", "empty", "large")
CURRENCIES = [("1", "US Dollar"), ("4", "Euro"), ("2", "British pound")]
SYMBOLS = {"1": "USD", "4": "EUR", "2": "GBP"}
TERMS = [("2", "Net 30", 30), ("1", "Net 15", 15), ("3", "Net 60", 60)]
COMPANIES = [
    "Acme Industrial Supply",
    "Birchwood Hardware Co.",
    "Cascade Foods LLC",
    "Delta Marine Parts",
    "Evergreen Office Products",
    "Falcon Logistics Inc.",
    "Granite State Builders",
    "Harbor Electric",
    "Ironclad Tools Ltd",
    "Juniper Health Clinics",
    "Keystone Auto Group",
    "Lakeside Printing",
    "Meridian Apparel GmbH",
    "Northwind Traders",
    "Orchard Valley Farms",
    "Pinnacle Fitness",
]


def seed(book: Book, name: str, *, now: datetime | None = None, invoices: int | None = None) -> None:
    """Fill ``book`` with the ``name`` data set; ``invoices`` overrides the invoice count of ``large``."""
    if name not in SEEDS:
        raise ValueError(f"unknown seed {name!r} (expected one of {', '.join(SEEDS)})")
    end = now or datetime.now(PACIFIC).replace(microsecond=0)
    _currencies(book, end)
    if name == "empty":
        return
    rng = random.Random(20231102)
    if name == "demo":
        _fill(book, rng, end, customers=len(COMPANIES), invoices=invoices or 48, credits=6, payments=12)
    else:
        n = invoices or 10_000
        _fill(book, rng, end, customers=max(50, n // 20), invoices=n, credits=n // 20, payments=n // 10)


def _currencies(book: Book, when: datetime) -> None:
    """Every account has its base currency; this one also invoices in euros and pounds."""
    for internal_id, name in CURRENCIES:
        rec = book.build(
            "currency",
            internal_id,
            {
                "name": name,
                "symbol": SYMBOLS[internal_id],
                "isBaseCurrency": internal_id == "1",
                "isInactive": False,
            },
        )
        book.put("currency", rec, when - timedelta(days=400))


def _fixed(value: datetime) -> datetime:
    return value


def _when(rng: random.Random, end: datetime, days: int = 90) -> datetime:
    return end - timedelta(seconds=rng.randint(3600, days * 86400))


def _fill(
    book: Book,
    rng: random.Random,
    end: datetime,
    *,
    customers: int,
    invoices: int,
    credits: int,
    payments: int,
) -> None:
    original_clock = book.clock
    cust_ids: list[str] = []
    currency_of: dict[str, tuple[str, str]] = {}
    for i in range(customers):
        name = (
            COMPANIES[i]
            if i < len(COMPANIES)
            else f"{COMPANIES[i % len(COMPANIES)]} #{i // len(COMPANIES) + 1}"
        )
        cid = book.new_id()
        currency = CURRENCIES[0] if i % 7 else CURRENCIES[1 + (i // 7) % 2]
        term = TERMS[i % len(TERMS)]
        created = _when(rng, end, 400)
        rec = book.build(
            "customer",
            cid,
            {
                "entityId": f"C{10000 + i}",
                "isPerson": False,
                "companyName": name,
                "phone": f"(555) 01{i % 100:02d}-{1000 + i}",
                "email": f"ap@{name.lower().split()[0].strip('.,')}.example",
                "defaultAddress": f"{name}<br>{100 + i} Market St<br>Portland OR 97204<br>United States",
                "isInactive": i % 29 == 28,
                "dateCreated": created,
                "subsidiary": ("1", "Parent Company"),
                "terms": (term[0], term[1]),
                "creditLimit": Decimal(rng.choice([5000, 10000, 25000, 50000])),
                "currency": currency,
            },
            external_id=f"CRM-{4000 + i}",
        )
        book.put("customer", rec, _when(rng, end))
        cust_ids.append(cid)
        currency_of[cid] = currency
    inv_ids: list[str] = []
    for i in range(invoices):
        cid = cust_ids[rng.randrange(len(cust_ids))]
        issued = _when(rng, end, 120).replace(hour=0, minute=0, second=0)
        term = TERMS[int(cid) % len(TERMS)]
        total = Decimal(rng.randint(5_000, 2_500_000)) / 100
        iid = book.new_id()
        currency = currency_of[cid]
        rec = book.build(
            "invoice",
            iid,
            {
                "createdDate": issued,
                "entity": (cid, None),
                "tranDate": issued,
                "tranId": f"INV{100000 + i}",
                "terms": (term[0], term[1]),
                "subsidiary": ("1", "Parent Company"),
                "currency": currency,
                "dueDate": issued + timedelta(days=term[2]),
                "otherRefNum": f"PO-{rng.randint(10000, 99999)}",
                "memo": rng.choice([None, "Quarterly restock", "Rush order", "Spring catalogue"]),
                "amountPaid": Decimal(0),
                "amountRemaining": total,
                "currencyName": currency[1],
                "total": total,
                "status": "Open",
            },
        )
        book.put("invoice", rec, max(issued, _when(rng, end, 60)))
        inv_ids.append(iid)
    for i in range(credits):
        inv = book.records["invoice"][inv_ids[rng.randrange(len(inv_ids))]]
        cid = inv.find(book._tag("invoice", "entity")).get("internalId", "")
        issued = _when(rng, end, 60).replace(hour=0, minute=0, second=0)
        total = (book.money(inv, "invoice", "total") * Decimal("0.1")).quantize(Decimal("0.01"))
        currency = currency_of[cid]
        rec = book.build(
            "creditMemo",
            book.new_id(),
            {
                "createdDate": issued,
                "currency": currency,
                "entity": (cid, None),
                "tranDate": issued,
                "tranId": f"CM{5000 + i}",
                "createdFrom": (inv.get("internalId", ""), book.text(inv, "invoice", "tranId")),
                "memo": "Damaged goods allowance",
                "currencyName": currency[1],
                "amountRemaining": total,
                "unapplied": total,
                "applied": Decimal(0),
                "total": total,
                "status": "Open",
            },
        )
        book.put("creditMemo", rec, issued + timedelta(hours=2))
    open_invoices = list(inv_ids)
    rng.shuffle(open_invoices)
    for i in range(min(payments, len(open_invoices))):
        inv = book.records["invoice"][open_invoices[i]]
        cid = inv.find(book._tag("invoice", "entity")).get("internalId", "")
        due = book.money(inv, "invoice", "amountRemaining")
        amount = due if i % 3 else (due / 2).quantize(Decimal("0.01"))
        paid_at = _when(rng, end, 30)
        book.clock = functools.partial(_fixed, paid_at)
        payment = book.build(
            "customerPayment",
            "",
            {
                "customer": (cid, None),
                "currency": currency_of[cid],
                "payment": amount,
                "tranDate": paid_at.replace(hour=0, minute=0, second=0),
                "tranId": f"PYMT{7000 + i}",
                "memo": f"ACH {book.text(inv, 'invoice', 'tranId')}",
                "checkNum": f"{880000 + i}",
            },
        )
        del payment.attrib["internalId"]
        apply_list = etree.SubElement(payment, book._tag("customerPayment", "applyList"))
        line = etree.SubElement(apply_list, book._tag("customerPayment", "apply"))
        etree.SubElement(line, book._tag("customerPayment", "apply")).text = "true"
        etree.SubElement(line, book._tag("customerPayment", "doc")).text = inv.get("internalId")
        etree.SubElement(line, book._tag("customerPayment", "amount")).text = str(amount)
        outcome = book.add(payment)
        if not outcome.ok:
            raise RuntimeError(f"seed payment refused: {outcome.code} {outcome.message}")
    book.clock = original_clock
