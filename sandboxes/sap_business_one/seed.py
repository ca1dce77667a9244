"""Seed data: a wholesaler's A/R in SAP Business One (``demo``), none (``empty``), or many (``large``)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sandboxes.sap_business_one.company import Company

__all__ = ["SEEDS", "seed_company"]

SEEDS = ("demo", "empty", "large")
CUSTOMERS = [
    ("C20000", "Kessler Bäckerei GmbH", "EUR", "DE", "einkauf@kessler-baeckerei.de"),
    ("C20010", "Aldgate Logistics Ltd", "GBP", "GB", "ap@aldgate-logistics.co.uk"),
    ("C23900", "Blue Fern Café LLC", "USD", "US", "books@bluefern.example"),
    ("C30000", "Maison Duval SARL", "EUR", "FR", "compta@maisonduval.fr"),
    ("C40000", "Nordlicht Apotheke OHG", "EUR", "DE", "buchhaltung@nordlicht-apotheke.de"),
]
SUPPLIERS = [("V10000", "Acme Packaging AG", "EUR", "CH", "billing@acme-packaging.ch")]
#: Each partner's bill-to address: street (with the house number, as most B1 users type it),
#: building/floor/room, ZIP code, city, state.
ADDRESSES = {
    "C20000": ("Lindenstraße 12", "", "10969", "Berlin", ""),
    "C20010": ("14 Minories", "Unit 3", "EC3N 1BJ", "London", ""),
    "C23900": ("2201 Westlake Avenue", "Suite 110", "98121", "Seattle", "WA"),
    "C30000": ("18 rue de la République", "", "69002", "Lyon", ""),
    "C40000": ("Große Elbstraße 145", "", "22767", "Hamburg", ""),
    "V10000": ("Bahnhofstrasse 21", "", "8001", "Zürich", ""),
}
#: The ``large`` seed's German customers: streets and places to combine.
_STREETS = ["Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenweg", "Industriestraße"]
_PLACES = [("80331", "München"), ("50667", "Köln"), ("70173", "Stuttgart"), ("04109", "Leipzig")]


def _partner(
    company: Company, code: str, name: str, cur: str, country: str, mail: str, kind: str, when: datetime
) -> None:
    record: dict[str, Any] = {
        "CardCode": code,
        "CardName": name,
        "CardType": kind,
        "Currency": cur,
        "Country": country,
        "EmailAddress": mail,
        "Phone1": None,
        "CreditLimit": 25000.0,
        "CurrentAccountBalance": 0.0,
        "PayTermsGrpCode": 1,
        "Valid": "tYES",
        "Frozen": "tNO",
        "BlockDunning": "tNO",
        "CreateDate": when.strftime("%Y-%m-%dT00:00:00Z"),
    }
    street, building, zip_code, city, state = ADDRESSES.get(code) or _large_address(int(code[1:]))
    # The bill-to address B1 keeps in BPAddresses, and a ship-to (the goods entrance) beside it.
    record["BPAddresses"] = [
        {
            "AddressName": "Bill To",
            "AddressType": "bo_BillTo",
            "Street": street,
            "BuildingFloorRoom": building,
            "ZipCode": zip_code,
            "City": city,
            "State": state,
            "County": "",
            "Block": "",
            "Country": country,
            "BPCode": code,
            "RowNum": 0,
        },
        {
            "AddressName": "Warehouse",
            "AddressType": "bo_ShipTo",
            "Street": street,
            "BuildingFloorRoom": "Goods receiving, gate 2",
            "ZipCode": zip_code,
            "City": city,
            "State": state,
            "County": "",
            "Block": "",
            "Country": country,
            "BPCode": code,
            "RowNum": 1,
        },
    ]
    record["BilltoDefault"] = "Bill To"
    record["ShipToDefault"] = "Warehouse"
    company.copy_bill_to(record)
    company.stamp(record, when)
    company.tables["BusinessPartners"][code] = record


def _large_address(n: int) -> tuple[str, str, str, str, str]:
    zip_code, city = _PLACES[n % len(_PLACES)]
    return f"{_STREETS[n % len(_STREETS)]} {n % 180 + 1}", "", zip_code, city, ""


def _document(
    company: Company, table: str, card: str, total: float, issued: datetime, days: int, ref: str
) -> dict[str, Any]:
    entry = company.next_entry(table)
    partner = company.tables["BusinessPartners"][card]
    record: dict[str, Any] = {
        "DocEntry": entry,
        "DocNum": (1_000_000 if table == "Invoices" else 2_000_000) + entry,
        "DocType": "dDocument_Items",
        "DocDate": issued.strftime("%Y-%m-%dT00:00:00Z"),
        "DocDueDate": (issued + timedelta(days=days)).strftime("%Y-%m-%dT00:00:00Z"),
        "CardCode": card,
        "CardName": partner["CardName"],
        "NumAtCard": ref,
        "DocCurrency": partner["Currency"],
        "DocTotal": round(total, 2),
        "PaidToDate": 0.0,
        "DocumentStatus": "bost_Open",
        "Cancelled": "tNO",
        "BlockDunning": "tNO",
        "Comments": None,
        "CreationDate": issued.strftime("%Y-%m-%dT00:00:00Z"),
        "DocumentLines": [
            {
                "LineNum": 0,
                "ItemCode": "A1000",
                "ItemDescription": "Goods as ordered",
                "Quantity": 1.0,
                "Price": round(total, 2),
                "LineTotal": round(total, 2),
            }
        ],
    }
    company.stamp(record, issued)
    company.tables[table][entry] = record
    return record


def seed_company(company: Company, seed: str, invoices: int | None = None) -> None:
    """Fill ``company``; ``invoices`` sizes the ``large`` seed (default 2,000)."""
    if seed not in SEEDS:
        raise ValueError(f"unknown seed {seed!r}: one of {', '.join(SEEDS)}")
    if seed == "empty":
        return
    now = company.clock()
    start = now - timedelta(days=120)
    for code, name, cur, country, mail in CUSTOMERS:
        _partner(company, code, name, cur, country, mail, "cCustomer", start)
    for code, name, cur, country, mail in SUPPLIERS:
        _partner(company, code, name, cur, country, mail, "cSupplier", start)
    rng = random.Random(17)
    count = (invoices or 2000) if seed == "large" else 15
    codes = [c[0] for c in CUSTOMERS]
    if seed == "large":
        for n in range(count // 50):
            code = f"C{50000 + n}"
            _partner(
                company, code, f"Customer {n:05d} GmbH", "EUR", "DE", f"ap{n}@example.com", "cCustomer", start
            )
            codes.append(code)
    for n in range(count):
        issued = start + timedelta(days=n * 110 / count, minutes=n % 600)
        card = codes[n % len(codes)]
        _document(
            company, "Invoices", card, rng.randrange(12_000, 480_000) / 100, issued, 30, f"PO-{4500 + n}"
        )
    for n in range(max(5, count // 10)):
        issued = start + timedelta(days=20 + n)
        _document(
            company,
            "CreditNotes",
            codes[n % len(codes)],
            rng.randrange(2_000, 20_000) / 100,
            issued,
            0,
            f"RMA-{n}",
        )
    # Some customers paid some invoices in full, one paid part of one.
    paid = [d for d in company.tables["Invoices"].values() if d["DocEntry"] % 3 == 1][: max(5, count // 8)]
    for n, doc in enumerate(paid):
        amount = doc["DocTotal"] if n % 3 else round(doc["DocTotal"] / 2, 2)
        company.add_payment(
            {
                "CardCode": doc["CardCode"],
                "DocDate": doc["DocDueDate"],
                "TransferSum": amount,
                "TransferAccount": "_SYS00000000103",
                "TransferReference": f"BANK-{7700 + n}",
                "DocCurrency": doc["DocCurrency"],
                "PaymentInvoices": [
                    {"DocEntry": doc["DocEntry"], "SumApplied": amount, "InvoiceType": "it_Invoice"}
                ],
            }
        )
