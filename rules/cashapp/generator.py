"""A generator of realistic remittance scenarios with known answers, for the benchmark and the tests.

Customers pay the way customers do: some quote the invoice number cleanly, others write "Inv 1001",
"/INV/1001/", or a bare number with a typo in it; some pay several invoices at once, take an early
payment discount, lose a bank fee on the way, pay part, pay too much, or net a credit memo; some send
no reference at all. Payer names arrive truncated, upper-cased, without the legal form, or as a
trade name; bank accounts with or without spaces. Mixed in: payments no rule should apply
automatically (two identical open invoices, bank interest, refunds, unknown payers, another currency).

The proportions follow what AR teams report (roughly a third of receipts are clean "exact amount and
invoice number"); every scenario records the expected decision so accuracy is measured, not assumed.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from rules.cashapp.model import CENT, ZERO, CustomerInfo, MatchResult, OpenDocument, PaymentInput

# Weights per scenario (percent of payments). "matchable" scenarios have exactly one right answer.
SCENARIOS: dict[str, float] = {
    "single_exact": 27,
    "multi_reference": 11,
    "typo": 5,
    "amount_single": 10,
    "amount_subset": 6,
    "discount": 6,
    "fee_short": 5,
    "partial": 5,
    "overpayment": 3,
    "credit_memo": 4,
    "ambiguous": 3,
    "noise": 5,
    "other_currency": 2,
}
NOT_MATCHABLE = frozenset({"ambiguous", "noise", "other_currency"})

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
        self.names.add(base)
        name = base + " " + r.choice(_FORMS[currency])
        accounts = tuple(self.account(currency) for _ in range(r.choice((1, 1, 1, 2))))
        aliases = (f"{words[0]} {r.choice(_TRADES)}",) if r.random() < 0.1 else ()
        cid = f"C{n:06d}"
        self.currency[cid] = currency
        return CustomerInfo(cid, name, accounts, aliases)

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
    total_w = sum(weights)
    for customer, w in zip(b.customers, weights, strict=True):
        count = max(2, round(n_documents * w / total_w))
        docs = [
            b.document(customer, "credit_memo" if rng.random() < 0.04 else "invoice") for _ in range(count)
        ]
        b.free[customer.customer_id] = [d for d in docs if d.kind == "invoice"]
        b.memos[customer.customer_id] = [d for d in docs if d.kind == "credit_memo"]
    names = list(SCENARIOS)
    payments: list[PaymentInput] = []
    expected: dict[str, Expected] = {}
    attempts = 0
    while len(payments) < n_payments and attempts < n_payments * 20:
        attempts += 1
        scenario = rng.choices(names, [SCENARIOS[n] for n in names])[0]
        pid = f"P{len(payments) + 1:07d}"
        made = _make(b, scenario, pid)
        if made is None:
            continue
        payment, exp = made
        payments.append(payment)
        expected[pid] = exp
    return ScenarioSet(b.customers, b.docs, payments, expected, as_of)


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


def _make(b: _Builder, scenario: str, pid: str) -> tuple[PaymentInput, Expected] | None:
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
        return p, Expected(pid, scenario, True, customer.customer_id, _full(docs), extra)

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
        return p, Expected(pid, scenario, True, customer.customer_id, _full(docs))

    if scenario in ("amount_single", "amount_subset"):
        got = _take(b, 1 if scenario == "amount_single" else rng.choice((2, 2, 3)))
        if got is None:
            return None
        customer, docs = got
        ref = rng.choice(_NO_REF).format(c=customer.customer_id[1:])
        amount = sum((d.open_amount for d in docs), ZERO)
        p = payment(customer, amount, ref, allow_unknown=False)
        return p, Expected(pid, scenario, True, customer.customer_id, _full(docs))

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
        return p, Expected(pid, scenario, True, customer.customer_id, apps)

    if scenario == "fee_short":
        got = _take(b, 1, need="large")
        if got is None:
            return None
        customer, docs = got
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
        )

    if scenario == "partial":
        got = _take(b, 1, need="large")
        if got is None:
            return None
        customer, docs = got
        share = Decimal(rng.choice((20, 25, 30, 40, 50, 60, 75)))
        amount = (docs[0].open_amount * share / 100).quantize(Decimal("1"))
        p = payment(customer, amount, b.reference(docs, customer), allow_unknown=True)
        return p, Expected(pid, scenario, True, customer.customer_id, {docs[0].doc_id: (amount, ZERO, ZERO)})

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
        return p, Expected(pid, scenario, True, customer.customer_id, _full([docs[0], memo]))

    if scenario == "ambiguous":
        got = _take(b, 2)
        if got is None:
            return None
        customer, docs = got
        twin = docs[1]
        twin.total = twin.open_amount = twin.remaining = docs[0].open_amount
        ref = rng.choice(_NO_REF).format(c=customer.customer_id[1:])
        p = payment(customer, docs[0].open_amount, ref, allow_unknown=False)
        return p, Expected(pid, scenario, False, customer.customer_id)

    if scenario == "other_currency":
        got = _take(b, 1)
        if got is None:
            return None
        customer, docs = got
        other = "USD" if b.currency[customer.customer_id] != "USD" else "EUR"
        amount = (docs[0].open_amount * Decimal("1.08")).quantize(CENT)
        p = payment(customer, amount, b.reference(docs, customer), allow_unknown=False, currency=other)
        return p, Expected(pid, scenario, False, customer.customer_id)

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
    return p, Expected(pid, scenario, False, None)


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
            exp.scenario, {"n": 0, "auto_correct": 0, "auto_wrong": 0, "review": 0, "unmatched": 0}
        )
        row["n"] += 1
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
