"""The matches file says what each decision's JSON says, whatever numbers its scores are."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from rules.cashapp.files import write_matches
from rules.cashapp.model import ZERO, Application, MatchResult


def _result(payment_id: str, confidence: float, components: dict[str, float]) -> MatchResult:
    lines = [Application("D1", Decimal("10.00")), Application("D2", Decimal("-2.5"), Decimal("0.10"))]
    return MatchResult(payment_id, "review", "C1", confidence, "amount_subset", lines, Decimal("0"),
                       'Paid by "Müller"; two answers fit ≥ one', components)


def test_equal_scores_of_other_kinds_are_each_written_as_json_writes_them() -> None:
    # 1 == 1.0 and 0.0 == -0.0, yet JSON writes each differently: a controller reading the
    # file sees the scores the decision holds, whichever of them came first.
    results = [
        _result("P1", 0.9, {"payer": 1.0, "document": 0.5}),
        _result("P2", 0.9, {"payer": 1, "document": 0.5}),
        _result("P4", 0.0, {"payer": 0.0, "document": 0.5}),
        _result("P5", -0.0, {"payer": -0.0, "document": 0.5}),
        _result("P6", 1, {"payer": 1.0, "document": 0.5}),
        _result("P7", 0.9, {"payer": 1.0, "document": 0.5}),
        _result("P8", 0.9, {}),
    ]
    out = io.StringIO()
    counts = write_matches(results, out)
    assert out.getvalue().splitlines() == [json.dumps(r.to_json(), ensure_ascii=False) for r in results]
    assert counts == {"auto": 0, "review": 7, "unmatched": 0}


def test_a_zero_score_beside_others_is_written_with_its_sign_whichever_came_first() -> None:
    # The same confidence with a component of 0.0 or of -0.0, in either order, and the same values
    # under other names or in another order: each line says what its own decision holds.
    results = [
        _result("P1", 0.9, {"payer": 0.0, "document": 0.5}),
        _result("P2", 0.9, {"payer": -0.0, "document": 0.5}),
        _result("P3", 0.9, {"payer": 0.0, "document": 0.5}),
        _result("P4", 0.9, {"document": 0.5, "payer": 0.0}),
        _result("P5", 0.9, {"amount": 0.0, "document": 0.5}),
        _result("P6", 0.9, {"payer": 0.5, "document": 0.0}),
        _result("P7", 0.9, {"payer": 0.5, "document": -0.0}),
        _result("P8", 0.9, {"payer": 0.5, "document": 0.5, "amount": 0.5}),
        _result("P9", 0.9, {"payer": 0.5, "document": 0.5}),
    ]
    out = io.StringIO()
    write_matches(results, out)
    assert out.getvalue().splitlines() == [json.dumps(r.to_json(), ensure_ascii=False) for r in results]


@pytest.mark.parametrize("taken_off", [ZERO, Decimal("0"), Decimal("0.00"), Decimal("-0"), Decimal("0E-2"),
                                       Decimal("1.50")])
def test_what_a_line_takes_off_is_written_as_its_amount_says_even_when_nothing(taken_off: Decimal) -> None:
    # Nothing taken off reads "0" when it is the plain zero, and as the number stands otherwise.
    results = [
        MatchResult(f"P{i}", "auto", "C1", 0.9, "reference_exact", lines, ZERO, "Paid", {"payer": 1.0})
        for i, lines in enumerate([
            [Application("D1", Decimal("10.00"), taken_off, ZERO)],
            [Application("D1", Decimal("10.00"), ZERO, taken_off)],
            [Application("D1", Decimal("10.00"), taken_off, taken_off), Application("D2", Decimal("5"))],
            [Application("D2", Decimal("5")), Application("D1", Decimal("-3"), ZERO, taken_off)],
        ])
    ]
    out = io.StringIO()
    write_matches(results, out)
    assert out.getvalue().splitlines() == [json.dumps(r.to_json(), ensure_ascii=False) for r in results]


def test_a_decision_that_fails_leaves_the_lines_before_it_in_the_file() -> None:
    def decisions():
        for i in range(150):
            yield _result(f"P{i}", 0.9, {"payer": 1.0})
        raise ArithmeticError("a bug met by one payment")

    out = io.StringIO()
    with pytest.raises(ArithmeticError):
        write_matches(decisions(), out)
    assert len(out.getvalue().splitlines()) == 150


@pytest.mark.parametrize("explanation", [
    "Paid by customer C1 (Schulz Café); confidence 0.95 ≥ 0.85, applied automatically.",
    'Paid by "Müller"; two answers fit',
    "Payer name 'A\\B Trading' fits two customers",
    "Reference cut off:\nINV-1001\tINV-1002",
    "A name with a bell \x07 and a delete \x7f in it",
    "",
])
def test_an_explanation_is_written_as_json_writes_it_whatever_characters_it_holds(explanation: str) -> None:
    # Most explanations need no escaping and are written as they stand; quotes, backslashes and
    # control characters from a payer's name or reference are escaped as json.dumps escapes them.
    result = MatchResult("P1", "review", None, 0.5, "payer_name", [], Decimal("12.30"), explanation,
                         {"payer": 0.5})
    out = io.StringIO()
    write_matches([result], out)
    assert out.getvalue() == json.dumps(result.to_json(), ensure_ascii=False) + "\n"
    assert json.loads(out.getvalue())["explanation"] == explanation
