"""Who paid, told for a whole run of payments at once: the same answers as one payment at a time."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from rules.cashapp import (
    CustomerIndex,
    CustomerInfo,
    DocumentIndex,
    MatchRules,
    PaymentInput,
    identify_payer,
    match_payment,
    match_payments,
)
from rules.cashapp.generator import generate
from rules.cashapp.identify import prepare_payers
from rules.cashapp.normalize import normalize_account
from rules.cashapp.payers import normalize_accounts


def test_a_run_of_payments_is_decided_as_each_payment_alone_would_be() -> None:
    scenarios = generate(600, 6000, seed=19)
    together = list(match_payments(scenarios.payments, DocumentIndex(scenarios.documents),
                                   CustomerIndex(scenarios.customers), MatchRules(), scenarios.as_of,
                                   consume=False))
    documents = DocumentIndex(scenarios.documents)
    alone = [match_payment(p, documents, CustomerIndex(scenarios.customers), MatchRules(), scenarios.as_of)
             for p in scenarios.payments]
    assert together == alone
    # The run holds every way of telling the payer (and of declining), so each of them was compared.
    for way in ("given with the payment", "by bank account", "by payer name", "named in the reference",
                "equally well", "payer not identified"):
        assert any(way in r.explanation for r in together), way


def test_an_alias_learned_after_a_run_tells_the_payer_of_the_next_decision() -> None:
    customers = CustomerIndex([CustomerInfo("C1", "Mueller Maschinenbau GmbH")])
    payment = PaymentInput("P1", date(2024, 6, 25), Decimal("100.00"), "EUR", payer_name="BLUE HERON TRADERS")
    rules = MatchRules()
    prepare_payers([payment], customers, rules)
    assert identify_payer(payment, customers, rules)[0] is None
    customers.add(CustomerInfo("C1", "Mueller Maschinenbau GmbH", aliases=("Blue Heron Traders",)))
    hit, _ = identify_payer(payment, customers, rules)
    assert hit is not None and hit.customer_id == "C1"


def test_a_bank_account_registered_after_a_run_tells_the_payer_of_the_next_decision() -> None:
    customers = CustomerIndex([CustomerInfo("C1", "Mueller Maschinenbau GmbH")])
    payment = PaymentInput("P1", date(2024, 6, 25), Decimal("100.00"), "EUR", payer_account="DE89 3704 0044")
    rules = MatchRules()
    prepare_payers([payment], customers, rules)
    customers.add(CustomerInfo("C1", "Mueller Maschinenbau GmbH", ("de89-3704-0044",)))
    hit, _ = identify_payer(payment, customers, rules)
    assert hit is not None and (hit.customer_id, hit.source) == ("C1", "bank_account")


def test_accounts_read_together_are_compared_as_one_at_a_time() -> None:
    accounts = ["IBAN: de89 3704.0044-0532 0130 00", "iban DE12", "021000021-123456789", "", "  ",
                "Ibanez-4711", "ÜBER 12", "GB33 BUKB 2020 1555 5555 55"]
    assert normalize_accounts(accounts) == [normalize_account(a) for a in accounts]
    assert normalize_accounts(["DE89\n3704", "x"]) == [normalize_account("DE89\n3704"), "X"]
