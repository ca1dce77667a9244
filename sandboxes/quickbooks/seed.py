"""Seed data: a realistic small business (``demo``), nothing (``empty``) or many invoices (``large``).

The demo company is built by replaying its history through the same write rules the API uses,
with the clock moved back to each event, so balances, links, SyncTokens and LastUpdatedTimes are
exactly what QuickBooks would show. All dates are relative to the server's clock, so every aging
bucket (current, 1–30, 31–60, 61–90, 90+ days past due) is always populated.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sandboxes.quickbooks.company import Company, Table, money

TERMS = [("1", "Due on receipt", 0), ("2", "Net 15", 15), ("3", "Net 30", 30), ("4", "Net 60", 60)]

CUSTOMERS = [
    ("Amy's Bird Sanctuary", "Amy", "Lauterbach", "Bayshore", "CA", "94326"),
    ("Bill's Windsurf Shop", "Bill", "Lucchini", "Half Moon Bay", "CA", "94213"),
    ("Cool Cars", "Grace", "Pariente", "Half Moon Bay", "CA", "94213"),
    ("Diego Rodriguez Landscaping", "Diego", "Rodriguez", "Menlo Park", "CA", "94025"),
    ("Dukes Basketball Camp", "Peter", "Dukes", "Sunnyvale", "CA", "94086"),
    ("Dylan Sollfrank Design", "Dylan", "Sollfrank", "Palo Alto", "CA", "94303"),
    ("Freeman Sporting Goods", "Kirby", "Freeman", "Middlefield", "CA", "94482"),
    ("Geeta Kalapatapu Consulting", "Geeta", "Kalapatapu", "Middlefield", "CA", "94303"),
    ("Gevelber Photography", "Lisa", "Gevelber", "San Jose", "CA", "94303"),
    ("Jeff's Jalopies", "Jeff", "Chin", "San Mateo", "CA", "94401"),
    ("John Melton Plumbing", "John", "Melton", "Palo Alto", "CA", "94303"),
    ("Kate Whelan Architects", "Kate", "Whelan", "Palo Alto", "CA", "94303"),
    ("Kookies by Kathy", "Kathy", "Kuplis", "Middlefield", "CA", "94303"),
    ("Mark Cho Studio", "Mark", "Cho", "Middlefield", "CA", "94303"),
    ("Paulsen Medical Supplies", "Kathy", "Paulsen", "Middlefield", "CA", "94303"),
    ("Pye's Cakes", "Karen", "Pye", "South Orange", "NJ", "07079"),
    ("Rago Travel Agency", "Nicola", "Rago", "Bayshore", "CA", "94326"),
    ("Red Rock Diner", "Stephanie", "Martini", "Bayshore", "CA", "94326"),
    ("Rondonuwu Fruit and Vegi", "Shara", "Barnett", "Middlefield", "CA", "94303"),
    ("Shara Barnett Salon", "Shara", "Barnett", "Middlefield", "CA", "94303"),
    ("Sonnenschein Family Store", "Russ", "Sonnenschein", "Middlefield", "CA", "94303"),
    ("Sushi by Katsuyuki", "Kaori", "Katsuyuki", "Palo Alto", "CA", "94303"),
    ("Travis Waldron Builders", "Travis", "Waldron", "Monlo Park", "CA", "94304"),
    ("Video Games by Dan", "Dan", "Ferguson", "Middlefield", "CA", "94303"),
    ("Wedding Planning by Whitney", "Whitney", "Tyler", "Middlefield", "CA", "94303"),
]
INACTIVE = {"Mark Cho Studio", "Rago Travel Agency", "Shara Barnett Salon"}

ITEMS = [
    ("1", "Consulting", Decimal("150.00")),
    ("2", "Installation", Decimal("75.00")),
    ("3", "Maintenance plan", Decimal("240.00")),
    ("4", "Design", Decimal("95.00")),
    ("5", "Hardware kit", Decimal("420.00")),
]

# Days past due at "now" for each aging bucket: current (not yet due), 1-30, 31-60, 61-90, 90+.
BUCKETS = [(-14, 0), (1, 30), (31, 60), (61, 90), (91, 240)]


def _at(day: datetime, rng: random.Random) -> datetime:
    return datetime.combine(
        day.date(), time(8 + rng.randrange(9), rng.randrange(60), rng.randrange(60)), tzinfo=day.tzinfo
    )


class _Replay:
    """Runs writes with the company clock set to each event's time."""

    def __init__(self, company: Company) -> None:
        self.company = company
        self.real_clock = company.clock
        self.events: list[tuple[datetime, int, Callable[[], None]]] = []

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        self.events.append((when, len(self.events), action))

    def run(self) -> None:
        for when, _, action in sorted(self.events, key=lambda e: (e[0], e[1])):
            self.company.clock = lambda when=when: when  # type: ignore[misc]
            action()
        self.company.clock = self.real_clock


def seed_terms(company: Company, start: datetime) -> None:
    """The company's payment terms (Term is a list entity: its own Id sequence)."""
    stamp = company.stamp(start)
    for ident, name, days in TERMS:
        record = {
            "domain": "QBO",
            "sparse": False,
            "Id": ident,
            "SyncToken": "0",
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
            "Name": name,
            "Active": True,
            "Type": "STANDARD",
            "DueDays": days,
        }
        company.put("Term", record)
    company.next_list_id["Term"] = len(TERMS) + 1


def seed_company_info(company: Company, start: datetime) -> None:
    """The CompanyInfo record apps read to check a connection."""
    stamp = company.stamp(start)
    company.put(
        "CompanyInfo",
        {
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "3",
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
            "CompanyName": "Craig's Design and Landscaping Services",
            "LegalName": "Craig's Design and Landscaping Services",
            "CompanyAddr": {
                "Id": "1",
                "Line1": "123 Sierra Way",
                "City": "San Pablo",
                "CountrySubDivisionCode": "CA",
                "PostalCode": "87999",
            },
            "CompanyEmailAddr": {"Address": "noreply@quickbooks.com"},
            "PrimaryPhone": {"FreeFormNumber": "(650) 555-1234"},
            "CompanyStartDate": start.date().isoformat(),
            "Country": "US",
            "DefaultTimeZone": "America/Los_Angeles",
        },
    )


def _lines(rng: random.Random, count: int) -> list[dict[str, Any]]:
    lines = []
    for item_id, name, price in rng.sample(ITEMS, count):
        qty = Decimal(rng.choice([1, 1, 2, 3, 4, 5, 8, 10]))
        lines.append(
            {
                "Description": name,
                "Amount": money(price * qty),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": item_id, "name": name},
                    "UnitPrice": price,
                    "Qty": qty,
                    "TaxCodeRef": {"value": "NON"},
                },
            }
        )
    return lines


def seed_demo(company: Company, invoices: int = 120) -> None:
    """A realistic small business: customers with terms, invoices in every aging bucket, partial and
    unapplied payments, credit memos, a few inactive customers."""
    rng = random.Random(20240501)
    now = company.now()
    start = now - timedelta(days=400)
    seed_terms(company, start)
    seed_company_info(company, start)
    replay = _Replay(company)
    customer_ids: dict[str, str] = {}

    for index, (company_name, given, family, city, state, postal) in enumerate(CUSTOMERS):
        term_id = ["2", "3", "3", "4"][index % 4] if index % 9 else "1"
        slug = company_name.lower().replace("'", "").replace(" ", "")[:18]
        body = {
            "GivenName": given,
            "FamilyName": family,
            "CompanyName": company_name,
            "DisplayName": company_name,
            "PrimaryEmailAddr": {"Address": f"ar@{slug}.example.com"},
            "PrimaryPhone": {"FreeFormNumber": f"(650) 555-{1000 + index * 37:04d}"},
            "BillAddr": {
                "Line1": f"{100 + index * 17} Main St.",
                "City": city,
                "CountrySubDivisionCode": state,
                "PostalCode": postal,
                "Country": "USA",
            },
            "SalesTermRef": {"value": term_id},
            "Taxable": False,
            "PreferredDeliveryMethod": "Email",
        }

        def create_customer(body: dict[str, Any] = body, name: str = company_name) -> None:
            customer_ids[name] = company.save("Customer", body)["Id"]

        replay.at(_at(start + timedelta(days=index), rng), create_customer)

    active = [c[0] for c in CUSTOMERS if c[0] not in INACTIVE]
    term_days = {name: days for _, name, days in TERMS}
    term_of = {
        c[0]: ["Net 15", "Net 30", "Net 30", "Net 60"][i % 4] if i % 9 else "Due on receipt"
        for i, c in enumerate(CUSTOMERS)
    }
    invoice_ids: dict[int, str] = {}

    for number in range(invoices):
        # Inactive customers only have old, settled invoices.
        name = rng.choice(sorted(INACTIVE)) if number % 17 == 5 else active[number % len(active)]
        days = term_days[term_of[name]]
        settled = name in INACTIVE or rng.random() < 0.35
        if settled:
            past_due = rng.randrange(10, 300)
        else:
            low, high = BUCKETS[number % len(BUCKETS)]
            past_due = rng.randint(low, high)
        due = (now - timedelta(days=past_due)).replace(hour=12)
        txn = due - timedelta(days=days)
        if txn > now:
            txn = now - timedelta(days=1)
        lines = _lines(rng, 1 + (number % 3))
        created = _at(txn, rng)
        if created > now:
            created = now - timedelta(hours=2)
        partial = not settled and number % 4 == 1

        def create_invoice(
            number: int = number,
            name: str = name,
            lines: list[dict[str, Any]] = lines,
            txn: datetime = txn,
            due: datetime = due,
        ) -> None:
            record = company.save(
                "Invoice",
                {
                    "CustomerRef": {"value": customer_ids[name]},
                    "TxnDate": txn.date().isoformat(),
                    "DueDate": due.date().isoformat(),
                    "Line": lines,
                    "DocNumber": str(1001 + number),
                    "CustomerMemo": {"value": "Thank you for your business!"},
                },
            )
            invoice_ids[number] = record["Id"]
            company.next_doc_number = max(company.next_doc_number, 1002 + number)

        replay.at(created, create_invoice)
        if settled or partial:
            paid_at = created + timedelta(days=rng.randrange(3, 40))
            if paid_at >= now:
                paid_at = now - timedelta(hours=1 + number % 20)
            paid_at = max(paid_at, created + timedelta(minutes=5))
            total = sum((line["Amount"] for line in lines), Decimal("0"))
            amount = total if settled else money(total * Decimal(rng.choice(["0.25", "0.4", "0.5"])))
            extra = Decimal("0") if number % 11 else Decimal("125.00")  # a few overpayments stay unapplied

            def pay(
                number: int = number,
                name: str = name,
                amount: Decimal = amount,
                extra: Decimal = extra,
                method: str = rng.choice(["Check", "ACH", "Credit Card"]),
            ) -> None:
                company.save(
                    "Payment",
                    {
                        "CustomerRef": {"value": customer_ids[name]},
                        "TotalAmt": amount + extra,
                        "PaymentRefNum": f"{method[:2].upper()}{4000 + number}",
                        "Line": [
                            {
                                "Amount": amount,
                                "LinkedTxn": [{"TxnId": invoice_ids[number], "TxnType": "Invoice"}],
                            }
                        ],
                    },
                )

            replay.at(paid_at, pay)

    # Payments received without remittance advice: unapplied until someone matches them.
    for index in range(4):
        name = active[(index * 5 + 2) % len(active)]
        when = now - timedelta(days=3 + index * 6, hours=index)
        amount = money(Decimal(rng.choice([180, 350, 499.5, 1200])))

        def unapplied(name: str = name, amount: Decimal = amount, index: int = index) -> None:
            company.save(
                "Payment",
                {
                    "CustomerRef": {"value": customer_ids[name]},
                    "TotalAmt": amount,
                    "PaymentRefNum": f"WIRE{7700 + index}",
                    "PrivateNote": "Remittance advice missing",
                },
            )

        replay.at(when, unapplied)

    # Credit memos: some still open, one used in a payment together with an invoice.
    for index in range(5):
        name = active[(index * 3 + 1) % len(active)]
        when = now - timedelta(days=20 + index * 9, hours=3)
        lines = [
            {
                "Description": "Service credit",
                "Amount": money(Decimal(60 + index * 45)),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "1", "name": "Consulting"},
                    "TaxCodeRef": {"value": "NON"},
                },
            }
        ]

        def credit(name: str = name, lines: list[dict[str, Any]] = lines, index: int = index) -> None:
            memo = company.save(
                "CreditMemo",
                {
                    "CustomerRef": {"value": customer_ids[name]},
                    "Line": lines,
                    "DocNumber": f"CM-{501 + index}",
                    "PrivateNote": "Goodwill credit for delayed install",
                },
            )
            if index != 0:
                return
            open_invoices = [
                inv
                for inv in company.tables["Invoice"].values()
                if inv["CustomerRef"]["value"] == customer_ids[name] and inv["Balance"] > memo["TotalAmt"]
            ]
            if open_invoices:
                target = open_invoices[0]
                later = company.now() + timedelta(hours=2)
                company.clock = lambda: later
                company.save(
                    "Payment",
                    {
                        "CustomerRef": {"value": customer_ids[name]},
                        "TotalAmt": target["Balance"] - memo["TotalAmt"],
                        "Line": [
                            {
                                "Amount": target["Balance"],
                                "LinkedTxn": [{"TxnId": target["Id"], "TxnType": "Invoice"}],
                            },
                            {
                                "Amount": memo["TotalAmt"],
                                "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}],
                            },
                        ],
                    },
                )

        replay.at(when, credit)

    for name in sorted(INACTIVE):

        def deactivate(name: str = name) -> None:
            customer = company.get("Customer", customer_ids[name])
            company.save(
                "Customer",
                {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "Active": False},
            )

        replay.at(now - timedelta(days=5), deactivate)
    replay.run()


def seed_large(company: Company, records: int) -> None:
    """``records`` invoices generated on demand from their number (deterministic, cheap in memory)."""
    now = company.now()
    start = now - timedelta(days=29)
    seed_terms(company, now - timedelta(days=400))
    seed_company_info(company, now - timedelta(days=400))
    customers = max(25, records // 50)
    for index in range(customers):
        stamp = company.stamp(now - timedelta(days=30))
        ident = str(index + 1)
        company.put(
            "Customer",
            {
                "domain": "QBO",
                "sparse": False,
                "Id": ident,
                "SyncToken": "0",
                "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
                "DisplayName": f"Customer {index + 1:06d}",
                "CompanyName": f"Customer {index + 1:06d}",
                "FullyQualifiedName": f"Customer {index + 1:06d}",
                "Active": True,
                "PrimaryEmailAddr": {"Address": f"ar{index + 1}@customer.example.com"},
                "SalesTermRef": {"value": "3"},
                "Balance": Decimal("0.00"),
                "BalanceWithJobs": Decimal("0.00"),
                "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            },
        )
    company.next_list_id["Customer"] = customers + 1
    span = (now - start).total_seconds() - 60
    step = span / max(records, 1)

    def amount_of(number: int) -> Decimal:
        return money(Decimal(100 + (number * 7919) % 9900) + Decimal(number % 100) / 100)

    def invoice(number: int) -> dict[str, Any]:
        stamp = company.stamp(start + timedelta(seconds=step * (number - 1)))
        past_due = (number * 37) % 200 - 20
        due = (now - timedelta(days=past_due)).date()
        amount = amount_of(number)
        customer = str((number - 1) % customers + 1)
        return {
            "domain": "QBO",
            "sparse": False,
            "Id": str(number),
            "SyncToken": "0",
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
            "CustomField": [
                {"DefinitionId": d, "Name": n, "Type": "StringType"} for d, n in company.custom_fields.items()
            ],
            "DocNumber": str(100000 + number),
            "TxnDate": (due - timedelta(days=30)).isoformat(),
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "LinkedTxn": [],
            "Line": [
                {
                    "Id": "1",
                    "LineNum": 1,
                    "Description": "Consulting",
                    "Amount": amount,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": "1", "name": "Consulting"},
                        "TaxCodeRef": {"value": "NON"},
                    },
                },
                {"Amount": amount, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
            ],
            "CustomerRef": {"value": customer, "name": f"Customer {int(customer):06d}"},
            "SalesTermRef": {"value": "3"},
            "DueDate": due.isoformat(),
            "TotalAmt": amount,
            "PrintStatus": "NotSet",
            "EmailStatus": "NotSet",
            "Balance": amount,
            "Deposit": 0,
            "AllowIPNPayment": False,
            "AllowOnlinePayment": False,
            "AllowOnlineCreditCardPayment": False,
            "AllowOnlineACHPayment": False,
        }

    company.tables["Invoice"] = Table(range(1, records + 1), invoice)
    entries = company.order["Invoice"]
    for number in range(1, records + 1):
        entries.append(
            (
                datetime.fromisoformat(
                    company.stamp(start + timedelta(seconds=step * (number - 1)))
                ).timestamp(),
                number,
            )
        )
    entries.sort()
    balances: dict[str, Decimal] = {}
    for number in range(1, records + 1):
        key = str((number - 1) % customers + 1)
        balances[key] = balances.get(key, Decimal("0")) + amount_of(number)
    for key, balance in balances.items():
        customer = company.tables["Customer"][key]
        customer["Balance"] = customer["BalanceWithJobs"] = balance
    company.next_txn_id = records + 1
    company.next_doc_number = 100001 + records


def seed(company: Company, kind: str, records: int | None = None) -> None:
    """Fill a company with one of the seeds.

    Raises:
        ValueError: an unknown seed name.
    """
    if kind == "empty":
        now = company.now()
        seed_terms(company, now - timedelta(days=400))
        seed_company_info(company, now - timedelta(days=400))
    elif kind == "demo":
        seed_demo(company, records or 120)
    elif kind == "large":
        seed_large(company, records or 10_000)
    else:
        raise ValueError(f"unknown seed {kind!r}; expected demo, empty or large")
