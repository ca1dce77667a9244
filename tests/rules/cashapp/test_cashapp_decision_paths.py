"""Paths of a decision that the common case passes by: a rival invoice, the keys a caller found,
the payer score as written; amounts in thousandths."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

from rules.cashapp import (
    CustomerIndex,
    CustomerInfo,
    DocumentIndex,
    MatchRules,
    OpenDocument,
    PaymentInput,
    RemittanceLine,
    match_payment,
)
from rules.cashapp.matcher import _payer_score
from rules.cashapp.subset import to_units, units_of

AS_OF = date(2024, 6, 28)
D = Decimal
CUSTOMERS = CustomerIndex([CustomerInfo("C1", "Mueller Maschinenbau GmbH", ())])


def inv(doc_id: str, number: str, amount: str) -> OpenDocument:
    return OpenDocument(doc_id, "C1", number, "invoice", "EUR", D(amount), D(amount), date(2024, 5, 20),
                        date(2024, 6, 19))


def ledger() -> DocumentIndex:
    return DocumentIndex([inv("D1", "INV-100101", "1190.00"), inv("D2", "INV-100102", "2380.50"),
                          inv("D3", "INV-100117", "512.40")])


def pay(amount: str, reference: str, remittance: tuple[RemittanceLine, ...] = ()) -> PaymentInput:
    return PaymentInput("P1", date(2024, 6, 25), D(amount), "EUR", "C1", None, None, reference, remittance)


def test_a_quoted_invoice_the_cash_does_not_pay_while_another_is_paid_to_the_cent_goes_to_a_person() -> None:
    result = match_payment(pay("512.40", "INV-100101"), ledger(), CUSTOMERS, MatchRules(), AS_OF)
    assert result.status == "review"
    assert result.rule == "reference_partial"
    assert "but the amount pays invoice INV-100117 exactly instead" in result.explanation


def test_the_quoted_invoice_the_amount_pays_among_several_is_no_rival_of_itself() -> None:
    result = match_payment(pay("512.40", "INV-100101 INV-100117"), ledger(), CUSTOMERS, MatchRules(), AS_OF)
    assert result.rule == "reference_subset"
    assert [a.doc_id for a in result.applications] == ["D3"]
    assert "instead" not in result.explanation


def test_a_payment_without_a_number_that_fits_has_no_rival_to_name() -> None:
    result = match_payment(pay("500.00", "INV-100101"), ledger(), CUSTOMERS, MatchRules(), AS_OF)
    assert result.rule == "reference_partial"
    assert "instead" not in result.explanation


def test_the_keys_a_caller_found_are_used_as_given_and_left_as_they_were() -> None:
    keys = ["100101"]
    found = match_payment(pay("1190.00", "INV-100101"), ledger(), CUSTOMERS, MatchRules(), AS_OF,
                          reference_keys=keys)
    assert (found.status, [a.doc_id for a in found.applications]) == ("auto", ["D1"])
    # A remittance adds its numbers to the keys of this payment only, not to the caller's list.
    advice = (RemittanceLine("INV-100117", D("512.40")),)
    both = match_payment(pay("1702.40", "INV-100101", advice), ledger(), CUSTOMERS, MatchRules(), AS_OF,
                         reference_keys=keys)
    assert both.rule == "remittance_advice"
    assert keys == ["100101"]


def test_a_payer_score_is_written_rounded_to_four_places_and_a_zero_keeps_its_sign() -> None:
    for score in (0.87654321, 0.87654321, 1.0, 0.45, 0.9 * 0.93):
        assert _payer_score(score) == round(score, 4)
    assert math.copysign(1, _payer_score(0.0)) == 1
    assert math.copysign(1, _payer_score(-0.0)) == -1


def test_amounts_are_counted_in_thousandths_exactly_whatever_their_exponent_or_length() -> None:
    amounts = [D("1190.00"), D("0.001"), D("-12.5"), D("-0.00"), D("1E+5"), D("7"),
               D("9999999999999999999999999999"), D("123456789012345678901234567.89")]
    # As scaling each by 10**3 does, rounded to the context's 28 digits where an amount has more.
    expected = [int(a.scaleb(3)) for a in amounts]
    assert expected[:6] == [1190000, 1, -12500, 0, 100000000, 7000]
    assert units_of(amounts) == expected
    assert [to_units(a) for a in amounts] == expected
