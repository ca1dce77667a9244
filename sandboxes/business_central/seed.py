"""Seed data: a small company that looks real (``demo``), nothing (``empty``), or volume (``large``).

Every record's ``lastModifiedDateTime`` lies in the past, as it would in a company that has been
working for months, so the first incremental read after a full pull finds nothing new.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sandboxes.business_central.company import Company

_NAMES = [
    "Adatum Corporation",
    "Trey Research",
    "School of Fine Art",
    "Alpine Ski House",
    "Relecloud",
    "Coho Winery",
    "Fabrikam, Inc.",
    "Northwind Traders",
    "Litware, Inc.",
    "Contoso Pharmaceuticals",
    "Wide World Importers",
    "Tailspin Toys",
    "Proseware, Inc.",
    "Lucerne Publishing",
    "Graphic Design Institute",
    "Woodgrove Bank",
    "Margie's Travel",
    "Fourth Coffee",
    "Blue Yonder Airlines",
    "City Power & Light",
    "Humongous Insurance",
    "Consolidated Messenger",
    "VanArsdel, Ltd.",
    "Southridge Video",
    "Wingtip Toys",
]
# Street, second line, city, state, ZIP: US addresses as a customer card holds them, each ZIP in
# its city, some with a suite or a floor on the second line.
_ADDRESSES = [
    ("192 Market Square", "", "Atlanta", "GA", "30303"),
    ("153 Thomas Drive", "Suite 400", "Chicago", "IL", "60601"),
    ("10 High Tower Green", "", "Miami", "FL", "33131"),
    ("10 Deerfield Road", "", "Denver", "CO", "80202"),
    ("25 Water Way", "Building B", "Seattle", "WA", "98101"),
    ("2140 Vineyard Lane", "", "Napa", "CA", "94558"),
    ("15 NE 40th Street", "Floor 3", "Redmond", "WA", "98052"),
    ("480 Harbor Boulevard", "", "Boston", "MA", "02110"),
    ("77 Commerce Street", "Suite 1200", "Dallas", "TX", "75201"),
    ("315 Pine Street", "", "Portland", "OR", "97204"),
    ("600 Congress Avenue", "Suite 210", "Austin", "TX", "78701"),
    ("48 Lakeshore Drive", "", "Minneapolis", "MN", "55401"),
    ("1200 Peachtree Street NE", "", "Atlanta", "GA", "30309"),
    ("9 Lexington Avenue", "12th Floor", "New York", "NY", "10016"),
    ("250 Rio Grande Boulevard", "", "Albuquerque", "NM", "87104"),
    ("1500 Fifth Avenue", "", "Seattle", "WA", "98101"),
    ("88 Kearny Street", "Suite 700", "San Francisco", "CA", "94108"),
    ("410 Broad Street", "", "Nashville", "TN", "37203"),
    ("3 Airport Plaza", "", "Phoenix", "AZ", "85034"),
    ("700 Grand Avenue", "", "Des Moines", "IA", "50309"),
    ("55 Liberty Street", "Suite 5", "Hartford", "CT", "06103"),
    ("1010 Canal Street", "", "New Orleans", "LA", "70112"),
    ("222 Second Avenue South", "", "Nashville", "TN", "37201"),
    ("14 Riverside Drive", "", "Tulsa", "OK", "74103"),
    ("360 Main Street", "Unit 2", "Salt Lake City", "UT", "84101"),
]
_TERMS = [14, 30, 30, 45, 60]


def seed_company(company: Company, kind: str, invoices: int | None = None) -> None:
    """Fill ``company``; ``invoices`` sets the size of the ``large`` seed (and the demo's, if given)."""
    company.add_journal("GENERAL", "Cash receipts")
    company.add_journal("ARBRIDGE", "Payments applied by arbridge")
    if kind == "empty":
        return
    if kind not in ("demo", "large"):
        raise ValueError(f"unknown seed {kind!r} (demo, empty, large)")
    count = invoices if invoices is not None else (150 if kind == "demo" else 50_000)
    _fill(
        company,
        count,
        customers=max(5, min(len(_NAMES), count // 6)) if kind == "demo" else max(5, count // 10),
    )


def _fill(company: Company, invoice_count: int, customers: int) -> None:
    rng = random.Random(20261204)
    now = company.clock()
    today = now.date()
    start = today - timedelta(days=240)
    people = []
    for i in range(customers):
        name = _NAMES[i] if i < len(_NAMES) else f"{_NAMES[i % len(_NAMES)]} {i // len(_NAMES) + 1}"
        street, second, city, state, postal = _ADDRESSES[i % len(_ADDRESSES)]
        if i >= len(_ADDRESSES):  # the large seed: another building in the same street
            number, rest = street.split(" ", 1)
            street = f"{int(number) + 2 * (i // len(_ADDRESSES))} {rest}"
        created = datetime.combine(start - timedelta(days=30 + i % 90), datetime.min.time(), UTC)
        people.append(
            company.add_customer(
                when=created,
                number=f"C{10000 + i * 10:05d}",
                displayName=name,
                addressLine1=street,
                addressLine2=second,
                city=city,
                state=state,
                country="US",
                postalCode=postal,
                phoneNumber=f"+1 425 555 {1000 + i:04d}"[-16:],
                email=f"ap{i}@{''.join(ch for ch in name.lower() if ch.isalnum())[:20]}.example.com",
                creditLimit=Decimal(rng.choice([5000, 10000, 25000, 50000])),
            )
        )
    span = (today - start).days
    posted = []
    for n in range(invoice_count):
        customer = people[rng.randrange(len(people))]
        posting = start + timedelta(days=span * n // max(1, invoice_count))
        due = posting + timedelta(days=rng.choice(_TERMS))
        amount = Decimal(rng.randrange(20_00, 9_000_00)) / 100
        tax = (amount * Decimal("0.06")).quantize(Decimal("0.01"))
        when = datetime.combine(posting, datetime.min.time(), UTC) + timedelta(seconds=n % 86_000)
        posted.append(company.post_invoice(customer, f"103{n + 1:06d}", posting, due, amount, tax, when=when))
    # About two thirds of the older invoices were paid, some partly; a few payments are unapplied.
    for n, invoice in enumerate(posted):
        entry = company.entries[invoice["_entry"]]
        if invoice["dueDate"] > today - timedelta(days=10) or rng.random() > 0.66:
            continue
        customer = company.customers[invoice["customerId"]]
        paid = (
            entry["remainingAmount"]
            if rng.random() > 0.1
            else (entry["remainingAmount"] / 2).quantize(Decimal("0.01"))
        )
        day = min(today - timedelta(days=1), invoice["dueDate"] + timedelta(days=rng.randrange(-10, 20)))
        when = datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=n % 86_000)
        company.add_entry(
            customer,
            when=when,
            documentType="Payment",
            documentNumber=f"PMT{n + 1:07d}",
            postingDate=day,
            dueDate=day,
            description=f"Payment {invoice['number']}",
            amount=-paid,
            remainingAmount=Decimal(0),
        )
        company.apply(entry, paid, when=when)
        company.stamp(invoice, when=when)
    for n in range(max(1, invoice_count // 25)):
        customer = people[rng.randrange(len(people))]
        day = today - timedelta(days=rng.randrange(2, 60))
        amount = Decimal(rng.randrange(100_00, 3_000_00)) / 100
        when = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12, seconds=n)
        company.add_entry(
            customer,
            when=when,
            documentType="Payment",
            documentNumber=f"PMU{n + 1:07d}",
            postingDate=day,
            dueDate=day,
            description="Unapplied payment",
            externalDocumentNumber=f"BANK{n + 1:06d}",
            amount=-amount,
            remainingAmount=-amount,
        )
    for n in range(max(1, invoice_count // 50)):
        invoice = posted[rng.randrange(len(posted))]
        customer = company.customers[invoice["customerId"]]
        day = min(today - timedelta(days=1), invoice["postingDate"] + timedelta(days=7))
        amount = (invoice["totalAmountIncludingTax"] / 10).quantize(Decimal("0.01"))
        when = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=13, seconds=n)
        company.post_credit_memo(customer, f"104{n + 1:06d}", day, amount, invoice, when=when)
    for n in range(2):
        company.draft_invoice(people[n % len(people)], f"DRAFT-{n + 1}", today, Decimal("250.00") * (n + 1))
