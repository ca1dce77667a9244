"""A generator of realistic remittance scenarios with known answers, for the benchmark and the tests.

Customers pay the way customers do: some quote the invoice number cleanly, others write "Inv 1001",
"/INV/1001/", or a bare number with a typo in it; some pay several invoices at once, take an early
payment discount, lose a bank fee on the way, pay part, pay too much, or net a credit memo; some send
no reference at all. Payer names arrive truncated, upper-cased, without the legal form, or as a
trade name; bank accounts with or without spaces. Mixed in: payments no rule should apply
automatically (two identical open invoices, bank interest, refunds, unknown payers, another currency).

The messier situations of real remittance files come in too, each a family with its own share:
remittances listing only some of many invoices (customers with hundreds of open items) or cut off
mid-number, a discount and a fee on one invoice, discounts taken late, credit memos netted unnamed,
payer names two customers share, trading names, statements paid as a whole, keying and OCR noise,
another customer's invoice number, split and duplicate payments, customers with items in two
currencies. A ledger's customers have up to 800 open items.

The proportions follow what AR teams report (roughly a third of receipts are clean "exact amount and
invoice number"); every scenario records the expected decision so accuracy is measured, not assumed.

The truth is what a careful clerk would post, given the open items when the payment is decided
(payments are decided in date order, and a payment the clerk can apply closes what it pays for the
payments after it). A payment is *matchable* when that clerk could post it without asking anyone;
otherwise the right outcome is review, and an automatic application of it counts as wrong. The
clerk's policy, situation by situation:

- quoted numbers decide, in any spelling, with O/l/I read as 0/1, leading zeros, separators and
  line breaks ignored; a number one digit off counts when the amount confirms it, unless the payer
  is known only by name and the number quoted is another customer's open invoice (``typo``,
  ``foreign_number``: then the name may have picked the wrong customer);
- a discount is granted within its period only (``discount``, ``discount_multi``); taken later it
  is not granted and the cash is a partial payment (``discount_late``); a short rest after the
  discount is a bank fee written off (``discount_and_fee``); a payer inside the discount period is
  taken to have used it, so a plain fee short is generated outside the period (``fee_short``);
- credit memos the amount nets, named or not, are netted (``credit_memo``, ``credit_memo_unnamed``);
- money left after the quoted invoices pays the one other open invoice equal to it; if no
  combination of the customer's other open invoices makes it up, it stays on account
  (``overpayment``); if several could (``partly_listed`` with more than one invoice unlisted, or a
  customer with many small items), the clerk asks;
- a payer name that fits two customers that both have an open item the payment fits is not
  decided (``name_collision``); a trading name ("t/a", "dba") is the customer's (``trading_name``);
- a payment of exactly everything open is applied to everything (``whole_balance``); more than every
  open invoice, from a payer known by id or bank account, pays them all and the rest stays on account;
- a second payment quoting an invoice a first one closed is a duplicate: it goes to the one other
  open invoice of that amount, or to review (``duplicate_payment``); two halves of a split payment
  each apply their cash (``split_payment``);
- a payment never touches documents in another currency (``currency_mix``, ``other_currency``).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from rules.cashapp.model import CENT, ZERO, CustomerInfo, MatchResult, OpenDocument, PaymentInput

# Weights per scenario (percent of payments).
SCENARIOS: dict[str, float] = {
    "single_exact": 25,
    "multi_reference": 10,
    "typo": 5,
    "amount_single": 9,
    "amount_subset": 5,
    "discount": 5,
    "fee_short": 4,
    "partial": 4,
    "overpayment": 3,
    "credit_memo": 3,
    "ambiguous": 3,
    "noise": 5,
    "other_currency": 2,
    # The situations of messy real remittance files.
    "partly_listed": 3,
    "discount_and_fee": 1,
    "discount_late": 1.5,
    "discount_multi": 1,
    "credit_memo_unnamed": 2,
    "name_collision": 1.5,
    "trading_name": 1,
    "whole_balance": 2,
    "ocr_noise": 2.5,
    "foreign_number": 1,
    "split_payment": 1,
    "duplicate_payment": 1,
    "currency_mix": 1,
}
# Scenarios no payment of which has a single right answer; others have some that do not.
NOT_MATCHABLE = frozenset({"ambiguous", "noise", "other_currency"})
MAX_OPEN_ITEMS = 800

_SURNAMES = [
    "Mueller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Krueger",
    "Lange",
    "Werner",
    "Lehmann",
    "Keller",
    "Smith",
    "Johnson",
    "Walker",
    "Harris",
    "Lewis",
    "Robinson",
    "Clark",
    "Turner",
    "Parker",
    "Collins",
    "Edwards",
    "Stewart",
    "Morris",
    "Rogers",
    "Cooper",
    "Reed",
    "Bailey",
    "Bell",
    "Murphy",
    "Brooks",
    "Kelly",
    "Howard",
    "Ward",
    "Cox",
    "Watson",
    "Gray",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Dekker",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Dubois",
    "Moreau",
    "Laurent",
    "Girard",
    "Rossi",
    "Russo",
    "Ferrari",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
]
_TRADES = [
    "Maschinenbau",
    "Logistik",
    "Elektrotechnik",
    "Metallbau",
    "Holzbau",
    "Haustechnik",
    "Automation",
    "Kunststoff",
    "Industrial",
    "Supply",
    "Packaging",
    "Foods",
    "Textiles",
    "Chemicals",
    "Plastics",
    "Tooling",
    "Engineering",
    "Freight",
    "Components",
    "Hydraulics",
    "Fasteners",
    "Printing",
    "Electronics",
    "Medical",
    "Pharma",
    "Furniture",
    "Steel",
    "Systems",
    "Solutions",
    "Trading",
    "Distribution",
    "Services",
    "Consulting",
    "Construction",
    "Energy",
]
_PLACES = [
    "Nord",
    "Sued",
    "West",
    "Ost",
    "Rhein",
    "Berlin",
    "Hamburg",
    "Bayern",
    "Atlantic",
    "Pacific",
    "Midwest",
    "Central",
    "Eastern",
    "Western",
    "Northern",
    "Coastal",
    "Valley",
    "Metro",
    "Global",
    "International",
    "Europe",
]
_FORMS = {
    "EUR": ("GmbH", "GmbH & Co. KG", "AG", "B.V.", "S.A.", "S.r.l.", "e.K."),
    "USD": ("Inc.", "LLC", "Corp.", "Co.", "Incorporated"),
    "GBP": ("Ltd", "Limited", "PLC"),
}
_STYLES = (
    "{p}-{n}",
    "{p}-{n}",
    "{p}-{n}",
    "Inv {n}",
    "invoice#{n}",
    "/{p}/{n}/",
    "{n}",
    "{n}",
    "INVOICE NO. {n}",
    "Rechnung Nr. {n}",
    "RE {n}",
    "inv{n}",
    "Invoice {p}-{n}",
    "{p} {n}",
)
_WRAP = (
    "{r}",
    "{r}",
    "PAYMENT {r}",
    "{r} THANK YOU",
    "ACH CREDIT {r}",
    "SEPA {r} KD-NR {c}",
    "PO 45{po} {r}",
    "{r} / {d}",
    "Zahlung {r}",
    "Payment for {r}",
    "{r} CUST {c}",
    "REF {r}",
)
_NO_REF = (
    "",
    "PAYMENT",
    "Invoice payment",
    "SEPA UEBERWEISUNG",
    "ACH CREDIT",
    "WIRE TRANSFER",
    "Zahlung",
    "payment as agreed",
    "KD-NR {c}",
    "REMITTANCE",
)


_TRADE_A = ("Blue", "Golden", "Red", "Silver", "Green", "Old", "Royal", "Little", "Grand", "Lucky", "Copper",
            "Harbor")
_TRADE_B = ("Anchor", "Lion", "Oak", "Mill", "Bridge", "Crown", "Lantern", "Compass", "Kettle", "Fox", "Pine",
            "Swan")
_TRADE_C = ("Cafe", "Bakery", "Diner", "Bistro", "Market", "Outfitters", "Garage", "Studio", "Pantry",
            "Tavern", "Deli", "Workshop")
_TRADE_MARKS = (" t/a ", " T/A ", " trading as ", " dba ", " d/b/a ")
_STATEMENT_REFS = ("balance of account", "Statement payment", "KONTOAUSGLEICH", "ACCOUNT BALANCE", "",
                   "Saldo Ausgleich", "full settlement of account", "PAYMENT")


@dataclass(slots=True)
class Expected:
    """The right decision for one payment: the cash, discount and write-off per document."""

    payment_id: str
    scenario: str
    matchable: bool
    customer_id: str | None
    applications: dict[str, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)
    unapplied: Decimal = ZERO


@dataclass(slots=True)
class ScenarioSet:
    """Customers, open documents and payments, with the expected decision per payment."""

    customers: list[CustomerInfo]
    documents: list[OpenDocument]
    payments: list[PaymentInput]
    expected: dict[str, Expected]
    as_of: date

    def write(self, directory: Path) -> dict[str, Path]:
        """Write the ``arbridge match`` input files; returns their paths by name."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = {n: directory / f"{n}.csv" for n in ("invoices", "payments", "customers")}
        with paths["invoices"].open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(
                (
                    "invoice_id",
                    "customer_id",
                    "number",
                    "doc_type",
                    "currency",
                    "total",
                    "open_amount",
                    "issue_date",
                    "due_date",
                    "discount_percent",
                    "discount_days",
                )
            )
            w.writerows(
                (
                    d.doc_id,
                    d.customer_id,
                    d.number,
                    d.kind,
                    d.currency,
                    d.total,
                    d.open_amount,
                    d.issue_date,
                    d.due_date or "",
                    "" if d.discount_percent is None else d.discount_percent,
                    "" if d.discount_days is None else d.discount_days,
                )
                for d in self.documents
            )
        with paths["payments"].open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(
                (
                    "payment_id",
                    "date",
                    "amount",
                    "currency",
                    "customer_id",
                    "payer_name",
                    "payer_account",
                    "reference",
                )
            )
            w.writerows(
                (
                    p.payment_id,
                    p.date,
                    p.amount,
                    p.currency,
                    p.customer_id or "",
                    p.payer_name or "",
                    p.payer_account or "",
                    p.reference or "",
                )
                for p in self.payments
            )
        with paths["customers"].open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(("customer_id", "name", "bank_accounts", "aliases"))
            w.writerows(
                (c.customer_id, c.name, ";".join(c.bank_accounts), ";".join(c.aliases))
                for c in self.customers
            )
        return paths


class _Builder:
    def __init__(self, rng: random.Random, as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of
        self.customers: list[CustomerInfo] = []
        self.currency: dict[str, str] = {}
        self.names: set[str] = set()
        self.docs: list[OpenDocument] = []
        self.free: dict[str, list[OpenDocument]] = {}
        self.memos: dict[str, list[OpenDocument]] = {}
        self.used: set[str] = set()
        self.inv_seq = 100000
        self.cm_seq = 20000
        self.trading: dict[str, str] = {}
        self.last_mode = ""
        self.big: list[CustomerInfo] = []
        self.by_key: dict[str, OpenDocument] = {}

    # -- master data ------------------------------------------------------------------------------

    def account(self, currency: str) -> str:
        r = self.rng
        if currency == "USD":
            return f"{r.randint(10**8, 10**9 - 1)}{r.randint(10**7, 10**8 - 1)}"
        country = "GB" if currency == "GBP" else r.choice(("DE", "NL", "FR", "AT", "IT"))
        return f"{country}{r.randint(10, 99)}{r.randint(10**17, 10**18 - 1)}"

    def customer(self, n: int) -> CustomerInfo:
        r = self.rng
        currency = r.choices(("EUR", "USD", "GBP"), (60, 35, 5))[0]
        for _ in range(50):
            shape = r.random()
            words = [r.choice(_SURNAMES), r.choice(_TRADES)]
            if shape < 0.45:
                words[0] += " & " + r.choice(_SURNAMES)
            elif shape < 0.8:
                words.append(r.choice(_PLACES))
            base = " ".join(words)
            # Two customers of one company rarely share a name; near-misses ("Koch Pharma" and
            # "Koch Pharma Nord") are kept, exact repeats are not.
            if base not in self.names:
                break
        return self.new_customer(n, base, currency, words)

    def new_customer(self, n: int, base: str, currency: str, words: list[str]) -> CustomerInfo:
        r = self.rng
        self.names.add(base)
        name = base + " " + r.choice(_FORMS[currency])
        cid = f"C{n:06d}"
        if r.random() < 0.03:
            # A business trading under another name pays under that name.
            for _ in range(20):
                trade = f"{r.choice(_TRADE_A)} {r.choice(_TRADE_B)} {r.choice(_TRADE_C)}"
                if trade not in self.names:
                    self.names.add(trade)
                    self.trading[cid] = trade
                    name += r.choice(_TRADE_MARKS) + trade
                    break
        accounts = tuple(self.account(currency) for _ in range(r.choice((1, 1, 1, 2))))
        aliases = (f"{words[0]} {r.choice(_TRADES)}",) if r.random() < 0.1 else ()
        self.currency[cid] = currency
        return CustomerInfo(cid, name, accounts, aliases)

    def add_customer(self, base: str, currency: str, words: list[str], documents: int) -> CustomerInfo:
        """A customer added while payments are made (the near-namesake of an existing one)."""
        customer = self.new_customer(len(self.customers) + 1, base, currency, words)
        self.customers.append(customer)
        docs = [self.document(customer, "invoice") for _ in range(documents)]
        self.free[customer.customer_id] = docs
        self.memos[customer.customer_id] = []
        return customer

    def amount(self) -> Decimal:
        value = self.rng.lognormvariate(7.0, 1.1)
        return Decimal(str(round(min(max(value, 40.0), 250000.0), 2))).quantize(CENT)

    def document(self, customer: CustomerInfo, kind: str) -> OpenDocument:
        r = self.rng
        issue = self.as_of - timedelta(days=r.randint(1, 120))
        if kind == "credit_memo":
            self.cm_seq += 1
            number = f"CN-{self.cm_seq}"
            total = (self.amount() / r.choice((3, 5, 8))).quantize(CENT)
            doc = OpenDocument(
                f"D{len(self.docs) + 1:08d}",
                customer.customer_id,
                number,
                "credit_memo",
                self.currency[customer.customer_id],
                total,
                total,
                issue,
                issue,
            )
        else:
            self.inv_seq += 1
            number = f"INV-{self.inv_seq}"
            total = self.amount()
            open_amount = total if r.random() > 0.08 else (total * Decimal("0.5")).quantize(CENT)
            terms = r.random() < 0.25
            doc = OpenDocument(
                f"D{len(self.docs) + 1:08d}",
                customer.customer_id,
                number,
                "invoice",
                self.currency[customer.customer_id],
                total,
                open_amount,
                issue,
                issue + timedelta(days=30),
                Decimal("2") if terms else None,
                10 if terms else None,
            )
        self.docs.append(doc)
        return doc

    # -- what customers write -----------------------------------------------------------------------

    def spell(self, doc: OpenDocument, digits: str | None = None) -> str:
        prefix, _, n = doc.number.partition("-")
        return self.rng.choice(_STYLES).format(p=prefix, n=digits or n)

    def wrap(self, text: str, customer: CustomerInfo) -> str:
        r = self.rng
        return r.choice(_WRAP).format(
            r=text,
            c=customer.customer_id[1:],
            po=r.randint(10**6, 10**7 - 1),
            d=(self.as_of - timedelta(days=r.randint(0, 9))).strftime("%d.%m.%Y"),
        )

    def reference(self, docs: list[OpenDocument], customer: CustomerInfo) -> str:
        joiner = self.rng.choice((", ", " ", " / ", " + ", ";"))
        return self.wrap(joiner.join(self.spell(d) for d in docs), customer)

    def payer_fields(self, customer: CustomerInfo, allow_unknown: bool) -> dict[str, str | None]:
        """How the payer shows up: ERP customer id, bank account, name variants, or not at all."""
        r = self.rng
        mode = r.choices(("id", "account", "name", "name_in_ref", "unknown"), (35, 35, 20, 4, 6))[0]
        if mode in ("name_in_ref", "unknown") and not allow_unknown:
            mode = "account"
        self.last_mode = mode
        if mode == "id":
            return {"customer_id": customer.customer_id, "payer_name": customer.name}
        if mode == "account":
            return {
                "payer_account": self.format_account(r.choice(customer.bank_accounts)),
                "payer_name": self.name_variant(customer),
            }
        if mode == "name":
            return {"payer_name": self.name_variant(customer), "payer_account": self.account("EUR")}
        if mode == "name_in_ref":
            return {"name_in_ref": customer.name}
        return {
            "payer_name": f"{r.choice('ABCDJKMPRST')}. {r.choice(_SURNAMES).upper()}",
            "payer_account": self.account("EUR"),
        }

    def format_account(self, account: str) -> str:
        r = self.rng
        style = r.randint(0, 3)
        if style == 1:
            return " ".join(account[i : i + 4] for i in range(0, len(account), 4))
        if style == 2:
            return "-".join(account[i : i + 4] for i in range(0, len(account), 4)).lower()
        if style == 3:
            return f"IBAN {account}" if account[:2].isalpha() else f"{account[:9]}-{account[9:]}"
        return account

    def name_variant(self, customer: CustomerInfo) -> str:
        r = self.rng
        name = r.choice(customer.aliases) if customer.aliases and r.random() < 0.5 else customer.name
        style = r.randint(0, 4)
        if style == 0:
            return name.upper()
        if style == 1:
            return " ".join(
                w
                for w in name.split()
                if w.rstrip(".")
                not in {"GmbH", "AG", "KG", "Inc", "LLC", "Corp", "Co", "Ltd", "PLC", "B.V", "S.A", "&"}
            )
        if style == 2:
            return name.upper()[:22].rstrip()
        if style == 3 and len(name) > 8:
            i = r.randint(2, len(name) - 3)
            return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        return name


def _typo(digits: str, rng: random.Random) -> str:
    for _ in range(20):
        chars = list(digits)
        i = rng.randrange(len(chars) - 1)
        if rng.random() < 0.5 and chars[i] != chars[i + 1]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            j = rng.randrange(1, len(chars))
            chars[j] = rng.choice([c for c in "0123456789" if c != chars[j]])
        typo = "".join(chars)
        if typo != digits and typo[0] != "0":
            return typo
    return digits


Check = Callable[[dict[str, Decimal], Expected], None]
_Made = tuple[PaymentInput, Expected, Check | None]


def generate(
    n_payments: int = 3000, n_documents: int = 30000, seed: int = 7, as_of: date = date(2024, 6, 28)
) -> ScenarioSet:
    """Build a scenario set.

    Args:
        n_payments: Payments to generate.
        n_documents: Open documents in the export (most are not paid in this run, as in life).
        seed: Random seed; the same seed gives the same set.
        as_of: The evaluation date; documents are issued in the 120 days before it.

    Returns:
        Customers, documents, payments and the expected decision per payment.
    """
    rng = random.Random(seed)
    b = _Builder(rng, as_of)
    n_customers = max(30, n_documents // 20)
    b.customers = [b.customer(i + 1) for i in range(n_customers)]
    weights = [rng.paretovariate(1.5) for _ in b.customers]
    for customer, count in zip(b.customers, _sizes(weights, n_documents), strict=True):
        docs = [
            b.document(customer, "credit_memo" if rng.random() < 0.04 else "invoice") for _ in range(count)
        ]
        b.free[customer.customer_id] = [d for d in docs if d.kind == "invoice"]
        b.memos[customer.customer_id] = [d for d in docs if d.kind == "credit_memo"]
    b.big = [c for c in b.customers if len(b.free[c.customer_id]) >= 200]
    b.by_key = {d.number.partition("-")[2]: d for d in b.docs if d.kind == "invoice"}
    names = list(SCENARIOS)
    made: list[_Made] = []
    attempts = 0
    while len(made) < n_payments and attempts < n_payments * 20:
        attempts += 1
        scenario = rng.choices(names, [SCENARIOS[n] for n in names])[0]
        pid = f"P{len(made) + 1:07d}"
        if scenario in _SITUATIONS:
            items = _SITUATIONS[scenario](b, [pid, f"P{len(made) + 2:07d}"])
            if items and len(made) + len(items) <= n_payments:
                made.extend(items)
            continue
        one = _make(b, scenario, pid)
        if one is not None:
            made.append(one)
    payments = [m[0] for m in made]
    expected = {m[0].payment_id: m[1] for m in made}
    _settle_truth(made, b.docs)
    return ScenarioSet(b.customers, b.docs, payments, expected, as_of)


def _sizes(weights: list[float], n_documents: int) -> list[int]:
    """Open items per customer: heavy-tailed like a real ledger, none above MAX_OPEN_ITEMS."""
    capped: set[int] = set()
    counts = [0] * len(weights)
    for _ in range(10):
        free_weight = sum(w for i, w in enumerate(weights) if i not in capped)
        room = n_documents - MAX_OPEN_ITEMS * len(capped)
        more = False
        for i, w in enumerate(weights):
            if i in capped:
                counts[i] = MAX_OPEN_ITEMS
                continue
            counts[i] = max(2, round(room * w / free_weight))
            if counts[i] > MAX_OPEN_ITEMS:
                capped.add(i)
                more = True
        if not more:
            break
    return [min(c, MAX_OPEN_ITEMS) for c in counts]


def _settle_truth(made: list[_Made], documents: list[OpenDocument]) -> None:
    """Decide, in date order against a running balance, which payments a clerk could post.

    Some truths depend on what is still open when the payment comes (an overpayment whose rest
    could pay other open invoices, a duplicate finding its invoice closed); each such scenario
    carries a check that reads the open amounts left by the payments before it.
    """
    remaining = {d.doc_id: d.open_amount for d in documents}
    for i in sorted(range(len(made)), key=lambda k: made[k][0].date):
        _, exp, check = made[i]
        if check is not None:
            check(remaining, exp)
        if exp.matchable:
            for doc_id, (cash, discount, writeoff) in exp.applications.items():
                remaining[doc_id] -= abs(cash) + discount + writeoff


def _open_invoices(b: _Builder, remaining: dict[str, Decimal], customer_id: str, currency: str,
                   skip: set[str]) -> list[Decimal]:
    return [
        remaining[d.doc_id] for d in b.free[customer_id]
        if d.currency == currency and d.doc_id not in skip and remaining[d.doc_id] > 0
    ]


def _reachable(amounts: list[Decimal], target: Decimal) -> bool:
    """Whether some of ``amounts`` add up to exactly ``target`` (all in cents)."""
    goal = int(target * 100)
    reach = 1
    mask = (1 << (goal + 1)) - 1
    for amount in amounts:
        cents = int(amount * 100)
        if 0 < cents <= goal:
            reach |= (reach << cents) & mask
    return bool(reach >> goal & 1)


def _rest_check(b: _Builder, customer_id: str, currency: str, quoted: set[str], rest: Decimal,
                unlisted: list[OpenDocument]) -> Check:
    """The clerk completes a payment from the customer's other open invoices only when one answer fits."""

    def check(remaining: dict[str, Decimal], exp: Expected) -> None:
        others = _open_invoices(b, remaining, customer_id, currency, quoted | {d.doc_id for d in unlisted})
        if not unlisted:
            # An overpayment: on account only when no other open invoices could be what the rest pays.
            exp.matchable = rest not in others and not _reachable(others, rest)
        else:
            exp.matchable = len(unlisted) == 1 and rest not in others

    return check


def _overpayment_check(b: _Builder, payment: PaymentInput, exp: Expected) -> Check:
    quoted = set(exp.applications)
    return _rest_check(b, exp.customer_id or "", payment.currency, quoted, exp.unapplied, [])


def _typo_check(b: _Builder, payment: PaymentInput, wrong: str) -> Check | None:
    """A number one typo off is trusted unless the payer is known only by name and it is someone else's."""
    other = b.by_key.get(wrong)
    if other is None:
        return None

    def check(remaining: dict[str, Decimal], exp: Expected) -> None:
        exp.matchable = remaining[other.doc_id] <= 0

    return check


def _take(b: _Builder, count: int, *, need: str = "") -> tuple[CustomerInfo, list[OpenDocument]] | None:
    """A customer and ``count`` of its open invoices that no other payment in the set touches."""
    rng = b.rng
    for _ in range(10):
        customer = rng.choice(b.customers)
        free = [d for d in b.free[customer.customer_id] if d.doc_id not in b.used]
        if need == "terms":
            free = [d for d in free if d.discount_percent and d.open_amount == d.total]
        elif need == "large":
            free = [d for d in free if d.open_amount >= 600]
        elif need == "memo" and not [m for m in b.memos[customer.customer_id] if m.doc_id not in b.used]:
            continue
        if len(free) >= count:
            chosen = rng.sample(free, count)
            b.used.update(d.doc_id for d in chosen)
            return customer, chosen
    return None


def _full(docs: Iterable[OpenDocument]) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {
        d.doc_id: ((-d.open_amount if d.kind == "credit_memo" else d.open_amount), ZERO, ZERO) for d in docs
    }


def _make(b: _Builder, scenario: str, pid: str) -> _Made | None:
    rng = b.rng
    pay_date = b.as_of - timedelta(days=rng.randint(0, 9))

    def payment(
        customer: CustomerInfo,
        amount: Decimal,
        reference: str,
        *,
        allow_unknown: bool,
        currency: str | None = None,
        when: date | None = None,
    ) -> PaymentInput:
        fields = b.payer_fields(customer, allow_unknown)
        name_in_ref = fields.pop("name_in_ref", None)
        if name_in_ref:
            reference = f"{name_in_ref} {reference}".strip()
        return PaymentInput(
            pid,
            when or pay_date,
            amount,
            currency or b.currency[customer.customer_id],
            customer_id=fields.get("customer_id"),
            payer_name=fields.get("payer_name"),
            payer_account=fields.get("payer_account"),
            reference=reference or None,
        )

    if scenario in ("single_exact", "multi_reference", "overpayment"):
        count = 1 if scenario == "single_exact" else rng.choice((2, 2, 2, 3, 3, 4))
        if scenario == "overpayment":
            count = rng.choice((1, 1, 2))
        got = _take(b, count)
        if got is None:
            return None
        customer, docs = got
        amount = sum((d.open_amount for d in docs), ZERO)
        extra = ZERO
        if scenario == "overpayment":
            extra = Decimal(rng.randint(1000, 50000)) / 100
        p = payment(customer, amount + extra, b.reference(docs, customer), allow_unknown=True)
        exp = Expected(pid, scenario, True, customer.customer_id, _full(docs), extra)
        return p, exp, (_overpayment_check(b, p, exp) if extra else None)

    if scenario == "typo":
        got = _take(b, 1)
        if got is None:
            return None
        customer, docs = got
        digits = docs[0].number.partition("-")[2]
        wrong = _typo(digits, rng)
        open_keys = {d.number.partition("-")[2] for d in b.free[customer.customer_id]}
        if wrong in open_keys:
            return None
        ref = b.wrap(b.spell(docs[0], wrong), customer)
        p = payment(customer, docs[0].open_amount, ref, allow_unknown=False)
        check = _typo_check(b, p, wrong) if b.last_mode == "name" else None
        return p, Expected(pid, scenario, True, customer.customer_id, _full(docs)), check

    if scenario in ("amount_single", "amount_subset"):
        got = _take(b, 1 if scenario == "amount_single" else rng.choice((2, 2, 3)))
        if got is None:
            return None
        customer, docs = got
        ref = rng.choice(_NO_REF).format(c=customer.customer_id[1:])
        amount = sum((d.open_amount for d in docs), ZERO)
        p = payment(customer, amount, ref, allow_unknown=False)
        return p, Expected(pid, scenario, True, customer.customer_id, _full(docs)), None

    if scenario == "discount":
        got = _take(b, rng.choice((1, 1, 1, 2)), need="terms")
        if got is None:
            return None
        customer, docs = got
        latest_issue = max(d.issue_date for d in docs if d.issue_date)
        when = min(b.as_of, latest_issue + timedelta(days=rng.randint(0, 10)))
        if any(d.issue_date and when > d.issue_date + timedelta(days=10) for d in docs):
            when = min(d.issue_date for d in docs if d.issue_date) + timedelta(days=rng.randint(0, 10))
            if any(d.issue_date and when > d.issue_date + timedelta(days=10) for d in docs):
                return None
        apps = {}
        for d in docs:
            disc = (d.open_amount * Decimal("2") / 100).quantize(CENT)
            apps[d.doc_id] = (d.open_amount - disc, disc, ZERO)
        amount = sum((a[0] for a in apps.values()), ZERO)
        quoted = rng.random() < 0.8
        ref = (
            b.reference(docs, customer) if quoted else rng.choice(_NO_REF).format(c=customer.customer_id[1:])
        )
        p = payment(customer, amount, ref, allow_unknown=quoted, when=when)
        return p, Expected(pid, scenario, True, customer.customer_id, apps), None

    if scenario == "fee_short":
        got = _take(b, 1, need="large")
        if got is None:
            return None
        customer, docs = got
        deadline = docs[0].discount_deadline()
        if deadline is not None and pay_date <= deadline:
            # Inside its discount period a customer takes the discount (discount_and_fee).
            pay_date = deadline + timedelta(days=1)
            if pay_date > b.as_of:
                return None
        fee = Decimal(rng.choice((500, 750, 1000, 1250, 1500, 2000, 2500, 1575))) / 100
        quoted = rng.random() < 0.7
        ref = (
            b.reference(docs, customer) if quoted else rng.choice(_NO_REF).format(c=customer.customer_id[1:])
        )
        p = payment(customer, docs[0].open_amount - fee, ref, allow_unknown=quoted)
        return p, Expected(
            pid,
            scenario,
            True,
            customer.customer_id,
            {docs[0].doc_id: (docs[0].open_amount - fee, ZERO, fee)},
        ), None

    if scenario == "partial":
        got = _take(b, 1, need="large")
        if got is None:
            return None
        customer, docs = got
        share = Decimal(rng.choice((20, 25, 30, 40, 50, 60, 75)))
        amount = (docs[0].open_amount * share / 100).quantize(Decimal("1"))
        p = payment(customer, amount, b.reference(docs, customer), allow_unknown=True)
        exp = Expected(pid, scenario, True, customer.customer_id, {docs[0].doc_id: (amount, ZERO, ZERO)})
        return p, exp, None

    if scenario == "credit_memo":
        got = _take(b, 1, need="memo")
        if got is None:
            return None
        customer, docs = got
        memos = [m for m in b.memos[customer.customer_id] if m.doc_id not in b.used]
        memo = rng.choice(memos)
        if memo.open_amount >= docs[0].open_amount:
            return None
        b.used.add(memo.doc_id)
        memo.applies_to = docs[0].doc_id
        cited = [docs[0], memo] if rng.random() < 0.5 else [docs[0]]
        amount = docs[0].open_amount - memo.open_amount
        p = payment(customer, amount, b.reference(cited, customer), allow_unknown=False)
        return p, Expected(pid, scenario, True, customer.customer_id, _full([docs[0], memo])), None

    if scenario == "ambiguous":
        got = _take(b, 2)
        if got is None:
            return None
        customer, docs = got
        twin = docs[1]
        twin.total = twin.open_amount = twin.remaining = docs[0].open_amount
        ref = rng.choice(_NO_REF).format(c=customer.customer_id[1:])
        p = payment(customer, docs[0].open_amount, ref, allow_unknown=False)
        return p, Expected(pid, scenario, False, customer.customer_id), None

    if scenario == "other_currency":
        got = _take(b, 1)
        if got is None:
            return None
        customer, docs = got
        other = "USD" if b.currency[customer.customer_id] != "USD" else "EUR"
        amount = (docs[0].open_amount * Decimal("1.08")).quantize(CENT)
        p = payment(customer, amount, b.reference(docs, customer), allow_unknown=False, currency=other)
        return p, Expected(pid, scenario, False, customer.customer_id), None

    # noise: bank interest, a supplier's refund, an unknown sender
    kind = rng.randint(0, 2)
    amount = b.amount() if kind else Decimal(rng.randint(100, 9000)) / 100
    text = (
        "ZINSGUTSCHRIFT Q2 2024",
        "INTEREST CREDIT JUN 2024",
        f"REFUND ORDER {rng.randint(10**5, 10**6)}",
        "TRANSFER",
        f"Erstattung Gutschrift {rng.randint(1000, 9999)}",
        "CASHBACK",
    )[rng.randint(0, 5)]
    p = PaymentInput(
        pid,
        pay_date,
        amount,
        rng.choice(("EUR", "USD")),
        payer_name=rng.choice(
            ("DEUTSCHE BANK AG", "CHASE BANK", "Amazon EU S.a.r.l.", f"{rng.choice(_SURNAMES)} Family")
        ),
        payer_account=b.account("EUR"),
        reference=text,
    )
    return p, Expected(pid, scenario, False, None), None


# -- the situations of messy real remittance files -------------------------------------------------


def _pay(b: _Builder, pid: str, customer: CustomerInfo, amount: Decimal, reference: str, *,
         allow_unknown: bool, when: date | None = None, currency: str | None = None,
         payer: Mapping[str, str | None] | None = None) -> PaymentInput:
    fields = payer if payer is not None else b.payer_fields(customer, allow_unknown)
    fields = dict(fields)
    name_in_ref = fields.pop("name_in_ref", None)
    if name_in_ref:
        reference = f"{name_in_ref} {reference}".strip()
    return PaymentInput(
        pid, when or b.as_of - timedelta(days=b.rng.randint(0, 9)), amount,
        currency or b.currency[customer.customer_id], customer_id=fields.get("customer_id"),
        payer_name=fields.get("payer_name"), payer_account=fields.get("payer_account"),
        reference=reference or None,
    )


def _no_ref(b: _Builder, customer: CustomerInfo) -> str:
    return b.rng.choice(_NO_REF).format(c=customer.customer_id[1:])


def _partly_listed(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """Many invoices paid at once; the reference lists some of them, or is cut off mid-number."""
    rng = b.rng
    if not b.big:
        return None
    customer = rng.choice(b.big)
    free = [d for d in b.free[customer.customer_id] if d.doc_id not in b.used]
    count = rng.randint(8, 40)
    if len(free) < count + 20:
        return None
    docs = rng.sample(free, count)
    spelled = [(d, b.spell(d)) for d in docs]
    joiner = rng.choice((", ", " ", ";", " / "))
    if rng.random() < 0.5:
        # A bank's remittance field holds 140 characters: the list is cut where it ends.
        text = joiner.join(t for _, t in spelled)[:140]
        listed = []
        at = 0
        for d, t in spelled:
            at = text.find(t, at)
            if at < 0:
                break
            listed.append(d)
            at += len(t)
        if len(listed) == count:
            listed = listed[:-1]
            text = joiner.join(t for d, t in spelled if d in listed)
    else:
        unlisted_count = rng.choice((1, 1, 2, 3, count // 2))
        listed = rng.sample(docs, count - unlisted_count)
        text = joiner.join(t for d, t in spelled if d in listed)
    unlisted = [d for d in docs if d not in listed]
    b.used.update(d.doc_id for d in docs)
    amount = sum((d.open_amount for d in docs), ZERO)
    p = _pay(b, pids[0], customer, amount, b.wrap(text, customer), allow_unknown=True)
    exp = Expected(pids[0], "partly_listed", True, customer.customer_id, _full(docs))
    rest = sum((d.open_amount for d in unlisted), ZERO)
    check = _rest_check(b, customer.customer_id, p.currency, {d.doc_id for d in listed}, rest, unlisted)
    return [(p, exp, check)]


def _discount_variants(b: _Builder, pids: list[str], scenario: str) -> list[_Made] | None:
    """A discount and a fee on one invoice; a discount taken after its period; several discounts."""
    rng = b.rng
    if scenario == "discount_multi":
        got = _take_close_terms(b, rng.choice((2, 2, 3, 4)))
    else:
        got = _take(b, 1, need="terms")
    if got is None:
        return None
    customer, docs = got
    if scenario == "discount_late":
        deadline = docs[0].discount_deadline()
        assert deadline is not None
        when = deadline + timedelta(days=rng.randint(1, 6))
    else:
        latest = max(d.discount_deadline() or b.as_of for d in docs)
        earliest = min(d.discount_deadline() or b.as_of for d in docs)
        when = min(b.as_of, earliest - timedelta(days=rng.randint(0, 3)))
        if when < max(d.issue_date or when for d in docs) or latest < when:
            return None
    if when > b.as_of:
        return None
    apps: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for d in docs:
        disc = d.discount_amount()
        apps[d.doc_id] = (d.open_amount - disc, disc, ZERO)
    amount = sum((a[0] for a in apps.values()), ZERO)
    if scenario == "discount_late":
        apps = {docs[0].doc_id: (amount, ZERO, ZERO)}
    elif scenario == "discount_and_fee":
        fee = Decimal(rng.choice((350, 500, 750, 1000, 1250, 1500))) / 100
        d = docs[0]
        base = d.open_amount - d.discount_amount()
        if fee * 100 > base * 5:
            return None
        apps = {d.doc_id: (base - fee, d.discount_amount(), fee)}
        amount = base - fee
    quoted = scenario != "discount_multi" or rng.random() < 0.8
    ref = b.reference(docs, customer) if quoted else _no_ref(b, customer)
    p = _pay(b, pids[0], customer, amount, ref, allow_unknown=quoted, when=when)
    return [(p, Expected(pids[0], scenario, True, customer.customer_id, apps), None)]


def _take_close_terms(b: _Builder, count: int) -> tuple[CustomerInfo, list[OpenDocument]] | None:
    """``count`` invoices of one customer with discount terms, issued within a week of each other."""
    for _ in range(10):
        customer = b.rng.choice(b.customers)
        free = sorted((d for d in b.free[customer.customer_id] if d.doc_id not in b.used
                       and d.discount_percent and d.open_amount == d.total and d.issue_date),
                      key=lambda d: d.issue_date or b.as_of)
        for i in range(len(free) - count + 1):
            run = free[i:i + count]
            first, last = run[0].issue_date, run[-1].issue_date
            if first and last and (last - first).days <= 7:
                b.used.update(d.doc_id for d in run)
                return customer, run
    return None


def _credit_memo_unnamed(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """Invoices less one or two open credit memos; the reference names only the invoices, or nothing."""
    rng = b.rng
    quoted = rng.random() < 0.6
    n_memos = rng.choice((1, 2))
    n_invoices = rng.choice((1, 1, 2)) if quoted or n_memos == 1 else 1
    got = _take(b, n_invoices, need="memo")
    if got is None:
        return None
    customer, docs = got
    memos = [m for m in b.memos[customer.customer_id] if m.doc_id not in b.used]
    if len(memos) < n_memos:
        b.used.difference_update(d.doc_id for d in docs)
        return None
    chosen = rng.sample(memos, n_memos)
    owed = sum((d.open_amount for d in docs), ZERO)
    netted = sum((m.open_amount for m in chosen), ZERO)
    if netted >= owed:
        b.used.difference_update(d.doc_id for d in docs)
        return None
    b.used.update(m.doc_id for m in chosen)
    for m in chosen:
        if rng.random() < 0.5:
            m.applies_to = docs[0].doc_id
    ref = b.reference(docs, customer) if quoted else _no_ref(b, customer)
    p = _pay(b, pids[0], customer, owed - netted, ref, allow_unknown=False)
    return [(p, Expected(pids[0], "credit_memo_unnamed", True, customer.customer_id, _full([*docs, *chosen])),
             None)]


def _name_collision(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """Two customers whose names differ by one word; the payer's name fits both."""
    rng = b.rng
    got = _take(b, 1)
    if got is None:
        return None
    customer, docs = got
    base = customer.name
    for form in sorted({f for forms in _FORMS.values() for f in forms}, key=len, reverse=True):
        if base.endswith(" " + form):
            base = base[: -len(form) - 1]
            break
    if " t/a " in base.lower() or any(m.strip() in base for m in _TRADE_MARKS):
        return None
    words = base.split()
    twin_base = f"{base} {rng.choice(_PLACES)}"
    if twin_base in b.names:
        return None
    currency = b.currency[customer.customer_id]
    twin = b.add_customer(twin_base, currency, words, rng.randint(3, 12))
    both_fit = rng.random() < 0.6
    amount = docs[0].open_amount
    rival_doc = b.free[twin.customer_id][0]
    if both_fit:
        rival_doc.total = rival_doc.open_amount = rival_doc.remaining = amount
    b.used.add(rival_doc.doc_id)
    payer, other = (customer, twin) if rng.random() < 0.5 else (twin, customer)
    paid = docs[0] if payer is customer else rival_doc
    if not both_fit and payer is twin:
        # The twin pays its own invoice; the namesake has nothing of that amount.
        amount = paid.open_amount
    name = payer.name.upper()
    for form in sorted({f.upper() for forms in _FORMS.values() for f in forms}, key=len, reverse=True):
        if name.endswith(" " + form):
            name = name[: -len(form) - 1]
            break
    fields = {"payer_name": name, "payer_account": b.account("EUR")}
    p = _pay(b, pids[0], payer, amount, _no_ref(b, payer), allow_unknown=False, payer=fields)
    exp = Expected(pids[0], "name_collision", not both_fit, payer.customer_id, _full([paid]))
    del other
    return [(p, exp, None)]


def _trading_name(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """A customer recorded as "… t/a Blue Anchor Cafe" pays as BLUE ANCHOR CAFE."""
    rng = b.rng
    traders = [c for c in b.customers if c.customer_id in b.trading]
    if not traders:
        return None
    customer = rng.choice(traders)
    free = [d for d in b.free[customer.customer_id] if d.doc_id not in b.used]
    if not free:
        return None
    doc = rng.choice(free)
    b.used.add(doc.doc_id)
    trade = b.trading[customer.customer_id]
    fields = {"payer_name": rng.choice((trade.upper(), trade)), "payer_account": b.account("EUR")}
    ref = b.reference([doc], customer) if rng.random() < 0.5 else _no_ref(b, customer)
    p = _pay(b, pids[0], customer, doc.open_amount, ref, allow_unknown=False, payer=fields)
    return [(p, Expected(pids[0], "trading_name", True, customer.customer_id, _full([doc])), None)]


def _whole_balance(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """A known customer pays everything open ("balance of account"), or more than all of it."""
    rng = b.rng
    for _ in range(10):
        customer = rng.choice(b.customers)
        cid = customer.customer_id
        docs = [*b.free[cid], *b.memos[cid]]
        if 2 <= len(docs) <= 30 and not any(d.doc_id in b.used for d in docs):
            break
    else:
        return None
    b.used.update(d.doc_id for d in docs)
    invoices = [d for d in docs if d.kind == "invoice"]
    owed = sum((d.open_amount for d in invoices), ZERO)
    balance = owed - sum((d.open_amount for d in docs if d.kind == "credit_memo"), ZERO)
    if balance <= 0:
        return None
    ref = rng.choice(_STATEMENT_REFS)
    if rng.random() < 0.3:
        extra = Decimal(rng.randint(1000, 90000)) / 100
        p = _pay(b, pids[0], customer, owed + extra, ref, allow_unknown=False)
        sure = b.last_mode in ("id", "account")
        exp = Expected(pids[0], "whole_balance", sure, cid, _full(invoices), extra)
        return [(p, exp, None)]
    p = _pay(b, pids[0], customer, balance, ref, allow_unknown=False)
    return [(p, Expected(pids[0], "whole_balance", True, cid, _full(docs)), None)]


def _ocr(text: str, rng: random.Random) -> str:
    kind = rng.randint(0, 5)
    if kind == 0:
        return text.replace("0", "O")
    if kind == 1:
        return text.replace("1", rng.choice("lI"))
    if kind == 2:
        return text.replace("-", "").replace(" ", "")
    if kind == 3:
        head, _, digits = text.rpartition("-")
        return f"{head}-{'0' * rng.randint(1, 3)}{digits}" if head else "00" + text
    if kind == 4:
        cut = rng.randint(2, 4)
        return text[:-cut] + rng.choice(("\n", "\r\n")) + text[-cut:]
    return f"PO {rng.randint(45 * 10**8, 46 * 10**8)} {text}"


def _ocr_noise(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """A quoted number keyed or scanned badly: O for 0, l for 1, zeros, breaks, a PO beside it."""
    got = _take(b, 1)
    if got is None:
        return None
    customer, docs = got
    ref = b.wrap(_ocr(docs[0].number, b.rng), customer)
    p = _pay(b, pids[0], customer, docs[0].open_amount, ref, allow_unknown=True)
    return [(p, Expected(pids[0], "ocr_noise", True, customer.customer_id, _full(docs)), None)]


def _foreign_number(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """The number quoted is another customer's open invoice, one digit from the payer's own."""
    rng = b.rng
    got = _take(b, 1)
    if got is None:
        return None
    customer, docs = got
    digits = docs[0].number.partition("-")[2]
    variants = [digits[:i] + c + digits[i + 1:] for i in range(1, len(digits)) for c in "0123456789"
                if c != digits[i]]
    rng.shuffle(variants)
    others = (b.by_key[v] for v in variants if v in b.by_key)
    other = next((d for d in others if d.doc_id not in b.used and d.customer_id != customer.customer_id
                  and d.kind == "invoice"), None)
    if other is None:
        b.used.discard(docs[0].doc_id)
        return None
    b.used.add(other.doc_id)
    p = _pay(b, pids[0], customer, docs[0].open_amount, b.wrap(b.spell(other), customer), allow_unknown=False)
    by_name = b.last_mode == "name"
    return [(p, Expected(pids[0], "foreign_number", not by_name, customer.customer_id, _full(docs)), None)]


def _split_payment(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """One invoice paid in two transfers a few days apart; the file may list the second first."""
    rng = b.rng
    got = _take(b, 1, need="large")
    if got is None:
        return None
    customer, docs = got
    doc = docs[0]
    first = (doc.open_amount * Decimal(rng.choice((30, 40, 50, 60))) / 100).quantize(Decimal("1"))
    second = doc.open_amount - first
    day1 = b.as_of - timedelta(days=rng.randint(4, 9))
    day2 = day1 + timedelta(days=rng.randint(1, 3))
    ref = b.reference([doc], customer)
    payer = b.payer_fields(customer, False)
    p1 = _pay(b, pids[0], customer, first, ref, allow_unknown=False, when=day1, payer=payer)
    p2 = _pay(b, pids[1], customer, second, ref, allow_unknown=False, when=day2, payer=payer)
    cid = customer.customer_id
    items: list[_Made] = [
        (p1, Expected(pids[0], "split_payment", True, cid, {doc.doc_id: (first, ZERO, ZERO)}), None),
        (p2, Expected(pids[1], "split_payment", True, cid, {doc.doc_id: (second, ZERO, ZERO)}), None),
    ]
    return items if rng.random() < 0.5 else _swap_ids(items)


def _duplicate_payment(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """The same transfer booked twice: the second finds the invoice closed."""
    rng = b.rng
    got = _take(b, 1)
    if got is None:
        return None
    customer, docs = got
    doc = docs[0]
    cid = customer.customer_id
    if rng.random() < 0.4:
        # The customer owes a second invoice of the same amount: the second payment is for it.
        free = [d for d in b.free[cid] if d.doc_id not in b.used and d.open_amount == d.total]
        if free:
            twin = rng.choice(free)
            twin.total = twin.open_amount = twin.remaining = doc.open_amount
            b.used.add(twin.doc_id)
    day1 = b.as_of - timedelta(days=rng.randint(3, 9))
    day2 = day1 + timedelta(days=rng.randint(1, 2))
    ref = b.reference([doc], customer)
    payer = b.payer_fields(customer, False)
    p1 = _pay(b, pids[0], customer, doc.open_amount, ref, allow_unknown=False, when=day1, payer=payer)
    p2 = _pay(b, pids[1], customer, doc.open_amount, ref, allow_unknown=False, when=day2, payer=payer)
    exp2 = Expected(pids[1], "duplicate_payment", False, cid)

    def check(remaining: dict[str, Decimal], exp: Expected) -> None:
        same = [d for d in b.free[cid] if d.doc_id != doc.doc_id and d.currency == p2.currency
                and remaining[d.doc_id] == doc.open_amount]
        exp.matchable = len(same) == 1
        exp.applications = _full(same) if len(same) == 1 else {}

    items: list[_Made] = [
        (p1, Expected(pids[0], "duplicate_payment", True, cid, _full([doc])), None),
        (p2, exp2, check),
    ]
    return items if rng.random() < 0.5 else _swap_ids(items)


def _swap_ids(items: list[_Made]) -> list[_Made]:
    """The same two payments, the later one listed first in the file."""
    (p1, e1, c1), (p2, e2, c2) = items
    id1, id2 = p1.payment_id, p2.payment_id
    return [
        (replace(p2, payment_id=id1), replace(e2, payment_id=id1), c2),
        (replace(p1, payment_id=id2), replace(e1, payment_id=id2), c1),
    ]


def _currency_mix(b: _Builder, pids: list[str]) -> list[_Made] | None:
    """A customer with items in two currencies: a payment never touches those in the other one."""
    rng = b.rng
    got = _take(b, 1)
    if got is None:
        return None
    customer, docs = got
    doc = docs[0]
    other = "USD" if doc.currency != "USD" else "EUR"
    b.inv_seq += 1
    trap = OpenDocument(f"D{len(b.docs) + 1:08d}", customer.customer_id, f"INV-{b.inv_seq}", "invoice", other,
                        doc.open_amount, doc.open_amount, doc.issue_date, doc.due_date)
    b.docs.append(trap)
    quoted = rng.random() < 0.5
    ref = b.reference([doc], customer) if quoted else _no_ref(b, customer)
    p = _pay(b, pids[0], customer, doc.open_amount, ref, allow_unknown=False)
    return [(p, Expected(pids[0], "currency_mix", True, customer.customer_id, _full(docs)), None)]


_SITUATIONS: dict[str, Callable[[_Builder, list[str]], list[_Made] | None]] = {
    "partly_listed": _partly_listed,
    "discount_and_fee": lambda b, pids: _discount_variants(b, pids, "discount_and_fee"),
    "discount_late": lambda b, pids: _discount_variants(b, pids, "discount_late"),
    "discount_multi": lambda b, pids: _discount_variants(b, pids, "discount_multi"),
    "credit_memo_unnamed": _credit_memo_unnamed,
    "name_collision": _name_collision,
    "trading_name": _trading_name,
    "whole_balance": _whole_balance,
    "ocr_noise": _ocr_noise,
    "foreign_number": _foreign_number,
    "split_payment": _split_payment,
    "duplicate_payment": _duplicate_payment,
    "currency_mix": _currency_mix,
}


@dataclass(slots=True)
class Accuracy:
    """Accuracy of decisions against the expected ones."""

    payments: int
    matchable: int
    auto: int
    auto_correct: int
    auto_matchable_correct: int
    review: int
    unmatched: int
    by_scenario: dict[str, dict[str, int]]

    @property
    def auto_rate(self) -> float:
        """Share of matchable payments applied automatically and correctly."""
        return self.auto_matchable_correct / self.matchable if self.matchable else 0.0

    @property
    def precision(self) -> float:
        """Correct automatic applications over all automatic applications."""
        return self.auto_correct / self.auto if self.auto else 1.0


def is_correct(result: MatchResult, exp: Expected) -> bool:
    """True when an automatic decision applies exactly what the customer meant."""
    if not exp.matchable or result.customer_id != exp.customer_id:
        return False
    got = {a.doc_id: (a.amount, a.discount, a.writeoff) for a in result.applications}
    return got == exp.applications and result.unapplied == exp.unapplied


def evaluate(results: Iterable[MatchResult], expected: dict[str, Expected]) -> Accuracy:
    """Compare decisions with the expected ones, overall and per scenario."""
    acc = Accuracy(0, 0, 0, 0, 0, 0, 0, {})
    for result in results:
        exp = expected[result.payment_id]
        row = acc.by_scenario.setdefault(
            exp.scenario,
            {"n": 0, "matchable": 0, "auto_correct": 0, "auto_wrong": 0, "review": 0, "unmatched": 0},
        )
        row["n"] += 1
        row["matchable"] += exp.matchable
        acc.payments += 1
        acc.matchable += exp.matchable
        if result.status == "auto":
            acc.auto += 1
            if is_correct(result, exp):
                acc.auto_correct += 1
                acc.auto_matchable_correct += 1
                row["auto_correct"] += 1
            else:
                row["auto_wrong"] += 1
        elif result.status == "review":
            acc.review += 1
            row["review"] += 1
        else:
            acc.unmatched += 1
            row["unmatched"] += 1
    return acc


def situation_figures(row: dict[str, int]) -> dict[str, float | None]:
    """Auto rate (of the matchable payments) and precision (of the automatic ones) of one situation.

    ``None`` where there is nothing to divide: no matchable payment, or no automatic application.
    """
    auto = row["auto_correct"] + row["auto_wrong"]
    return {
        "auto_rate": round(row["auto_correct"] / row["matchable"], 4) if row["matchable"] else None,
        "precision": round(row["auto_correct"] / auto, 5) if auto else None,
    }
