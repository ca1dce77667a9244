"""Customers whose names the payer name fits equally: the open documents decide, whatever order the
customers are listed in."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import permutations

from rules.cashapp import (
    CustomerIndex,
    CustomerInfo,
    DocumentIndex,
    MatchResult,
    MatchRules,
    OpenDocument,
    PaymentInput,
    match_payment,
)

AS_OF = date(2024, 6, 28)
D = Decimal

NAMESAKES = [
    CustomerInfo("N1", "Nordwind Handel GmbH", ()),
    CustomerInfo("N2", "Nordwind Handel GmbH", ()),
    CustomerInfo("N3", "Nordwind Handel GmbH", ()),
]


def invoice(doc_id: str, customer: str, number: str, amount: str) -> OpenDocument:
    return OpenDocument(doc_id, customer, number, "invoice", "EUR", D(amount), D(amount), date(2024, 5, 20),
                        date(2024, 6, 19))


def ledger() -> DocumentIndex:
    return DocumentIndex([
        invoice("A1", "N1", "RE-300001", "410.00"),
        invoice("A2", "N1", "RE-300002", "95.50"),
        invoice("B1", "N2", "RE-300011", "1250.00"),
        invoice("B2", "N2", "RE-300012", "333.30"),
        invoice("C1", "N3", "RE-300021", "780.00"),
        invoice("C2", "N3", "RE-300022", "64.10"),
    ])


def payment(amount: str, reference: str | None = None) -> PaymentInput:
    return PaymentInput("P1", date(2024, 6, 25), D(amount), "EUR", None, "NORDWIND HANDEL", None, reference)


def paid(amount: str, reference: str | None, customers: list[CustomerInfo]) -> MatchResult:
    return match_payment(payment(amount, reference), ledger(), CustomerIndex(customers), MatchRules(), AS_OF)


def every_order(amount: str, reference: str | None = None) -> set[str]:
    """The decision, written out, for each order the namesakes can be listed in."""
    return {repr(paid(amount, reference, list(order))) for order in permutations(NAMESAKES)}


def test_the_one_namesake_an_invoice_of_the_amount_belongs_to_is_the_payer_in_any_order() -> None:
    decisions = every_order("333.30")
    assert len(decisions) == 1
    result = paid("333.30", None, NAMESAKES)
    assert result.customer_id == "N2"
    assert [a.doc_id for a in result.applications] == ["B2"]


def test_the_one_namesake_whose_invoices_add_up_to_the_amount_is_the_payer_in_any_order() -> None:
    decisions = every_order("505.50")
    assert len(decisions) == 1
    result = paid("505.50", None, NAMESAKES)
    assert result.customer_id == "N1"
    assert sorted(a.doc_id for a in result.applications) == ["A1", "A2"]


def test_the_namesake_a_quoted_number_names_is_the_payer_in_any_order() -> None:
    assert len(every_order("780.00", "RE-300021")) == 1
    assert paid("780.00", "RE-300021", NAMESAKES).customer_id == "N3"


def test_two_namesakes_that_fit_leave_the_payer_unknown_in_any_order() -> None:
    # N1 and N3 each have an invoice of exactly 410.00 open: two answers, so no namesake is chosen.
    decisions = set()
    for order in permutations(NAMESAKES):
        documents = ledger()
        documents.add(invoice("C3", "N3", "RE-300023", "410.00"))
        result = match_payment(payment("410.00"), documents, CustomerIndex(list(order)), MatchRules(), AS_OF)
        assert result.customer_id is None
        assert result.status == "unmatched"
        decisions.add(repr(result))
    assert len(decisions) == 1


def test_no_namesake_fitting_leaves_the_payer_unknown() -> None:
    result = paid("12.34", None, NAMESAKES)
    assert (result.status, result.customer_id) == ("unmatched", None)
