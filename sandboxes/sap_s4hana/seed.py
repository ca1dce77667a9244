"""A seeded company: customers in several company codes and currencies, with a year of AR history.

Invoices are posted as SAP's billing does (document type DR, the billing document number in the
assignment and the reference), credit memos as DG, incoming payments as DZ. Some invoices are paid
and cleared, some partly paid (a partial payment pointing at the invoice through InvoiceReference),
some open and overdue; some customers have a payment on account and an open credit memo.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sandboxes.sap_s4hana.book import Book, PostedLine, Posting

__all__ = ["SEEDS", "seed_book"]

SEEDS = ("demo", "empty", "large")
COMPANY_CODES = {
    "1010": ("Company Code 1010", "EUR"),
    "1710": ("Company Code 1710", "USD"),
    "4510": ("Company Code 4510", "GBP"),
}
REVENUE_GL = "41000000"
BANK_GL = "11001020"
DUNNING_PROCEDURE = "0001"
_NAMES = [
    "Mueller Maschinenbau GmbH",
    "Inlandkunde DE 2",
    "Domestic US Customer 1",
    "Bike Store Bayern",
    "Nordic Office Supplies AB",
    "Acme Industrial Ltd",
    "Schmidt Elektro KG",
    "Pacific Retail Inc.",
    "Thames Valley Logistics Ltd",
    "Lyon Optique SARL",
    "Hamburg Hafen Service GmbH",
    "Great Lakes Foods LLC",
]


def _customer_number(n: int) -> str:
    return f"{10100001 + n:08d}"


# A postal address per company code's country: street, house number, postal code, city, region, country.
_ADDRESSES = {
    "1010": ("Hafenstrasse", "Hamburg", "20457", "HH", "DE"),
    "1710": ("Market Street", "San Francisco", "94105", "CA", "US"),
    "4510": ("Thames Street", "Reading", "RG1 1AA", "", "GB"),
}


def add_customer(
    book: Book, number: str, name: str, company_codes: list[str], *, address: bool = True
) -> None:
    """Create a customer with company-code data and a dunning record (blank dunning area) per code.

    Its business partner (same number, as S/4HANA numbers both alike by default) gets a postal
    address in the country of its first company code, unless ``address`` is False.
    """
    if address:
        street, city, postal, region, country = _ADDRESSES.get(company_codes[0], _ADDRESSES["1010"])
        book.put(
            "A_BusinessPartnerAddress",
            (number, "1"),
            {
                "BusinessPartner": number,
                "AddressID": "1",
                "FullName": name,
                "StreetName": street,
                "HouseNumber": str(int(number) % 97 + 1),
                "PostalCode": postal,
                "CityName": city,
                "Region": region,
                "Country": country,
                "Language": "EN",
            },
        )
    book.put(
        "A_Customer",
        (number,),
        {
            "Customer": number,
            "CustomerName": name,
            "CustomerFullName": name,
            "CustomerAccountGroup": "CUST",
            "CreationDate": datetime(2022, 1, 10),
            "CreatedByUser": "CB9980000001",
            "DeletionIndicator": False,
            "PostingIsBlocked": False,
            "OrderIsBlockedForCustomer": "",
            "DeliveryIsBlocked": "",
            "BillingIsBlockedForCustomer": "",
            "AuthorizationGroup": "",
            "VATRegistration": "",
        },
    )
    for code in company_codes:
        book.put(
            "A_CustomerCompany",
            (number, code),
            {
                "Customer": number,
                "CompanyCode": code,
                "PaymentTerms": "0004",
                "ReconciliationAccount": "12100000",
                "AccountingClerk": "01",
                "CustomerAccountNote": "",
                "PaymentBlockingReason": "",
                "DeletionIndicator": False,
                "CustomerAccountGroup": "CUST",
            },
        )
        book.put(
            "A_CustomerDunning",
            (number, code, ""),
            {
                "Customer": number,
                "CompanyCode": code,
                "DunningArea": "",
                "DunningBlock": "",
                "DunningLevel": "0",
                "DunningProcedure": DUNNING_PROCEDURE,
                "DunningRecipient": "",
                "LastDunnedOn": None,
                "LegDunningProcedureOn": None,
                "DunningClerk": "01",
                "AuthorizationGroup": "",
                "CustomerAccountGroup": "CUST",
            },
        )


def post_invoice(
    book: Book,
    customer: str,
    code: str,
    amount: Decimal,
    date: datetime,
    *,
    days: int = 30,
    billing: str,
) -> tuple[str, str, str, str]:
    """Post a customer invoice (DR); returns the customer item's key."""
    currency = COMPANY_CODES[code][1]
    cc, year, doc = book.post(
        Posting(
            company_code=code,
            document_type="DR",
            posting_date=date,
            document_date=date,
            currency=currency,
            document_reference=billing,
            entry_date=date,
            lines=[
                PostedLine(
                    amount=amount,
                    customer=customer,
                    assignment=billing,
                    due_date=date + timedelta(days=days),
                    billing_document=billing,
                ),
                PostedLine(amount=-amount, gl_account=REVENUE_GL, assignment=billing),
            ],
        )
    )
    return cc, year, doc, "001"


def post_payment(
    book: Book,
    customer: str,
    code: str,
    amount: Decimal,
    date: datetime,
    *,
    assignment: str,
    invoice: tuple[str, str, str, str] | None = None,
    document_type: str = "DZ",
) -> tuple[str, str, str, str]:
    """Post an incoming payment (DZ) or a credit memo (DG): the customer line is a credit."""
    currency = COMPANY_CODES[code][1]
    cc, year, doc = book.post(
        Posting(
            company_code=code,
            document_type=document_type,
            posting_date=date,
            document_date=date,
            currency=currency,
            document_reference=assignment[:16],
            entry_date=date,
            lines=[
                PostedLine(
                    amount=-amount,
                    customer=customer,
                    assignment=assignment,
                    invoice_reference=(invoice[1], invoice[2], invoice[3]) if invoice else None,
                ),
                PostedLine(amount=amount, gl_account=BANK_GL if document_type == "DZ" else REVENUE_GL),
            ],
        )
    )
    return cc, year, doc, "001"


def seed_book(book: Book, seed: str = "demo", *, invoices: int | None = None, rng_seed: int = 7) -> None:
    """Fill ``book`` with the ``seed`` data set (``empty`` leaves only the company codes)."""
    if seed not in SEEDS:
        raise ValueError(f"unknown seed {seed!r} (known: {', '.join(SEEDS)})")
    for code, (name, currency) in COMPANY_CODES.items():
        book.add_company_code(code, name, currency)
    if seed == "empty":
        return
    rng = random.Random(rng_seed)
    today = book.today()
    count = invoices if invoices is not None else (36 if seed == "demo" else 5000)
    n_customers = len(_NAMES) if seed == "demo" else max(len(_NAMES), count // 20)
    codes = list(COMPANY_CODES)
    customers: list[tuple[str, list[str]]] = []
    for n in range(n_customers):
        number = _customer_number(n)
        name = _NAMES[n % len(_NAMES)] + ("" if n < len(_NAMES) else f" {n}")
        own = [codes[n % 3]] + ([codes[(n + 1) % 3]] if n % 4 == 0 else [])
        add_customer(book, number, name, own)
        customers.append((number, own))
    billing = 90000000
    for i in range(count):
        number, own = customers[i % len(customers)]
        code = own[i % len(own)]
        billing += 1
        amount = Decimal(rng.randrange(20000, 900000)) / 100
        date = today - timedelta(days=rng.randrange(3, 200))
        invoice = post_invoice(book, number, code, amount, date, billing=str(billing))
        fate = i % 6
        if fate in (0, 1):  # paid and cleared by the payment
            paid_on = date + timedelta(days=rng.randrange(5, 40))
            if paid_on >= today:
                continue
            payment = post_payment(book, number, code, amount, paid_on, assignment=str(billing))
            book.clear_items([invoice, payment], when=paid_on)
        elif fate == 2:  # partly paid
            part = (amount * Decimal("0.4")).quantize(Decimal("0.01"))
            paid_on = min(today - timedelta(days=1), date + timedelta(days=20))
            post_payment(book, number, code, part, paid_on, assignment=str(billing), invoice=invoice)
        elif fate == 3 and i % 12 == 3:  # a credit memo against the invoice, still open
            billing += 1
            credit = (amount * Decimal("0.1")).quantize(Decimal("0.01"))
            post_payment(
                book,
                number,
                code,
                credit,
                date + timedelta(days=2),
                assignment=str(billing),
                invoice=invoice,
                document_type="DG",
            )
        elif fate == 4 and i % 12 == 4:  # a payment on account, not yet applied
            on_account = Decimal(rng.randrange(5000, 50000)) / 100
            post_payment(
                book,
                number,
                code,
                on_account,
                today - timedelta(days=rng.randrange(2, 20)),
                assignment=f"ONACC{billing}",
            )
