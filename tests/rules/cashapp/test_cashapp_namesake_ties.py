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
    match_payments,
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


def _by_the_nearer_name(amount: str, own: list[str], rivals: list[str]) -> MatchResult:
    """A payment by a name that fits Koch Pharma best, and Koch Pharma Nord nearly as well."""
    customers = CustomerIndex([CustomerInfo("K1", "Koch Pharma GmbH"),
                               CustomerInfo("K2", "Koch Pharma Nord GmbH")])
    documents = DocumentIndex(
        [invoice(f"K1-{i}", "K1", f"RE-4100{i}", owed) for i, owed in enumerate(own)]
        + [invoice(f"K2-{i}", "K2", f"RE-4200{i}", owed) for i, owed in enumerate(rivals)])
    pay = PaymentInput("P1", date(2024, 6, 25), D(amount), "EUR", None, "KOCH PHARMA", None, None)
    return match_payment(pay, documents, customers, MatchRules(), AS_OF)


def test_an_item_of_the_amount_at_a_customer_of_nearly_the_same_name_sends_the_payment_to_review() -> None:
    result = _by_the_nearer_name("200.00", ["200.00", "75.00"], ["200.00"])

    assert (result.status, result.customer_id) == ("review", "K1")
    assert "fits customer K2 (Koch Pharma Nord GmbH) as well" in result.explanation


def test_two_items_of_the_amount_of_the_payer_go_to_review_as_two_answers_whatever_a_rival_has_open() -> None:
    with_rival = _by_the_nearer_name("200.00", ["200.00", "200.00"], ["200.00"])
    without = _by_the_nearer_name("200.00", ["200.00", "200.00"], ["310.00"])

    assert (with_rival.status, with_rival.customer_id) == ("review", "K1")
    assert "two answers fit equally well" in with_rival.explanation
    assert "K2" not in with_rival.explanation
    assert repr(with_rival) == repr(without)


def test_a_namesake_searched_by_amount_in_a_tie_shows_its_next_payment_its_invoices_oldest_first() -> None:
    # N2 lists the invoice due later first; both are open for 50.00.
    documents = DocumentIndex([
        invoice("A1", "N1", "RE-500001", "410.00"),
        OpenDocument("B1", "N2", "RE-500012", "invoice", "EUR", D("50.00"), D("50.00"), date(2024, 5, 20),
                     date(2024, 7, 19)),
        OpenDocument("B2", "N2", "RE-500011", "invoice", "EUR", D("50.00"), D("50.00"), date(2024, 4, 20),
                     date(2024, 5, 20)),
        invoice("B3", "N2", "RE-500013", "30.00"),
    ])
    payments = [
        # Neither namesake's invoices add up to 999.99: both are searched by amount, and the tie stays.
        PaymentInput("P1", date(2024, 6, 24), D("999.99"), "EUR", None, "NORDWIND HANDEL"),
        PaymentInput("P2", date(2024, 6, 25), D("30.00"), "EUR", "N2", None, None, "RE-500013"),
        # The same number again: a duplicate, with the invoices open for its amount named oldest first.
        PaymentInput("P3", date(2024, 6, 26), D("50.00"), "EUR", "N2", None, None, "RE-500013"),
    ]

    namesakes = CustomerIndex(NAMESAKES[:2])
    tie, first, duplicate = match_payments(payments, documents, namesakes, MatchRules(), AS_OF)

    assert (tie.status, tie.customer_id) == ("unmatched", None)
    assert first.status == "auto"
    assert (duplicate.status, duplicate.rule) == ("review", "reference_settled")
    assert "invoice RE-500011 and invoice RE-500012 are open for the same amount" in duplicate.explanation
