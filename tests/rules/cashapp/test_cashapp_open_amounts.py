"""A large customer's open amounts read from kept arrays: the same invoices as comparing the amounts."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from rules.cashapp.amounts import invoices_up_to
from rules.cashapp.model import OpenDocument
from rules.cashapp.subset import units_of

# Whole cents mostly, some amounts finer than a thousandth, and amounts that repeat.
AMOUNTS = ("120.00", "80.50", "99.9995", "40.0004", "40.000")


def ledger(rng: random.Random, size: int) -> list[OpenDocument]:
    docs = []
    for i in range(size):
        amount = Decimal(rng.choice((*AMOUNTS, f"{rng.randrange(1, 500)}.{rng.randrange(100):02d}")))
        docs.append(OpenDocument(f"D{i}", "C1", f"INV-{i}",
                                 "credit_memo" if rng.random() < 0.1 else "invoice",
                                 "EUR", amount, amount, date(2024, 5, 1)))
    return docs


def compared(docs: list[OpenDocument], amount: Decimal,
             leave_out: set[str]) -> tuple[list[OpenDocument], list[int]]:
    others = [d for d in docs if d.remaining <= amount and d.kind == "invoice" and d.doc_id not in leave_out]
    return [d for d in others if d.remaining == amount], units_of(d.remaining for d in others)


def test_the_invoices_a_rest_could_pay_are_the_ones_comparing_the_amounts_finds_as_payments_go() -> None:
    rng = random.Random(20240628)
    docs = ledger(rng, 800)
    for _ in range(300):
        amount = Decimal(rng.choice(("120.00", "80.50", "99.999", "40.000", "40.001", "250.37")))
        leave_out = {f"D{rng.randrange(800)}" for _ in range(rng.randrange(0, 20))}
        assert invoices_up_to(docs, amount, leave_out) == compared(docs, amount, leave_out)
        # A payment settles one document and pays part of another; the list keeps only the open ones.
        rng.choice(docs).remaining = Decimal(0)
        rng.choice(docs).remaining -= Decimal("0.25")
        docs[:] = [d for d in docs if d.remaining > 0]


def test_a_rest_finer_than_a_thousandth_is_left_to_comparing_the_amounts() -> None:
    docs = ledger(random.Random(7), 100)
    assert invoices_up_to(docs, Decimal("99.9995"), set()) is None
    assert invoices_up_to(docs[:10], Decimal("120.00"), set()) is None  # few documents
