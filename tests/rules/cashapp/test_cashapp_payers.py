"""Who paid, told for a whole run of payments at once: the same answers as one payment at a time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest

from rules.cashapp import (
    CustomerIndex,
    CustomerInfo,
    DocumentIndex,
    MatchRules,
    PaymentInput,
    identify_payer,
    match_payment,
    match_payments,
    payers,
)
from rules.cashapp.generator import generate
from rules.cashapp.identify import Payer, PayerHit, identify, identify_all, payer_keys, prepare_payers
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


def test_customers_read_in_several_batches_name_the_same_payers_whether_scored_between_or_after() -> None:
    scenarios = generate(600, 6000, seed=19)
    rules = MatchRules()
    half = len(scenarios.customers) // 2
    # Names scored once the first half is in: the second half is indexed as it comes.
    scored_between = CustomerIndex(scenarios.customers[:half])
    scored_between.score_many_names(["SOMEONE"], rules.names.max_token_customers)
    scored_between.extend(scenarios.customers[half:])
    # Nothing asked of the names until the payers are identified.
    scored_after = CustomerIndex(scenarios.customers[:half])
    scored_after.extend(scenarios.customers[half:])

    first_use = identify_all(scenarios.payments, scored_after, rules)

    assert first_use == identify_all(scenarios.payments, scored_between, rules)
    ways = {p.hit.source if p.hit else "none" for p in first_use}
    assert {"name", "name_in_reference", "bank_account", "customer_id"} <= ways
    assert any(p.ties for p in first_use) and any(p.rivals for p in first_use)


def test_a_customer_index_never_asked_for_names_finds_a_payer_by_name_on_first_use() -> None:
    customers = CustomerIndex([CustomerInfo("C1", "Mueller Maschinenbau GmbH", ("DE12 3456",)),
                               CustomerInfo("C2", "Blue Anchor Holdings Ltd t/a Blue Anchor Cafe")])
    customers.add(CustomerInfo("C3", "Koch Pharma Nord AG", aliases=("Koch Pharmazie",)))
    assert len(customers) == 3 and customers.get("C2") is not None
    rules = MatchRules()

    cafe, koch, account = identify_all([
        PaymentInput("P1", date(2024, 6, 25), Decimal("10.00"), "EUR", payer_name="BLUE ANCHOR CAFE"),
        PaymentInput("P2", date(2024, 6, 25), Decimal("10.00"), "EUR", payer_name="KOCH PHARMAZIE"),
        PaymentInput("P3", date(2024, 6, 25), Decimal("10.00"), "EUR", payer_account="de12-3456")],
        customers, rules)

    assert cafe.hit is not None and (cafe.hit.customer_id, cafe.hit.source) == ("C2", "name")
    assert koch.hit is not None and koch.hit.customer_id == "C3"
    assert account.hit is not None and (account.hit.customer_id, account.hit.source) == ("C1", "bank_account")
    assert customers.names_of("C2") == {"blue anchor holdings", "blue anchor cafe"}


def test_a_customer_added_after_names_were_scored_is_found_by_name_and_takes_a_tie() -> None:
    customers = CustomerIndex([CustomerInfo("C1", "Koch Pharma GmbH")])
    rules = MatchRules()
    payment = PaymentInput("P1", date(2024, 6, 25), Decimal("10.00"), "EUR", payer_name="KOCH PHARMA")
    [before] = identify_all([payment], customers, rules)
    assert before.hit is not None and before.hit.customer_id == "C1" and not before.rivals

    customers.extend([CustomerInfo("C2", "Koch Pharma Nord GmbH"), CustomerInfo("C3", "Heron Traders")])
    [after] = identify_all([payment], customers, rules)
    [heron] = identify_all([PaymentInput("P2", date(2024, 6, 25), Decimal("10.00"), "EUR",
                                         payer_name="HERON TRADERS")], customers, rules)

    assert after.hit is not None and after.hit.customer_id == "C1"
    assert "C2" in {cid for _, cid in after.rivals}
    assert heron.hit is not None and heron.hit.customer_id == "C3"


def test_payers_found_elsewhere_stay_kept_when_names_are_first_scored_and_go_when_a_customer_comes() -> None:
    customers = CustomerIndex([CustomerInfo("C1", "Mueller Maschinenbau GmbH")])
    rules = MatchRules()
    payment = PaymentInput("P1", date(2024, 6, 25), Decimal("10.00"), "EUR", payer_name="SOMEONE ELSE")
    sent = Payer(PayerHit("C1", 0.5, "customer C1 by payer name 'SOMEONE ELSE'", "name"))
    customers.keep_payers(rules, dict(zip(payer_keys([payment]), [sent], strict=True)))

    # A payment of another run scores names for the first time.
    identify_all([PaymentInput("P2", date(2024, 6, 25), Decimal("1.00"), "EUR", payer_name="MUELLER")],
                 customers, rules)
    assert identify(payment, customers, rules) is sent

    customers.add(CustomerInfo("C2", "Someone Else Ltd"))
    again = identify(payment, customers, rules)
    assert again is not sent and again.hit is not None and again.hit.customer_id == "C2"


def test_customers_handed_over_in_a_list_changed_later_are_indexed_as_handed_over() -> None:
    given = [CustomerInfo("C1", "Blue Heron Traders")]
    customers = CustomerIndex(given)
    given[0] = CustomerInfo("C9", "Grey Gull Shipping")

    [payer] = identify_all([PaymentInput("P1", date(2024, 6, 25), Decimal("10.00"), "EUR",
                                         payer_name="BLUE HERON TRADERS")], customers, MatchRules())

    assert payer.hit is not None and payer.hit.customer_id == "C1"
    assert customers.get("C9") is None and customers.names_of("C9") == set()


def test_a_run_that_asks_only_for_customers_by_id_never_reads_their_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(names: object) -> list[str]:
        raise AssertionError("names normalised")

    monkeypatch.setattr(payers, "normalize_names", unexpected)
    monkeypatch.setattr(payers, "normalize_accounts", unexpected)
    customers = CustomerIndex([CustomerInfo("C1", "Mueller Maschinenbau GmbH", ("DE12 3456",))])
    customers.add(CustomerInfo("C2", "Koch Pharma GmbH"))

    [payer] = identify_all([PaymentInput("P1", date(2024, 6, 25), Decimal("10.00"), "EUR", customer_id="C2")],
                           customers, MatchRules())

    assert payer.hit is not None and payer.hit.how == "customer C2 (Koch Pharma GmbH) given with the payment"


def test_matchers_in_two_threads_scoring_names_first_find_the_same_payers() -> None:
    scenarios = generate(300, 3000, seed=29)
    rules = MatchRules()
    alone = identify_all(scenarios.payments, CustomerIndex(scenarios.customers), rules)
    shared = CustomerIndex(scenarios.customers)
    start = threading.Barrier(2)

    def identify_after_start() -> list[Payer]:
        start.wait()
        return identify_all(scenarios.payments, shared, rules)

    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda _: identify_after_start(), range(2)))

    assert together == [alone, alone]
