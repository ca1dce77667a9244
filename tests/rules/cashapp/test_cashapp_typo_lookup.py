"""A number quoted with one wrong or swapped digit finds the same documents whichever way it is looked up.

A customer with few open documents has each compared with the quoted number; one with many has each
variant of the number looked up among its documents' numbers. Both must find the same documents, in
the same order, and say None in the same cases.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from rules.cashapp import DocumentIndex, OpenDocument
from rules.cashapp.index import _one_typo_scan

AS_OF = date(2024, 6, 28)
D = Decimal


def doc(doc_id: str, customer: str, number: str, amount: str = "100") -> OpenDocument:
    return OpenDocument(doc_id, customer, number, "invoice", "EUR", D(amount), D(amount),
                        date(2024, 5, 1), date(2024, 6, 1))


def one_typo(rng: random.Random, number: str) -> str:
    """``number`` with one digit changed or two neighbours swapped (or left as it is, when it cannot be)."""
    i = rng.randrange(len(number))
    if rng.random() < 0.5 and i + 1 < len(number):
        return number[:i] + number[i + 1] + number[i] + number[i + 2:]
    return number[:i] + rng.choice("0123456789") + number[i + 1:]


def quoted_numbers(rng: random.Random, numbers: list[str]) -> list[str]:
    """What payers quote: the numbers themselves, one or two typos away, longer, shorter, or not digits."""
    quoted = []
    for number in numbers:
        near = one_typo(rng, number)
        quoted += [number, near, one_typo(rng, near), number + rng.choice("0123456789"), number[1:],
                   near[:2] + "X" + near[3:], "١" + near[1:]]
    quoted += [str(rng.randrange(10 ** rng.randrange(1, 8))) for _ in range(20)]
    quoted += ["", "7", "1" * 40, "1" * 39 + "2"]
    return quoted


def ledger(rng: random.Random, customer: str, size: int) -> list[OpenDocument]:
    """A customer's invoices with numbers near each other, some repeated, of 4 to 7 digits."""
    numbers: list[str] = []
    for _ in range(size):
        if numbers and rng.random() < 0.1:
            numbers.append(rng.choice(numbers))  # a number the ERP has twice
        elif numbers and rng.random() < 0.4:
            numbers.append(one_typo(rng, rng.choice(numbers)))
        else:
            numbers.append(str(rng.randrange(10 ** rng.randrange(3, 7), 10 ** 7)))
    return [doc(f"{customer}-{n}", customer, number) for n, number in enumerate(numbers)]


@pytest.mark.parametrize("seed", range(8))
def test_documents_one_typo_from_a_quoted_number_are_those_each_variant_names(seed: int) -> None:
    rng = random.Random(seed)
    sizes = {"FEW": 5, "SOME": 30, "MANY": 120}
    docs = [d for customer, size in sizes.items() for d in ledger(rng, customer, size)]
    index = DocumentIndex(docs)
    if seed % 2:
        index.by_key("")  # the index by number of all customers, as an unknown payer builds it
    numbers = [d.key for d in docs]
    quoted = quoted_numbers(rng, rng.sample(numbers, 25))
    found_any = 0
    for _ in range(3):
        for customer in sizes:
            view = index.view(customer, "EUR", AS_OF)
            for key in quoted:
                found = view.one_typo_from(key)
                assert found is not None
                assert [d.doc_id for d in found] == [d.doc_id for d in view._one_typo_looked_up(key)]
                # Compared one by one, however many documents the customer has.
                assert found == _one_typo_scan(view.any_open(), key)
                assert all(d.remaining > D("0") for d in found)
                found_any += bool(found)
        # Payments settle some documents: they are no longer found one typo away.
        for d in rng.sample(docs, 30):
            index.consume(d.doc_id, d.remaining)
    assert found_any > 50


def test_a_customer_with_a_number_not_all_digits_has_no_documents_one_typo_away() -> None:
    index = DocumentIndex([doc("A1", "C1", "100234"), doc("A2", "C1", "١٠٠٢٤٣")])
    view = index.view("C1", "EUR", AS_OF)
    # A number in other digits than ASCII's: a wrong character is then not only a wrong digit.
    assert view.one_typo_from("100243") is None
    assert view.one_typo_from("١٠٠٢٣٤") is None


def test_a_number_one_wrong_or_swapped_digit_away_finds_the_invoice_and_not_its_own() -> None:
    index = DocumentIndex([doc("A1", "C1", "100234"), doc("A2", "C1", "100243"), doc("A3", "C1", "100235"),
                           doc("A4", "C1", "1002345"), doc("A5", "C1", "100423")])
    view = index.view("C1", "EUR", AS_OF)
    assert [d.doc_id for d in view.one_typo_from("100234") or []] == ["A2", "A3"]
    assert [d.doc_id for d in view.one_typo_from("100x34") or []] == ["A1"]
    index.consume("A2", D("100"))
    assert [d.doc_id for d in view.one_typo_from("100234") or []] == ["A3"]


def test_a_number_not_all_digits_in_another_currency_leaves_the_views_own_numbers_looked_up() -> None:
    dollars = doc("U1", "C1", "١٠٠٢٤٣")
    dollars.currency = "USD"
    index = DocumentIndex([doc("A1", "C1", "100234"), dollars, doc("A2", "C1", "100243")])
    # The euro documents' numbers are all digits: a typo is looked for among them.
    assert [d.doc_id for d in index.view("C1", "EUR", AS_OF).one_typo_from("100234") or []] == ["A2"]
    # The dollar view's own number is not: nothing is one typo away there.
    assert index.view("C1", "USD", AS_OF).one_typo_from("100243") is None
