"""The matcher's behaviour, one customer story per test."""

from __future__ import annotations

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
    RemittanceLine,
    match_payment,
    match_payments,
)
from rules.cashapp.normalize import extract_number_keys, normalize_account, one_typo_apart
from rules.cashapp.settings import Thresholds, Tolerance

AS_OF = date(2024, 6, 28)
D = Decimal


def inv(
    doc_id: str,
    customer: str,
    number: str,
    amount: str,
    *,
    currency: str = "EUR",
    issued: date = date(2024, 5, 20),
    discount: str | None = None,
    days: int | None = None,
    kind: str = "invoice",
    applies_to: str | None = None,
) -> OpenDocument:
    return OpenDocument(
        doc_id,
        customer,
        number,
        kind,
        currency,
        D(amount),
        D(amount),
        issued,  # type: ignore[arg-type]
        date.fromordinal(issued.toordinal() + 30),
        D(discount) if discount else None,
        days,
        applies_to,
    )


def memo(doc_id: str, customer: str, number: str, amount: str, applies_to: str | None = None) -> OpenDocument:
    return inv(doc_id, customer, number, amount, kind="credit_memo", applies_to=applies_to)


CUSTOMERS = [
    CustomerInfo("C1", "Mueller Maschinenbau GmbH", ("DE89 3704 0044 0532 0130 00",), ("MM Maschinen",)),
    CustomerInfo("C2", "Acme Industrial Supply Inc.", ("021000021-123456789",)),
    CustomerInfo("C3", "Turner Packaging Ltd", ("GB33BUKB20201555555555",)),
    CustomerInfo("C4", "Schmidt Logistik Nord AG", ()),
    CustomerInfo("C5", "Schmidt Logistik Sued AG", ()),
]


def ledger(*docs: OpenDocument) -> DocumentIndex:
    base = [
        inv("D1", "C1", "INV-100101", "1190.00"),
        inv("D2", "C1", "INV-100102", "2380.50"),
        inv("D3", "C1", "INV-100117", "512.40"),
        inv("D4", "C2", "INV-100103", "980.00", currency="USD"),
        inv("D5", "C2", "INV-100104", "455.25", currency="USD"),
        inv("D6", "C3", "INV-100105", "3120.00", currency="GBP"),
        inv("D7", "C4", "INV-100106", "640.00"),
        inv("D8", "C5", "INV-100107", "720.00"),
    ]
    return DocumentIndex([*base, *docs])


def pay(
    amount: str,
    reference: str | None = None,
    *,
    customer: str | None = None,
    name: str | None = None,
    account: str | None = None,
    currency: str = "EUR",
    when: date = date(2024, 6, 25),
    remittance: tuple[RemittanceLine, ...] = (),
) -> PaymentInput:
    return PaymentInput("P1", when, D(amount), currency, customer, name, account, reference, remittance)


def run(
    payment: PaymentInput,
    documents: DocumentIndex | None = None,
    rules: MatchRules | None = None,
    customers: list[CustomerInfo] | None = None,
) -> MatchResult:
    return match_payment(
        payment, documents or ledger(), CustomerIndex(customers or CUSTOMERS), rules or MatchRules(), AS_OF
    )


def applied(result: MatchResult) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {a.doc_id: (a.amount, a.discount, a.writeoff) for a in result.applications}


# -- payer identification ------------------------------------------------------------------------


def test_payer_found_by_customer_id_given_with_the_payment() -> None:
    result = run(pay("1190.00", "INV-100101", customer="C1"))
    assert (result.status, result.customer_id, result.components["payer"]) == ("auto", "C1", 1.0)


def test_payer_found_by_bank_account_with_spaces_and_dashes() -> None:
    result = run(pay("1190.00", "INV-100101", account="de89-3704-0044-0532-0130-00"))
    assert result.status == "auto"
    assert result.customer_id == "C1"
    assert "bank account" in result.explanation


def test_account_normalization_ignores_case_spaces_punctuation_and_iban_label() -> None:
    assert normalize_account("IBAN: de89 3704.0044-0532 0130 00") == "DE89370400440532013000"
    assert normalize_account("021000021-123456789") == normalize_account("021000021 123 456 789")


def test_payer_found_by_fuzzy_name_without_legal_form_and_in_capitals() -> None:
    result = run(pay("980.00", "INV-100103", name="ACME INDUSTRIAL SUPPLY", currency="USD"))
    assert (result.status, result.customer_id) == ("auto", "C2")
    assert "payer name" in result.explanation


def test_payer_found_by_alias() -> None:
    result = run(pay("512.40", "Rechnung 100117", name="MM MASCHINEN"))
    assert result.customer_id == "C1"


def test_payer_found_by_name_inside_the_reference_text() -> None:
    result = run(pay("3120.00", "Payment from Turner Packaging for 100105", currency="GBP"))
    assert (result.status, result.customer_id) == ("auto", "C3")


def test_fuzzy_name_tie_declines_and_the_payer_stays_unknown() -> None:
    result = run(pay("999.99", "Zahlung", name="SCHMIDT LOGISTIK"))
    assert result.status == "unmatched"
    assert result.customer_id is None
    assert "equally well" in result.explanation


def test_name_tie_is_settled_by_the_only_customer_whose_invoice_fits() -> None:
    result = run(pay("720.00", "Zahlung", name="SCHMIDT LOGISTIK"))
    assert result.customer_id == "C5"
    assert applied(result) == {"D8": (D("720.00"), D(0), D(0))}


def test_unknown_payer_is_identified_by_the_owner_of_the_quoted_invoice() -> None:
    result = run(pay("2380.50", "INV-100102", name="J. DOE", account="FR7630006000011234567890189"))
    assert (result.status, result.customer_id) == ("auto", "C1")
    assert "owner of the quoted document" in result.explanation


# -- invoice numbers in free text ----------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "INV-100101",
        "Inv 100101",
        "invoice#100101",
        "/INV/100101/",
        "100101",
        "RE 100101 danke",
        "PAYMENT inv100101 THANK YOU",
        "Zahlung Rechnung Nr. 100101 vom 20.05.2024",
    ],
)
def test_invoice_number_in_any_common_spelling_is_found(reference: str) -> None:
    result = run(pay("1190.00", reference, customer="C1"))
    assert result.status == "auto"
    assert applied(result) == {"D1": (D("1190.00"), D(0), D(0))}


def test_dates_and_amounts_in_the_text_are_not_taken_for_invoice_numbers() -> None:
    keys = extract_number_keys("paid 06.03.2024 EUR 1.190,00 for inv 100101 on 2024-03-06")
    assert "100101" in keys
    assert not {"2024", "190", "1190"} & set(keys)


def test_quoted_invoice_paid_exactly_reads_the_same_whoever_paid_and_however_it_was_quoted() -> None:
    # An invoice kept without cents: the explanation shows cents and thousands, the line the amount as kept.
    documents = ledger(inv("D9", "C1", "INV-100130", "1234.5"))
    by_id = run(pay("1234.50", "INV-100130", customer="C1"), documents)
    assert (by_id.status, by_id.rule) == ("auto", "reference_exact")
    assert "; quotes invoice INV-100130 (open 1,234.50); the amount pays them exactly;" in by_id.explanation
    assert [(a.doc_id, str(a.amount), a.kind, a.number) for a in by_id.applications] == [
        ("D9", "1234.5", "invoice", "INV-100130")]
    unknown = run(pay("1234.50", "INV-100130", name="J. DOE"),
                  ledger(inv("D9", "C1", "INV-100130", "1234.5")))
    assert (unknown.status, unknown.customer_id, unknown.rule) == ("auto", "C1", "reference_exact")
    assert "; quotes invoice INV-100130 (open 1,234.50); the amount pays them exactly;" in unknown.explanation
    typo = run(pay("1234.50", "INV-100131", customer="C1"), ledger(inv("D9", "C1", "INV-100130", "1234.5")))
    assert typo.rule == "reference_exact"
    assert "; quotes (with one typo) invoice INV-100130 (open 1,234.50); the amount pays them exactly;" in (
        typo.explanation)
    assert [str(a.amount) for a in typo.applications] == ["1234.5"]


def test_invoice_number_with_a_transposed_digit_is_found() -> None:
    result = run(pay("2380.50", "INV-100120", customer="C1"))  # 100102 with 0 and 2 swapped
    assert result.status == "auto"
    assert applied(result) == {"D2": (D("2380.50"), D(0), D(0))}
    assert "typo" in result.explanation


def test_invoice_number_with_one_wrong_digit_is_found() -> None:
    result = run(pay("512.40", "INV 100118", customer="C1"))
    assert result.status == "auto"
    assert applied(result) == {"D3": (D("512.40"), D(0), D(0))}


def test_one_typo_apart_means_one_wrong_digit_or_one_adjacent_swap() -> None:
    assert one_typo_apart("100102", "100120")
    assert one_typo_apart("100102", "100107")
    assert not one_typo_apart("100102", "100201")
    assert not one_typo_apart("100102", "100102")


def test_typo_that_the_amount_does_not_confirm_goes_to_review() -> None:
    result = run(pay("100.00", "INV-100120", customer="C1"))
    assert result.status == "review"


def test_several_invoice_numbers_in_one_payment_are_all_applied() -> None:
    result = run(pay("3570.50", "INV-100101, INV-100102", account="DE89370400440532013000"))
    assert result.status == "auto"
    assert applied(result) == {"D1": (D("1190.00"), D(0), D(0)), "D2": (D("2380.50"), D(0), D(0))}


# -- amounts without a reference -----------------------------------------------------------------


def test_amount_matching_exactly_one_open_invoice_of_the_payer_is_applied() -> None:
    result = run(pay("512.40", "SEPA UEBERWEISUNG", customer="C1"))
    assert (result.status, result.rule) == ("auto", "amount_single_invoice")
    assert applied(result) == {"D3": (D("512.40"), D(0), D(0))}


def test_amount_equal_to_a_unique_subset_of_open_invoices_is_applied() -> None:
    result = run(pay("1702.40", "payment as agreed", customer="C1"))  # 1190.00 + 512.40
    assert (result.status, result.rule) == ("auto", "amount_subset")
    assert set(applied(result)) == {"D1", "D3"}


def test_two_equally_good_candidates_go_to_review_never_auto() -> None:
    docs = ledger(inv("D9", "C1", "INV-100140", "512.40"))  # a twin of D3
    result = run(pay("512.40", "ZAHLUNG", customer="C1"), docs)
    assert result.status == "review"
    assert len(result.applications) == 1
    assert "equally well" in result.explanation


def test_two_equal_subsets_go_to_review() -> None:
    docs = ledger(inv("D9", "C1", "INV-100141", "700.00"), inv("D10", "C1", "INV-100142", "1002.40"))
    result = run(pay("1702.40", "payment", customer="C1"), docs)  # D1+D3 or D9+D10
    assert result.status == "review"


def test_quoted_number_contradicted_by_an_exact_amount_elsewhere_goes_to_review() -> None:
    result = run(pay("512.40", "INV-100101", customer="C1"))
    assert result.status == "review"
    assert "INV-100117" in result.explanation


# -- how the cash fits ---------------------------------------------------------------------------


def test_early_payment_discount_taken_within_terms_is_applied_with_the_discount() -> None:
    docs = ledger(inv("D9", "C1", "INV-100150", "1000.00", issued=date(2024, 6, 18), discount="2", days=10))
    result = run(pay("980.00", "INV-100150", customer="C1", when=date(2024, 6, 27)), docs)
    assert (result.status, result.rule) == ("auto", "reference_discount")
    assert applied(result) == {"D9": (D("980.00"), D("20.00"), D(0))}


def test_discount_taken_after_its_terms_is_not_granted() -> None:
    docs = ledger(inv("D9", "C1", "INV-100150", "1000.00", issued=date(2024, 5, 1), discount="2", days=10))
    result = run(pay("980.00", "INV-100150", customer="C1", when=date(2024, 6, 27)), docs)
    assert applied(result) == {"D9": (D("980.00"), D(0), D(0))}
    assert "not granted" in result.explanation


def test_short_payment_by_a_bank_fee_within_tolerance_is_written_off() -> None:
    result = run(pay("2365.50", "INV-100102", customer="C1"))
    assert (result.status, result.rule) == ("auto", "reference_fee_writeoff")
    assert applied(result) == {"D2": (D("2365.50"), D(0), D("15.00"))}


def test_write_off_tolerance_is_configurable_in_absolute_and_percent() -> None:
    strict = MatchRules(tolerance=Tolerance(absolute=D("10"), percent=D("5")))
    assert run(pay("2365.50", "INV-100102", customer="C1"), rules=strict).rule == "reference_partial"
    tight_percent = MatchRules(tolerance=Tolerance(absolute=D("25"), percent=D("0.1")))
    assert run(pay("2365.50", "INV-100102", customer="C1"), rules=tight_percent).rule == "reference_partial"


def test_partial_payment_of_a_referenced_invoice_applies_only_the_cash() -> None:
    result = run(pay("1000.00", "INV-100102", customer="C1"))
    assert (result.status, result.rule) == ("auto", "reference_partial")
    assert applied(result) == {"D2": (D("1000.00"), D(0), D(0))}
    assert result.unapplied == 0


def test_second_instalment_sees_what_the_first_left_open() -> None:
    documents = ledger()
    first = pay("1000.00", "INV-100102", customer="C1")
    second = PaymentInput("P2", date(2024, 6, 27), D("1380.50"), "EUR", "C1", None, None, "INV-100102")
    results = list(match_payments([first, second], documents, CustomerIndex(CUSTOMERS), MatchRules(), AS_OF))
    assert [r.rule for r in results] == ["reference_partial", "reference_exact"]
    assert applied(results[1]) == {"D2": (D("1380.50"), D(0), D(0))}


def test_overpayment_leaves_the_remainder_unapplied_on_account() -> None:
    result = run(pay("1250.00", "INV-100101", customer="C1"))
    assert (result.status, result.rule) == ("auto", "reference_overpayment")
    assert applied(result) == {"D1": (D("1190.00"), D(0), D(0))}
    assert result.unapplied == D("60.00")


def test_credit_memo_netted_against_an_invoice() -> None:
    docs = ledger(memo("M1", "C1", "CN-20011", "190.00", applies_to="D1"))
    result = run(pay("1000.00", "INV-100101", customer="C1"), docs)
    assert (result.status, result.rule) == ("auto", "reference_credit_memo")
    assert applied(result) == {"D1": (D("1190.00"), D(0), D(0)), "M1": (D("-190.00"), D(0), D(0))}


def test_credit_memo_quoted_with_the_invoice_is_netted() -> None:
    docs = ledger(memo("M1", "C1", "CN-20011", "190.00"))
    result = run(pay("1000.00", "INV-100101 less CN-20011", customer="C1"), docs)
    assert result.status == "auto"
    assert sum(a.amount for a in result.applications) == D("1000.00")


def test_remittance_advice_amounts_are_applied_as_stated() -> None:
    advice = (RemittanceLine("INV-100101", D("1190.00")), RemittanceLine("100102", D("1000.00")))
    result = run(pay("2190.00", "see advice", customer="C1", remittance=advice))
    assert (result.status, result.rule) == ("auto", "remittance_advice")
    assert applied(result) == {"D1": (D("1190.00"), D(0), D(0)), "D2": (D("1000.00"), D(0), D(0))}


# -- what must not be applied --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("ZINSGUTSCHRIFT Q2 2024", "DEUTSCHE BANK AG"),
        ("REFUND ORDER 558812", "Amazon EU S.a.r.l."),
        ("TRANSFER", "R. NOBODY"),
        ("CREDIT INTEREST JUNE", None),
    ],
)
def test_noise_refunds_interest_and_unknown_payers_stay_unmatched(reference: str, name: str | None) -> None:
    result = run(pay("31.17", reference, name=name, account="FR7630006000011234567890189"))
    assert result.status == "unmatched"
    assert result.applications == []
    assert result.unapplied == D("31.17")


def test_payment_in_another_currency_is_not_matched_to_documents_in_euro() -> None:
    result = run(pay("1190.00", "INV-100101", customer="C1", currency="USD"))
    assert result.status == "unmatched"


def test_rules_may_propose_other_currency_documents_but_only_for_review() -> None:
    rules = MatchRules(match_across_currencies=True)
    result = run(pay("1285.20", "INV-100101", customer="C1", currency="USD"), rules=rules)
    assert (result.status, result.rule) == ("review", "reference_other_currency")


def test_thresholds_for_auto_and_review_are_configuration() -> None:
    cautious = MatchRules(thresholds=Thresholds(auto=0.99, review=0.5))
    result = run(pay("512.40", "ZAHLUNG", customer="C1"), rules=cautious)
    assert result.status == "review"
    assert result.confidence < 0.99


# -- explanations ----------------------------------------------------------------------------------


def test_every_decision_carries_confidence_components_rule_and_a_sentence() -> None:
    result = run(
        pay("980.00", "INV-100150", customer="C1", when=date(2024, 6, 27)),
        ledger(inv("D9", "C1", "INV-100150", "1000.00", issued=date(2024, 6, 18), discount="2", days=10)),
    )
    assert set(result.components) == {"payer", "document", "amount"}
    assert result.confidence == MatchRules().weighted(result.components)
    assert result.rule == "reference_discount"
    assert result.explanation.endswith(".") and "discount" in result.explanation
    assert result.to_json()["applications"] == [
        {"invoice_id": "D9", "amount": "980.00", "discount": "20.00", "writeoff": "0"}
    ]
