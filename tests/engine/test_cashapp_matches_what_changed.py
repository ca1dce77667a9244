"""A cycle's cash application matches the payments new or changed since its last run, and those still
waiting, against the open documents as they stand; its verdicts and payment applications are exactly
those of a run that reads the whole book."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from engine.rules import CashAppDecider
from mapping import CreditMemo, Customer, Invoice, Payment, Stream
from mapping.models import DocumentStatus
from store import StateStore
from store import schema as t
from tests.engine.fakes import RecordingERP
from tests.engine.incremental_fixtures import cycle

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def book() -> RecordingERP:
    erp = RecordingERP(customers=0, invoices=0)
    for c in range(10):
        erp.put(
            Customer(
                remote_id=f"C{c}", name=f"Harbour Supplies {c} Ltd", remote_modified_at=erp.now(), version="0"
            )
        )
        for n in range(3):
            erp.put(invoice(erp, f"I{c}-{n}", f"C{c}", Decimal(100 + 37 * c + 11 * n)))
    return erp


def invoice(erp: RecordingERP, rid: str, customer: str, amount: Decimal) -> Invoice:
    return Invoice(
        remote_id=rid,
        number=f"INV-{rid}",
        customer_remote_id=customer,
        currency="EUR",
        issue_date=date(2026, 10, 1),
        due_date=date(2026, 10, 31),
        total=amount,
        open_amount=amount,
        remote_modified_at=erp.now(),
        version="0",
    )


def payment(erp: RecordingERP, rid: str, customer: str, amount: str, reference: str | None) -> Payment:
    return Payment(
        remote_id=rid,
        customer_remote_id=customer,
        date=START.date(),
        currency="EUR",
        amount=Decimal(amount),
        unapplied_amount=Decimal(amount),
        reference=reference,
        remote_modified_at=erp.now(),
        version="0",
    )


def decided(store: StateStore) -> dict[str, Any]:
    """The matcher's verdicts and the payment applications queued for the ERP."""
    m, o = t.match_results, t.outbox
    with store.engine.connect() as conn:
        verdicts = conn.execute(
            sa.select(m.c.payment_id, m.c.status, m.c.customer_id, m.c.confidence, m.c.rule, m.c.result)
        ).all()
        ops = conn.execute(sa.select(o.c.key, o.c.target_id, o.c.payload)).all()
    return {
        "verdicts": sorted(
            (p, s, c, f, r, json.loads(res)["explanation"]) for p, s, c, f, r, res in verdicts
        ),
        "ops": sorted((k, target, payload) for k, target, payload in ops),
    }


class SideBySide:
    """Two copies of one ERP book: one matched by reading what changed, one by reading it whole."""

    def __init__(self, store_url: str, other_store_url: str) -> None:
        self.inc_store, self.full_store = StateStore.open(store_url), StateStore.open(other_store_url)
        self.incremental = CashAppDecider(None, None, None)
        self.incremental.settle = timedelta(0)  # cycles follow each other within a second here
        self.whole = CashAppDecider(None, None, None, full=True)
        self.erps = {"inc": book(), "full": book()}

    def on_both(self, change: Any) -> None:
        for erp in self.erps.values():
            change(erp)

    def cycle(self, n: int, as_of: datetime) -> dict[str, Any]:
        """One cycle of each at ``as_of``; they must decide the same. Returns what was decided."""
        cycle(self.inc_store, self.erps["inc"], [self.incremental], as_of)
        cycle(self.full_store, self.erps["full"], [self.whole], as_of)
        now = decided(self.inc_store)
        assert now == decided(self.full_store), f"cycle {n}: the two runs differ"
        return now

    def close(self) -> None:
        self.inc_store.close()
        self.full_store.close()


def test_cycle_after_cycle_matching_what_changed_decides_what_matching_the_whole_book_decides(
    store_url: str, other_store_url: str
) -> None:
    runs = SideBySide(store_url, other_store_url)
    on_both, incremental = runs.on_both, runs.incremental
    read_whole_book: list[bool] = []
    rematched: list[int | None] = []

    for n in range(7):
        if n == 0:  # one pays an invoice quoting it; one pays an amount no invoice has
            on_both(lambda e: e.put(payment(e, "P0", "C0", "100.00", "INV-I0-0")))
            on_both(lambda e: e.put(payment(e, "P1", "C1", "999.00", None)))
        if n == 1:  # one quotes an invoice the ERP does not know yet
            on_both(lambda e: e.put(payment(e, "P2", "C2", "185.00", "INV-I2-1")))
            on_both(lambda e: e.put(payment(e, "P3", "C9", "75.00", "INV-I9-7")))
        if n == 2:  # the invoice arrives: the waiting payment finds it
            on_both(lambda e: e.put(invoice(e, "I9-7", "C9", Decimal("75.00"))))
        if n == 3:  # an invoice is partly paid in the ERP; a payment for the rest quotes it
            on_both(lambda e: e.touch(Stream.INVOICES, "I4-0", open_amount=Decimal("48.00")))
            on_both(lambda e: e.put(payment(e, "P4", "C4", "48.00", "INV-I4-0")))
        if n == 4:  # a credit memo; the customer pays the invoice less the credit
            on_both(
                lambda e: e.put(
                    CreditMemo(
                        remote_id="M5",
                        number="CM-5",
                        customer_remote_id="C5",
                        currency="EUR",
                        issue_date=START.date(),
                        total=Decimal("20.00"),
                        open_amount=Decimal("20.00"),
                        status=DocumentStatus.OPEN,
                        remote_modified_at=e.now(),
                        version="0",
                    )
                )
            )
            on_both(lambda e: e.put(payment(e, "P5", "C5", "265.00", "INV-I5-0 CM-5")))
            on_both(
                lambda e: e.touch(Stream.INVOICES, "I6-2", status=DocumentStatus.PAID, open_amount=Decimal(0))
            )
        if n == 5:  # the payer adds the invoice number to the waiting payment
            on_both(
                lambda e: e.touch(
                    Stream.PAYMENTS,
                    "P1",
                    reference="INV-I1-2",
                    amount=Decimal("159.00"),
                    unapplied_amount=Decimal("159.00"),
                )
            )
        as_of = START + timedelta(hours=3 * n)  # the day changes between the fifth and sixth cycle
        runs.cycle(n, as_of)
        read_whole_book.append(incremental.read_whole_book)
        rematched.append(incremental.rematched)

    verdicts = {v[0]: v[1] for v in decided(runs.full_store)["verdicts"]}
    assert verdicts["P0"] == "auto" and verdicts["P3"] == "auto" and verdicts["P1"] == "auto", verdicts
    assert read_whole_book == [True] + [False] * 6
    # The same day, an invoice of one customer changed and one payment came: P1, still waiting
    # for another customer, was not matched again; the next day, everything waiting was.
    assert rematched[3] == 1 and rematched[5] is not None and rematched[5] > 1, rematched
    runs.close()


def unnamed(
    erp: RecordingERP, rid: str, amount: str, reference: str | None, payer: str | None = None
) -> Payment:
    """A payment the ERP holds without a customer: it may take any customer's documents."""
    return payment(erp, rid, "C0", amount, reference).model_copy(
        update={"customer_remote_id": None, "payer_name": payer}
    )


def numbered(erp: RecordingERP, rid: str, customer: str, amount: str) -> Invoice:
    """An invoice whose number a payment can quote (enough digits to tell it by)."""
    return invoice(erp, rid, customer, Decimal(amount)).model_copy(update={"number": f"INV-7000{rid[1:]}"})


def test_payments_naming_no_customer_are_matched_on_documents_kept_in_the_process_as_on_the_whole_book(
    store_url: str, other_store_url: str
) -> None:
    runs = SideBySide(store_url, other_store_url)
    on_both = runs.on_both
    reads_of_kept_documents: list[int] = []
    seen = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM cashapp_open_documents" in statement:
            seen[0] += 1

    sa.event.listen(runs.inc_store.engine, "before_cursor_execute", count)

    for n in range(6):
        if n == 0:  # known only by the invoice it quotes; and an amount nobody owes
            for rid, customer, amount in (
                ("X1", "C3", "211.00"),
                ("X2", "C4", "120.00"),
                ("X3", "C8", "396.00"),
            ):
                on_both(lambda e, r=rid, c=customer, a=amount: e.put(numbered(e, r, c, a)))
            on_both(lambda e: e.put(unnamed(e, "U0", "211.00", "INV-70001")))
            on_both(lambda e: e.put(unnamed(e, "U1", "999.00", None)))
        if n == 1:  # by the payer's name, and a second instalment on the invoice U0 paid
            on_both(lambda e: e.put(unnamed(e, "U2", "359.00", "INV-I7-0", "Harbour Supplies 7 Ltd")))
            on_both(lambda e: e.put(unnamed(e, "U3", "211.00", "INV-70001")))
        if n == 2:  # an invoice is partly paid in the ERP, another closed; a payment quotes each
            on_both(lambda e: e.touch(Stream.INVOICES, "X2", open_amount=Decimal("59.00")))
            on_both(
                lambda e: e.touch(Stream.INVOICES, "X3", status=DocumentStatus.PAID, open_amount=Decimal(0))
            )
            on_both(lambda e: e.put(unnamed(e, "U4", "59.00", "INV-70002")))
            on_both(lambda e: e.put(unnamed(e, "U5", "396.00", "INV-70003")))
        if n == 3:  # a new invoice of the amount U1 paid
            on_both(lambda e: e.put(numbered(e, "X4", "C9", "999.00")))
            on_both(lambda e: e.put(unnamed(e, "U6", "10.00", None)))
        if n == 4:  # the closed invoice opens again
            on_both(
                lambda e: e.touch(
                    Stream.INVOICES, "X3", status=DocumentStatus.OPEN, open_amount=Decimal("396.00")
                )
            )
            on_both(lambda e: e.put(unnamed(e, "U7", "1.00", None)))
        as_of = START + timedelta(hours=3 * n)
        before = seen[0]
        runs.cycle(n, as_of)
        reads_of_kept_documents.append(seen[0] - before)

    verdicts = {v[0]: v[1] for v in decided(runs.full_store)["verdicts"]}
    assert verdicts["U0"] == "auto" and verdicts["U4"] == "auto", verdicts
    # The first cycle reads the whole book, the second the kept open documents; the later ones
    # find them in the process, brought up to date with what changed.
    assert reads_of_kept_documents[1] > 0 and reads_of_kept_documents[2:] == [0, 0, 0, 0], (
        reads_of_kept_documents
    )
    runs.close()


def paid_on(p: Payment, days: int) -> Payment:
    """The payment, received ``days`` after the first cycle's day."""
    return p.model_copy(update={"date": START.date() + timedelta(days=days)})


def test_new_cash_decides_again_only_the_waiting_payments_whose_documents_it_takes(
    store_url: str, other_store_url: str
) -> None:
    runs = SideBySide(store_url, other_store_url)
    on_both, incremental = runs.on_both, runs.incremental
    proposals: list[dict[str, str]] = []
    rematched: list[int | None] = []

    for n in range(5):
        if n == 0:  # C3 pays two invoices together without quoting them; C5 pays what nobody owes
            on_both(lambda e: e.put(numbered(e, "X1", "C3", "211.00")))
            on_both(lambda e: e.put(numbered(e, "X5", "C3", "150.00")))
            on_both(lambda e: e.put(paid_on(payment(e, "W3", "C3", "361.00", None), 2)))
            on_both(lambda e: e.put(paid_on(payment(e, "W5", "C5", "200.00", "INV-I5-0"), 2)))
            on_both(lambda e: e.put(unnamed(e, "U1", "999.00", None)))
        if n == 1:  # cash nobody can place
            on_both(lambda e: e.put(unnamed(e, "U2", "5.00", None)))
        if n == 2:  # cash received before W3, naming no customer, quotes and pays one of its invoices
            on_both(lambda e: e.put(unnamed(e, "N1", "211.00", "INV-70001")))
        if n == 3:  # cash naming no customer, whose payer name is C7's
            on_both(lambda e: e.put(unnamed(e, "N2", "196.00", "INV-I7-1", "Harbour Supplies 7 Ltd")))
        if n == 4:  # two customers get an invoice of the same number; cash quoting it fits both
            on_both(lambda e: e.put(numbered(e, "X1c", "C2", "150.00")))
            on_both(lambda e: e.put(numbered(e, "X1b", "C8", "150.00")))
            on_both(lambda e: e.put(unnamed(e, "N3", "150.00", "INV-70001")))
        as_of = START + timedelta(hours=n)
        proposals.append({v[0]: v[5] for v in runs.cycle(n, as_of)["verdicts"]})
        rematched.append(incremental.rematched)

    # W3 waits for a clerk; once N1 took INV-70001 it proposes another pair of C3's invoices.
    assert "INV-70001" in proposals[1]["W3"] and "INV-70001" not in proposals[2]["W3"], proposals
    assert proposals[2]["N1"].startswith("Paid by customer C3"), proposals[2]
    # Only N1 and W3 were matched again in the third cycle, only N2 (found to be C7's) in the
    # fourth: C5's and the unplaced payments, untouched by them, kept their verdicts.
    assert rematched[2:4] == [2, 1], rematched
    # Which of two namesake invoices a clerk is shown first follows the ledger's order, as in a
    # run that reads the whole book.
    assert proposals[4]["N3"].startswith("Paid by customer C8"), proposals[4]
    assert "customer C2 has a document with the same number" in proposals[4]["N3"], proposals[4]
    runs.close()


def test_a_namesake_paying_its_own_invoice_lets_a_waiting_payment_by_name_be_applied(
    store_url: str, other_store_url: str
) -> None:
    runs = SideBySide(store_url, other_store_url)
    on_both, incremental = runs.on_both, runs.incremental
    verdicts: list[dict[str, str]] = []
    rematched: list[int | None] = []

    for n in range(3):
        if n == 0:  # cash by C7's name of an amount C7 and its namesake C8 both owe; cash nobody owes
            on_both(lambda e: e.put(numbered(e, "X8", "C8", "359.00")))
            on_both(lambda e: e.put(paid_on(unnamed(e, "W7", "359.00", None, "Harbour Supplies 7 Ltd"), 2)))
            on_both(lambda e: e.put(paid_on(payment(e, "W5", "C5", "200.00", "INV-I5-0"), 2)))
            on_both(lambda e: e.put(unnamed(e, "U1", "999.00", None)))
        if n == 1:
            on_both(lambda e: e.put(unnamed(e, "U2", "5.00", None)))
        if n == 2:  # C8 pays its invoice of that amount, quoting it
            on_both(lambda e: e.put(payment(e, "P8", "C8", "359.00", "INV-70008")))
        as_of = START + timedelta(hours=n)
        verdicts.append({v[0]: v[1] for v in runs.cycle(n, as_of)["verdicts"]})
        rematched.append(incremental.rematched)

    # Known only by name, W7 waited for a clerk while C8 owed the same amount; once C8 paid, it is
    # applied to C7's invoice. C5's payment, which read none of this, was not matched again.
    assert verdicts[1]["W7"] == "review" and verdicts[2]["W7"] == "auto", verdicts
    assert rematched[2] == 2, rematched
    runs.close()


def test_a_namesakes_invoice_closed_in_the_erp_lets_a_waiting_payment_by_name_be_applied(
    store_url: str, other_store_url: str
) -> None:
    runs = SideBySide(store_url, other_store_url)
    on_both, incremental = runs.on_both, runs.incremental
    verdicts: list[dict[str, str]] = []
    rematched: list[int | None] = []

    for n in range(5):
        if n == 0:
            on_both(lambda e: e.put(numbered(e, "X8", "C8", "359.00")))
        if n == 2:  # cash by C7's name of an amount C7 and its namesake C8 both owe
            on_both(lambda e: e.put(unnamed(e, "W7", "359.00", None, "Harbour Supplies 7 Ltd")))
        if n == 3:  # another invoice of C8 is partly paid in the ERP
            on_both(lambda e: e.touch(Stream.INVOICES, "I8-1", open_amount=Decimal("50.00")))
        if n == 4:  # C8's invoice of that amount is paid in the ERP
            on_both(
                lambda e: e.touch(Stream.INVOICES, "X8", status=DocumentStatus.PAID, open_amount=Decimal(0))
            )
        as_of = START + timedelta(hours=n)
        verdicts.append({v[0]: v[1] for v in runs.cycle(n, as_of)["verdicts"]})
        rematched.append(incremental.rematched)

    # W7 waits for a clerk while C8 owes the same amount. A change to another of C8's invoices
    # leaves that question's answer as it was: nothing is matched again. Once C8's invoice of the
    # amount is paid in the ERP, W7 is applied to C7's invoice, as a run reading the whole book decides.
    assert verdicts[3]["W7"] == "review" and verdicts[4]["W7"] == "auto", verdicts
    assert rematched[3:] == [0, 1], rematched
    runs.close()


def test_cash_is_decided_in_date_order_with_the_waiting_payments_before_it_left_as_they_were(
    store_url: str, other_store_url: str
) -> None:
    runs = SideBySide(store_url, other_store_url)
    on_both, incremental = runs.on_both, runs.incremental
    verdicts: list[dict[str, str]] = []
    rematched: list[int | None] = []

    for n in range(4):
        if n == 0:  # C3 pays its invoice quoting it (the application waits for the ERP); cash nobody owes
            on_both(lambda e: e.put(numbered(e, "X1", "C3", "250.00")))
            on_both(lambda e: e.put(payment(e, "P0", "C3", "250.00", "INV-70001")))
            on_both(lambda e: e.put(unnamed(e, "U1", "999.00", None)))
        if n == 1:
            on_both(lambda e: e.put(unnamed(e, "U2", "5.00", None)))
        if n == 2:  # cash received two days later, naming nobody, quotes the same invoice
            on_both(lambda e: e.put(paid_on(unnamed(e, "N1", "250.00", "INV-70001"), 2)))
        if n == 3:  # cash received the day before P0 quotes it too, and comes first
            on_both(lambda e: e.put(paid_on(unnamed(e, "N0", "250.00", "INV-70001"), -1)))
        as_of = START + timedelta(hours=n)
        verdicts.append({v[0]: v[1] for v in runs.cycle(n, as_of)["verdicts"]})
        rematched.append(incremental.rematched)

    # P0, decided before N1 in date order, keeps the invoice without being matched again: N1
    # finds it taken. N0, earlier than both, takes it and both are matched again.
    assert verdicts[2]["P0"] == "auto" and verdicts[2]["N1"] != "auto", verdicts
    assert verdicts[3]["N0"] == "auto" and verdicts[3]["P0"] != "auto", verdicts
    assert rematched[2:] == [1, 3], rematched
    runs.close()
