"""Messy real remittances: the matcher is never wrong first, then right as often as it can be.

One test per situation a reconciliation clerk meets; each names what the clerk would do.
"""

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
    match_payment,
    match_payments,
)
from rules.cashapp.normalize import extract_number_keys

AS_OF = date(2024, 6, 28)
D = Decimal


def doc(
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
        D(amount),  # type: ignore[arg-type]
        issued,
        date.fromordinal(issued.toordinal() + 30),
        D(discount) if discount else None,
        days,
        applies_to,
    )


def credit(
    doc_id: str, customer: str, number: str, amount: str, applies_to: str | None = None
) -> OpenDocument:
    return doc(doc_id, customer, number, amount, kind="credit_memo", applies_to=applies_to)


CUSTOMERS = [
    CustomerInfo("C1", "Mueller Maschinenbau GmbH", ("DE89 3704 0044 0532 0130 00",)),
    CustomerInfo("C2", "Koch Pharma GmbH", ("DE11 5001 0517 0000 0000 11",)),
    CustomerInfo("C3", "Koch Pharma Nord GmbH", ("DE22 5001 0517 0000 0000 22",)),
    CustomerInfo("C4", "Harbor Freightlines Ltd t/a Blue Anchor Cafe", ()),
    CustomerInfo("C5", "John Smith", ()),
    CustomerInfo("C6", "Turner Packaging Ltd", ("GB33BUKB20201555555555",)),
]


def pay(
    amount: str,
    reference: str | None = None,
    *,
    pid: str = "P1",
    customer: str | None = None,
    name: str | None = None,
    account: str | None = None,
    currency: str = "EUR",
    when: date = date(2024, 6, 25),
) -> PaymentInput:
    return PaymentInput(pid, when, D(amount), currency, customer, name, account, reference)


def run(payment: PaymentInput, docs: list[OpenDocument], rules: MatchRules | None = None) -> MatchResult:
    return match_payment(payment, DocumentIndex(docs), CustomerIndex(CUSTOMERS), rules or MatchRules(), AS_OF)


def applied(result: MatchResult) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {a.doc_id: (a.amount, a.discount, a.writeoff) for a in result.applications}


def full(*docs: OpenDocument) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {
        d.doc_id: (-d.open_amount if d.kind == "credit_memo" else d.open_amount, D(0), D(0)) for d in docs
    }


def many(customer: str, first: int, amounts: list[str], prefix: str = "X") -> list[OpenDocument]:
    return [doc(f"{prefix}{i}", customer, f"INV-{first + i}", a) for i, a in enumerate(amounts)]


# -- issue 14: situations from real reconciliation suites ----------------------------------------


def test_payment_naming_invoices_whose_total_is_less_applies_them_all_and_leaves_the_rest_on_account() -> (
    None
):
    named = many("C1", 200100, ["1190.00", "2380.50"])
    other = doc("O1", "C1", "INV-200900", "5000.00")
    result = run(pay("3720.50", "INV-200100 INV-200101", customer="C1"), [*named, other])
    assert result.status == "auto"
    assert applied(result) == full(*named)
    assert result.unapplied == D("150.00")


def test_payment_naming_an_invoice_and_the_credit_memos_netted_against_it_is_one_netted_application() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1000.00")
    memos = [credit("M1", "C1", "CN-30001", "100.00"), credit("M2", "C1", "CN-30002", "50.00")]
    result = run(pay("850.00", "INV-200100 less CN-30001, CN-30002", customer="C1"), [invoice, *memos])
    assert result.status == "auto"
    assert applied(result) == full(invoice, *memos)
    assert sum(a.amount for a in result.applications) == D("850.00")


@pytest.mark.parametrize("reference", ["1234//SMITH-John", "SMITH, JOHN 1234", "Ref 1234 Smith/John"])
def test_unknown_payer_named_in_the_reference_in_another_order_or_with_punctuation_is_found(
    reference: str,
) -> None:
    invoice = doc("I1", "C5", "INV-200500", "432.10")
    result = run(pay("432.10", reference, account="FR7630006000011234567890189"), [invoice])
    assert (result.status, result.customer_id) == ("auto", "C5")
    assert applied(result) == full(invoice)


def test_invoice_paid_partially_after_its_discount_window_is_a_partial_application_without_discount() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1000.00", issued=date(2024, 5, 1), discount="2", days=10)
    result = run(pay("980.00", "INV-200100", customer="C1"), [invoice])
    assert (result.status, result.rule) == ("auto", "reference_partial")
    assert applied(result) == {"I1": (D("980.00"), D(0), D(0))}


# -- partly listed remittances -------------------------------------------------------------------


def test_payment_listing_only_some_invoices_is_completed_by_the_one_open_item_that_makes_up_the_rest() -> (
    None
):
    paid = many(
        "C1", 200100, ["410.00", "520.00", "630.00", "740.00", "850.00", "960.00", "1070.00", "1180.00"]
    )
    # Two other open invoices add up to the rest as well; one invoice paying it to the cent is the answer.
    others = [
        doc("O1", "C1", "INV-200300", "300.00"),
        doc("O2", "C1", "INV-200301", "880.00"),
        doc("O3", "C1", "INV-200302", "2222.22"),
    ]
    listed = " ".join(d.number for d in paid[:7])
    total = sum((d.open_amount for d in paid), D(0))
    result = run(pay(str(total), listed, customer="C1"), [*paid, *others])
    assert result.status == "auto"
    assert applied(result) == full(*paid)
    assert result.unapplied == 0


def test_payment_listing_only_some_invoices_goes_to_review_when_several_combinations_make_up_the_rest() -> (
    None
):
    paid = many(
        "C1", 200100, ["410.00", "520.00", "630.00", "740.00", "850.00", "960.00", "1070.00", "1180.00"]
    )
    others = [
        doc("O1", "C1", "INV-200300", "950.00"),
        doc("O2", "C1", "INV-200301", "1300.00"),
        doc("O3", "C1", "INV-200302", "700.00"),
    ]
    listed = " ".join(d.number for d in paid[:6])  # the rest, 2250.00, is paid[6:] or O1 + O2
    total = sum((d.open_amount for d in paid), D(0))
    result = run(pay(str(total), listed, customer="C1"), [*paid, *others])
    assert result.status == "review"
    assert "unapplied on account" not in result.explanation


def test_reference_cut_off_mid_number_is_completed_by_the_invoice_it_was_cut_from() -> None:
    paid = many("C1", 200100, ["410.00", "520.00", "630.00"])
    other = doc("O1", "C1", "INV-200300", "5000.00")
    result = run(pay("1560.00", "INV-200100, INV-200101, INV-2001", customer="C1"), [*paid, other])
    assert result.status == "auto"
    assert applied(result) == full(*paid)


def test_partly_listed_payment_of_a_customer_with_800_open_items_is_decided_quickly_and_never_parked() -> (
    None
):
    amounts = [f"{100 + (i * 7919) % 4900}.{i % 100:02d}" for i in range(800)]
    ledger = many("C1", 300000, amounts)
    paid = ledger[:20]
    listed = " ".join(d.number for d in paid[:12])
    total = sum((d.open_amount for d in paid), D(0))
    result = run(pay(str(total), listed, customer="C1"), ledger)
    assert result.status == "review"
    assert result.unapplied == 0 or "unapplied on account" not in result.explanation


# -- deductions together ---------------------------------------------------------------------------


def test_discount_and_bank_fee_on_the_same_invoice_are_both_settled() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1000.00", issued=date(2024, 6, 18), discount="2", days=10)
    result = run(pay("975.00", "INV-200100", customer="C1", when=date(2024, 6, 27)), [invoice])
    assert result.status == "auto"
    assert applied(result) == {"I1": (D("975.00"), D("20.00"), D("5.00"))}


def test_discount_taken_days_after_its_window_is_a_partial_payment_and_the_discount_stays_open() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1000.00", issued=date(2024, 6, 12), discount="2", days=10)
    result = run(pay("980.00", "INV-200100", customer="C1", when=date(2024, 6, 24)), [invoice])
    assert (result.status, result.rule) == ("auto", "reference_partial")
    assert applied(result) == {"I1": (D("980.00"), D(0), D(0))}


def test_grace_days_for_a_late_discount_are_granted_only_when_configured() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1000.00", issued=date(2024, 6, 12), discount="2", days=10)
    result = run(
        pay("980.00", "INV-200100", customer="C1", when=date(2024, 6, 24)),
        [invoice],
        MatchRules(discount_grace_days=3),
    )
    assert (result.status, result.rule) == ("auto", "reference_discount")
    assert applied(result) == {"I1": (D("980.00"), D("20.00"), D(0))}


def test_several_invoices_each_with_its_discount_are_settled_with_each_discount() -> None:
    a = doc("I1", "C1", "INV-200100", "1000.00", issued=date(2024, 6, 18), discount="2", days=10)
    b = doc("I2", "C1", "INV-200101", "500.00", issued=date(2024, 6, 20), discount="3", days=10)
    result = run(pay("1465.00", "INV-200100 INV-200101", customer="C1", when=date(2024, 6, 27)), [a, b])
    assert result.status == "auto"
    assert applied(result) == {"I1": (D("980.00"), D("20.00"), D(0)), "I2": (D("485.00"), D("15.00"), D(0))}


# -- credit memos netted without being named -------------------------------------------------------


def test_invoice_less_two_unnamed_credit_memos_is_netted() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1000.00")
    memos = [credit("M1", "C1", "CN-30001", "120.00"), credit("M2", "C1", "CN-30002", "45.50")]
    result = run(
        pay("834.50", "INV-200100", customer="C1"), [invoice, *memos, credit("M3", "C1", "CN-30003", "99.00")]
    )
    assert result.status == "auto"
    assert applied(result) == full(invoice, *memos)


def test_invoices_less_an_unnamed_credit_memo_without_any_reference_are_netted() -> None:
    invoices = many("C1", 200100, ["1000.00", "640.00"])
    memo = credit("M1", "C1", "CN-30001", "120.00")
    result = run(pay("1520.00", "SEPA UEBERWEISUNG", customer="C1"), [*invoices, memo])
    assert result.status == "auto"
    assert applied(result) == full(*invoices, memo)


def test_invoice_less_two_unnamed_credit_memos_without_any_reference_is_netted() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1000.00")
    memos = [credit("M1", "C1", "CN-30001", "120.00"), credit("M2", "C1", "CN-30002", "45.50")]
    result = run(
        pay("834.50", "payment", customer="C1"), [invoice, *memos, doc("I2", "C1", "INV-200101", "77.00")]
    )
    assert result.status == "auto"
    assert applied(result) == full(invoice, *memos)


# -- ambiguous payer names -------------------------------------------------------------------------


@pytest.mark.parametrize("payer", ["KOCH PHARMA", "KOCH PHARMA NORD"])
def test_payer_name_fitting_two_customers_that_both_have_a_matching_open_item_goes_to_review(
    payer: str,
) -> None:
    docs = [doc("I1", "C2", "INV-200100", "640.00"), doc("I2", "C3", "INV-200200", "640.00")]
    result = run(pay("640.00", "Zahlung", name=payer), docs)
    assert result.status == "review"
    assert result.status != "auto"


def test_payer_name_near_collision_is_decided_by_the_only_customer_with_a_matching_open_item() -> None:
    docs = [doc("I1", "C2", "INV-200100", "640.00"), doc("I2", "C3", "INV-200200", "910.00")]
    result = run(pay("910.00", "Zahlung", name="KOCH PHARMA NORD"), docs)
    assert (result.status, result.customer_id) == ("auto", "C3")


# -- trading names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("payer", ["BLUE ANCHOR CAFE", "Harbor Freightlines Ltd"])
def test_customer_paying_under_its_trading_name_or_its_legal_name_is_found(payer: str) -> None:
    invoice = doc("I1", "C4", "INV-200400", "86.40")
    result = run(pay("86.40", "INV-200400", name=payer, account="GB00NWBK60161331926819"), [invoice])
    assert result.customer_id == "C4"
    assert "payer name" in result.explanation


def test_trading_name_alone_identifies_the_payer_of_an_invoice_paid_without_reference() -> None:
    invoice = doc("I1", "C4", "INV-200400", "86.40")
    result = run(pay("86.40", "CARD SETTLEMENT", name="BLUE ANCHOR CAFE"), [invoice])
    assert (result.status, result.customer_id) == ("auto", "C4")


# -- everything open ---------------------------------------------------------------------------------


def test_known_customer_paying_exactly_all_open_items_without_reference_has_them_all_applied() -> None:
    ledger = [
        *many("C1", 200100, ["410.00", "520.00", "630.00", "740.00", "850.00", "960.00"]),
        credit("M1", "C1", "CN-30001", "60.00"),
    ]
    result = run(pay("4050.00", "balance of account", customer="C1"), ledger)
    assert (result.status, result.rule) == ("auto", "amount_whole_balance")
    assert applied(result) == full(*ledger)


def test_known_customer_paying_more_than_all_open_items_has_them_all_applied_and_the_rest_on_account() -> (
    None
):
    ledger = many("C1", 200100, ["410.00", "520.00", "630.00", "740.00", "850.00"])
    result = run(pay("3500.00", "STATEMENT JUNE", account="DE89370400440532013000"), ledger)
    assert result.status == "auto"
    assert applied(result) == full(*ledger)
    assert result.unapplied == D("350.00")


# -- keying and OCR noise ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "INV-1OO1O5",  # O for 0
        "INV l00105",  # l for 1
        "INV-I00105",  # I for 1
        "INV100105",  # separators dropped
        "INV-000100105",  # leading zeros added
        "INV-100\n105",  # broken by a line break
        "PO 4500012345 INV-100105",  # the customer's own purchase order beside ours
    ],
)
def test_invoice_number_with_keying_or_ocr_noise_is_found(reference: str) -> None:
    invoice = doc("I1", "C1", "INV-100105", "1190.00")
    # A second invoice of the same amount: only the number can tell them apart.
    result = run(
        pay("1190.00", reference, customer="C1"), [invoice, doc("I2", "C1", "INV-100188", "1190.00")]
    )
    assert result.status == "auto"
    assert applied(result) == full(invoice)


def test_a_bank_file_of_noisy_references_finds_each_invoice_as_it_would_alone() -> None:
    invoices = [doc(f"I{n}", "C1", f"INV-{n}", "1190.00") for n in (100105, 100188, 100512, 20240)]
    references = [
        "INV-1OO1O5", "paid 06.03.2024 EUR 1.190,00 inv 100188", "INV l00512 / 2024-06-03", "INV-100\n188",
        "RE 20240 1.190,00", "INV-1OO1O5", None, "",
    ]
    payments = [pay("1190.00", ref, pid=f"P{i}", customer="C1") for i, ref in enumerate(references)]
    alone = [run(p, invoices) for p in payments]
    together = list(match_payments(payments, DocumentIndex(invoices), CustomerIndex(CUSTOMERS), MatchRules(),
                                   AS_OF, consume=False))
    assert [applied(r) for r in together] == [applied(r) for r in alone]
    assert [r.status for r in together] == [r.status for r in alone]
    assert (together[0].status, applied(together[0])) == ("auto", full(invoices[0]))


def test_invoice_number_with_its_leading_zeros_dropped_is_found() -> None:
    invoice = doc("I1", "C1", "RE-000512", "1190.00")
    result = run(
        pay("1190.00", "Rechnung 512", customer="C1"), [invoice, doc("I2", "C1", "RE-000777", "1190.00")]
    )
    assert applied(result) == full(invoice)


def test_words_with_o_and_i_are_not_read_as_numbers() -> None:
    assert extract_number_keys("INVOICE FOLIO OIL 2 ROLLS") == []


# -- another customer's invoice number -------------------------------------------------------------


def test_other_customers_number_from_a_payer_known_by_account_applies_its_invoice_one_digit_away() -> None:
    own = doc("I1", "C1", "INV-100101", "1190.00")
    foreign = doc("F1", "C6", "INV-100107", "720.00")
    result = run(pay("1190.00", "INV-100107", account="DE89370400440532013000"), [own, foreign])
    assert (result.status, result.customer_id) == ("auto", "C1")
    assert applied(result) == full(own)


def test_other_customers_number_with_the_payer_known_only_by_name_goes_to_review() -> None:
    own = doc("I1", "C1", "INV-100101", "1190.00")
    foreign = doc("F1", "C6", "INV-100107", "720.00")
    result = run(pay("1190.00", "INV-100107", name="MUELLER MASCHINENBAU"), [own, foreign])
    assert result.status == "review"
    assert "C6" in result.explanation


# -- split and duplicate payments in one file --------------------------------------------------------


def _run_all(payments: list[PaymentInput], docs: list[OpenDocument]) -> dict[str, MatchResult]:
    results = list(
        match_payments(payments, DocumentIndex(docs), CustomerIndex(CUSTOMERS), MatchRules(), AS_OF)
    )
    assert [r.payment_id for r in results] == [p.payment_id for p in payments]
    return {r.payment_id: r for r in results}


def test_second_half_of_a_split_payment_closes_the_invoice_even_when_listed_first() -> None:
    invoice = doc("I1", "C1", "INV-200100", "2000.00")
    second = pay("1200.00", "INV-200100", pid="P2", customer="C1", when=date(2024, 6, 26))
    first = pay("800.00", "INV-200100", pid="P1", customer="C1", when=date(2024, 6, 20))
    results = _run_all([second, first], [invoice])
    assert [results["P1"].rule, results["P2"].rule] == ["reference_partial", "reference_exact"]
    assert applied(results["P2"]) == {"I1": (D("1200.00"), D(0), D(0))}


def test_duplicate_of_a_payment_applied_earlier_finds_the_invoice_closed_and_goes_to_review() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1190.00")
    # Two other open invoices add up to the same amount: the duplicate must not be spread over them.
    others = [doc("O1", "C1", "INV-200300", "590.00"), doc("O2", "C1", "INV-200301", "600.00")]
    duplicate = pay("1190.00", "INV-200100", pid="P2", customer="C1", when=date(2024, 6, 26))
    original = pay("1190.00", "INV-200100", pid="P1", customer="C1", when=date(2024, 6, 24))
    results = _run_all([duplicate, original], [invoice, *others])
    assert results["P1"].status == "auto"
    assert applied(results["P1"]) == full(invoice)
    assert results["P2"].status == "review"


def test_duplicate_payment_goes_to_the_one_other_open_invoice_of_the_same_amount() -> None:
    invoice = doc("I1", "C1", "INV-200100", "1190.00")
    twin = doc("I2", "C1", "INV-200555", "1190.00")
    original = pay("1190.00", "INV-200100", pid="P1", customer="C1", when=date(2024, 6, 24))
    duplicate = pay("1190.00", "INV-200100", pid="P2", customer="C1", when=date(2024, 6, 26))
    results = _run_all([original, duplicate], [invoice, twin])
    assert applied(results["P1"]) == full(invoice)
    assert results["P2"].status == "auto"
    assert applied(results["P2"]) == full(twin)


# -- multi-currency ----------------------------------------------------------------------------------


def test_eur_payment_never_touches_the_customers_usd_items() -> None:
    usd = doc("U1", "C1", "INV-200100", "500.00", currency="USD")
    eur = doc("E1", "C1", "INV-200101", "500.00")
    by_amount = run(pay("500.00", "payment", customer="C1"), [usd, eur])
    assert applied(by_amount) == full(eur)
    by_number = run(pay("500.00", "INV-200100", customer="C1"), [usd, eur])
    assert "U1" not in applied(by_number)


# -- coincidences the amount alone does not rule out -------------------------------------------------


def test_unknown_payer_quoting_a_number_one_typo_from_an_invoice_the_amount_pays_goes_to_review() -> None:
    owner_of_quoted = doc("Q1", "C6", "INV-300117", "2417.54")
    meant = doc("M1", "C1", "INV-300171", "3047.45")
    result = run(
        pay("3047.45", "INV 300117", name="J. DOE", account="FR7630006000011234567890189"),
        [owner_of_quoted, meant],
    )
    assert result.status != "auto"
    assert "one typo away" in result.explanation


def test_unknown_payer_quoting_a_number_one_typo_from_an_invoice_of_the_amount_in_dollars_keeps_its_owner(
) -> None:
    owner_of_quoted = doc("Q1", "C6", "INV-300117", "2417.54")
    in_dollars = doc("M1", "C1", "INV-300171", "3047.45", currency="USD")
    paid = pay("3047.45", "INV 300117", name="J. DOE", account="FR7630006000011234567890189")
    result = run(paid, [owner_of_quoted, in_dollars])
    # The cash does not pay the quoted invoice as it stands, and the invoice it would pay exactly is in
    # dollars: nothing one typo away is paid, so the owner of the quoted number stays the answer.
    assert result.customer_id == "C6"
    assert "one typo away" not in result.explanation
    assert run(paid, [owner_of_quoted, doc("M1", "C1", "INV-300171", "3047.45")]).status != "auto"


def test_set_of_invoices_found_by_amount_alone_on_a_large_ledger_goes_to_review() -> None:
    amounts = [f"{200 + (i * 7919) % 3800}.{(i * 37) % 100:02d}" for i in range(40)]
    ledger = many("C1", 300000, amounts)
    total = ledger[3].open_amount + ledger[11].open_amount  # the only two that add up to it
    result = run(pay(str(total), "PAYMENT", customer="C1"), ledger)
    assert result.status != "auto"


def test_invoice_less_its_discount_is_found_among_more_than_forty_open_invoices() -> None:
    older = many("C1", 300000, [f"{500 + 13 * i}.00" for i in range(45)])
    newest = doc("N1", "C1", "INV-309999", "1000.00", issued=date(2024, 6, 20), discount="2", days=10)
    # 980.00 is also 12.00 short of the oldest invoice (992.00): a fee would fit there by chance.
    decoy = doc("X0", "C1", "INV-299999", "992.00", issued=date(2024, 1, 5))
    result = run(pay("980.00", "PAYMENT", customer="C1", when=date(2024, 6, 27)), [decoy, *older, newest])
    assert result.status == "auto"
    assert applied(result) == {"N1": (D("980.00"), D("20.00"), D(0))}
