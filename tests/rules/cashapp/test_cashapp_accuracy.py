"""Accuracy on a generated set of realistic remittances, against the targets of the issue."""

from __future__ import annotations

from rules.cashapp import CustomerIndex, DocumentIndex, MatchRules, match_payments
from rules.cashapp.baseline import baseline_match
from rules.cashapp.generator import NOT_MATCHABLE, SCENARIOS, evaluate, generate, situation_figures


def test_generated_remittances_are_auto_applied_at_97_percent_with_998_precision() -> None:
    scenarios = generate(3000, 30000, seed=20240628)
    results = list(
        match_payments(
            scenarios.payments,
            DocumentIndex(scenarios.documents),
            CustomerIndex(scenarios.customers),
            MatchRules(),
            scenarios.as_of,
        )
    )
    acc = evaluate(results, scenarios.expected)
    assert acc.payments == 3000
    assert set(acc.by_scenario) == set(SCENARIOS)
    assert acc.auto_rate >= 0.97, acc.by_scenario
    assert acc.precision >= 0.998, acc.by_scenario
    for name in NOT_MATCHABLE:
        assert acc.by_scenario[name]["auto_correct"] == 0
        assert acc.by_scenario[name]["auto_wrong"] == 0


def test_every_messy_situation_is_generated_and_none_is_applied_wrongly() -> None:
    scenarios = generate(3000, 30000, seed=11)
    results = match_payments(
        scenarios.payments,
        DocumentIndex(scenarios.documents),
        CustomerIndex(scenarios.customers),
        MatchRules(),
        scenarios.as_of,
    )
    acc = evaluate(results, scenarios.expected)
    for name in ("partly_listed", "name_collision", "duplicate_payment", "foreign_number", "whole_balance"):
        row = acc.by_scenario[name]
        # Each of these holds payments a clerk could post and payments a clerk must ask about.
        assert 0 < row["matchable"] < row["n"], (name, row)
        assert row["auto_wrong"] == 0, (name, row)
        assert situation_figures(row)["precision"] == 1.0, (name, row)


def test_the_matcher_beats_the_exact_number_and_amount_baseline_by_far() -> None:
    scenarios = generate(1000, 10000, seed=7)
    baseline = evaluate(
        baseline_match(scenarios.payments, DocumentIndex(scenarios.documents)), scenarios.expected
    )
    ours = evaluate(
        match_payments(
            scenarios.payments,
            DocumentIndex(scenarios.documents),
            CustomerIndex(scenarios.customers),
            MatchRules(),
            scenarios.as_of,
        ),
        scenarios.expected,
    )
    assert baseline.auto_rate < 0.5
    assert ours.auto_rate > baseline.auto_rate + 0.4


def test_the_same_seed_gives_the_same_scenarios() -> None:
    a, b = generate(200, 2000, seed=3), generate(200, 2000, seed=3)
    assert a.payments == b.payments
    assert a.expected == b.expected
