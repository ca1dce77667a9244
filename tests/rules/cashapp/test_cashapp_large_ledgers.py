"""Customers with many open items: the quick ways through a large ledger decide as the thorough ones."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from rules.cashapp import (
    CustomerIndex,
    CustomerInfo,
    DocumentIndex,
    MatchResult,
    MatchRules,
    OpenDocument,
    PaymentInput,
    match_payment,
    subset,
)
from rules.cashapp.subset import any_subset_reaches, find_subsets

AS_OF = date(2024, 6, 28)
D = Decimal
CUSTOMERS = [CustomerInfo("C1", "Mueller Maschinenbau GmbH", ("DE89370400440532013000",))]


def ledger(amounts: list[str], first_number: int = 500100) -> list[OpenDocument]:
    return [
        OpenDocument(f"D{i}", "C1", f"INV-{first_number + 7 * i}", "invoice", "EUR", D(a), D(a),
                     date(2024, 5, 1 + i % 28), date(2024, 6, 1 + i % 28))
        for i, a in enumerate(amounts)
    ]


def run(amount: str, reference: str, docs: list[OpenDocument]) -> MatchResult:
    payment = PaymentInput("P1", date(2024, 6, 25), D(amount), "EUR", "C1", None, None, reference)
    return match_payment(payment, DocumentIndex(docs), CustomerIndex(CUSTOMERS), MatchRules(), AS_OF)


def test_sets_found_among_many_amounts_are_those_the_full_search_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(20240628)
    cases = []
    for _ in range(400):
        values = [rng.randrange(1, 60) * 10 for _ in range(rng.randrange(10, 41))]
        picked = rng.sample(values, rng.randrange(1, 5))
        target = sum(picked) if rng.random() < 0.5 else sum(picked) + rng.choice((-10, 10, 5))
        cases.append((values, target, rng.randrange(2, 5)))
    quick = [find_subsets(v, t, t, max_size=m, budget=20000) for v, t, m in cases]
    monkeypatch.setattr(subset, "_PROOF_MIN_VALUES", 10**9)
    monkeypatch.setattr(subset, "_HALVES_MAX_VALUES", 0)
    thorough = [find_subsets(v, t, t, max_size=m, budget=20000) for v, t, m in cases]
    assert [(r.solutions, r.complete) for r in quick] == [(r.solutions, r.complete) for r in thorough]
    assert any(r.solutions for r in quick) and any(not r.solutions for r in quick)


def test_sets_found_among_a_few_amounts_by_looking_them_up_are_those_the_full_search_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A handful of open invoices, many of the same amount, some above the payment, and budgets too
    # small to prove anything: the looked-up sets must be the walked ones, in the same order.
    rng = random.Random(20240701)
    cases = []
    for _ in range(3000):
        step = rng.choice((1, 10, 50))
        values = [rng.randrange(-1, 12) * step for _ in range(rng.randrange(0, 14))]
        picked = rng.sample(values, min(rng.randrange(1, 5), len(values)))
        target = sum(picked) + rng.choice((0, 0, step, -step))
        cases.append((values, target, rng.randrange(1, 6), rng.randrange(1, 4), rng.choice((20000, 12))))

    def search() -> list[tuple[list[tuple[int, ...]], bool]]:
        found = [find_subsets(v, t, t, max_size=m, budget=b, limit=k) for v, t, m, k, b in cases]
        return [(r.solutions, r.complete) for r in found]

    quick = search()
    # Neither the sets looked up nor the amounts told unreachable by the sums of halves of sets.
    monkeypatch.setattr(subset, "_first_sets", lambda *args: None)
    monkeypatch.setattr(subset, "_HALVES_MAX_VALUES", 0)
    assert quick == search()
    assert sum(len(s) == 2 for s, _ in quick) > 100 and sum(not s for s, _ in quick) > 100
    assert any(not complete for _, complete in quick)


def test_whether_other_invoices_can_make_up_a_rest_does_not_depend_on_the_order_they_are_tried_in() -> None:
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.randrange(1, 400) * 10 for _ in range(rng.randrange(1, 30))]
        target = rng.randrange(1, 2000) * 10
        reachable = {0}
        for v in values:
            reachable |= {r + v for r in reachable}
        assert any_subset_reaches(values, target, 10**8) is (target in reachable)


def test_amount_no_set_of_thirty_open_invoices_makes_is_left_unmatched() -> None:
    # Every invoice is in whole ten cents; the payment is not.
    amounts = [f"{1000 + 37 * i}.{(i * 3) % 10}0" for i in range(30)]
    result = run("3001.05", "payment", ledger(amounts))
    assert result.status == "unmatched"
    assert result.applications == []


def test_two_of_thirty_open_invoices_making_up_the_amount_are_the_ones_proposed() -> None:
    amounts = [f"{1000 + (i * i * 389) % 4000}.{(i * i * 7 + 3 * i) % 100:02d}" for i in range(30)]
    docs = ledger(amounts)
    paid = docs[4].open_amount + docs[21].open_amount
    result = run(str(paid), "payment", docs)
    assert result.rule == "amount_subset"
    assert {a.doc_id for a in result.applications} == {"D4", "D21"}


def test_number_with_two_digits_swapped_is_found_among_many_open_invoices() -> None:
    docs = ledger([f"{200 + 11 * i}.00" for i in range(40)])
    number = docs[17].number  # INV-500219
    swapped = number[:-2] + number[-1] + number[-2]
    result = run(str(docs[17].open_amount), swapped, docs)
    assert result.status == "auto"
    assert [a.doc_id for a in result.applications] == ["D17"]
    assert "typo" in result.explanation


def test_number_one_digit_from_two_open_invoices_that_the_amount_cannot_tell_apart_goes_to_review() -> None:
    docs = ledger(["500.00"] * 30, first_number=500100)
    # 500101 is one digit from INV-500100 (D0) and from INV-500107 (D1); both are open for 500.00.
    result = run("500.00", "INV-500101", docs)
    assert result.status == "review"
    assert "one typo away as well" in result.explanation


def scattered_ledger(seed: int) -> list[OpenDocument]:
    """Documents of a few customers in two currencies, their numbers repeating, some issued late."""
    rng = random.Random(seed)
    return [
        OpenDocument(f"D{i}", f"C{rng.randint(1, 4)}", f"INV-{rng.randint(100, 130)}",
                     rng.choice(("invoice", "invoice", "credit_memo")), rng.choice(("EUR", "EUR", "USD")),
                     D("100"), D(rng.choice(("100", "40", "60"))),
                     rng.choice((None, date(2024, 5, 1), date(2024, 6, 28), date(2024, 7, 2))))
        for i in range(160)
    ]


@pytest.mark.parametrize("seed", range(6))
def test_a_customers_documents_by_number_are_the_same_read_from_the_index_of_all_numbers(seed: int) -> None:
    """Once the index by number of all customers' documents is built, a customer's view looks numbers
    up there: what it finds (open, settled, one typo away) and in which order is what its own gives."""
    own, shared = DocumentIndex(scattered_ledger(seed)), DocumentIndex(scattered_ledger(seed))
    shared.by_key("")  # builds the index by number of all customers
    rng = random.Random(seed)
    settle = [(f"D{rng.randrange(160)}", D(rng.choice(("40", "100")))) for _ in range(60)]
    for step in range(4):
        for customer in ("C1", "C2", "C3", "C4", "C5"):
            for currency in ("EUR", "USD"):
                for as_of in (AS_OF, date(2024, 7, 31)):
                    a, b = own.view(customer, currency, as_of), shared.view(customer, currency, as_of)
                    for number in range(95, 135):
                        key = str(number)
                        assert [d.doc_id for d in a.by_key(key)] == [d.doc_id for d in b.by_key(key)]
                        assert [d.doc_id for d in a.settled_by_key(key)] == \
                            [d.doc_id for d in b.settled_by_key(key)]
                        assert a.has_number(key) == b.has_number(key) == bool(
                            a.by_key(key) or a.settled_by_key(key))
                        near_a, near_b = a.one_typo_from(key), b.one_typo_from(key)
                        assert (near_a is None) == (near_b is None)
                        assert [d.doc_id for d in near_a or []] == [d.doc_id for d in near_b or []]
                    assert [d.doc_id for d in a.any_open()] == [d.doc_id for d in b.any_open()]
        for doc_id, amount in settle[step * 15:(step + 1) * 15]:
            own.consume(doc_id, amount)
            shared.consume(doc_id, amount)
    assert shared._by_key is not None and own._by_key is None


@pytest.mark.parametrize("seed", range(4))
def test_the_first_of_several_customers_with_an_open_item_is_the_one_each_asked_in_turn_gives(
    seed: int,
) -> None:
    index = DocumentIndex(scattered_ledger(seed))
    rng = random.Random(seed)
    for built in (False, True):
        if built:
            index.by_key("")  # builds the index by number of all customers
        for _ in range(200):
            customers = rng.sample(["C1", "C2", "C3", "C4", "C5"], rng.randint(1, 5))
            amount = D(rng.choice(("0", "40", "60", "100", "70")))
            keys = [str(rng.randint(95, 135)) for _ in range(rng.randint(0, 3))]
            currency = rng.choice(("EUR", "USD"))
            each = [(c, index.has_open(c, currency, amount, keys)) for c in customers]
            first = next(((c, d) for c, d in each if d is not None), None)
            assert index.first_open(customers, currency, amount, keys) == first
            if rng.random() < 0.2:
                index.consume(f"D{rng.randrange(160)}", D("40"))
