"""An application line and a decision are plain records: what a caller builds, copies, pickles or
compares is what it gave, however the matcher makes them."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from decimal import Decimal

import pytest

from rules.cashapp.model import ZERO, Application, MatchResult, decided


def test_an_application_line_holds_what_it_was_given_and_stays_as_made() -> None:
    line = Application("D1", Decimal("10.00"), Decimal("0.20"), ZERO, "invoice", "INV-1")
    assert (line.doc_id, line.amount, line.discount, line.writeoff, line.kind, line.number) == (
        "D1", Decimal("10.00"), Decimal("0.20"), ZERO, "invoice", "INV-1")
    assert type(line) is Application
    assert line == Application(doc_id="D1", amount=Decimal("10.00"), discount=Decimal("0.20"), number="INV-1")
    assert hash(line) == hash(Application("D1", Decimal("10.00"), Decimal("0.20"), ZERO, "invoice", "INV-1"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.amount = ZERO  # type: ignore[misc]
    with pytest.raises(TypeError):
        Application("D1")  # type: ignore[call-arg]


def test_an_application_line_copied_pickled_or_replaced_keeps_its_fields() -> None:
    line = Application("D2", Decimal("-3.50"), kind="credit_memo", number="CM-2")
    assert copy.copy(line) == line and copy.deepcopy(line) == line
    assert pickle.loads(pickle.dumps(line)) == line
    replaced = dataclasses.replace(line, amount=ZERO)
    assert replaced == Application("D2", ZERO, kind="credit_memo", number="CM-2")
    assert dataclasses.asdict(line)["number"] == "CM-2"


def test_a_line_of_a_richer_kind_of_application_holds_its_own_fields_too() -> None:
    @dataclasses.dataclass(slots=True, frozen=True)
    class NotedApplication(Application):
        note: str = ""

    line = NotedApplication("D3", Decimal("1.00"), note="by phone")
    assert type(line) is NotedApplication
    assert (line.doc_id, line.amount, line.discount, line.note) == ("D3", Decimal("1.00"), ZERO, "by phone")
    assert copy.copy(line) == line


def test_a_decision_the_matcher_makes_is_the_one_its_fields_describe() -> None:
    lines = [Application("D1", Decimal("10.00"))]
    made = decided("P1", "auto", "C1", 0.9475, "reference_exact", lines, ZERO, "Paid.", {"payer": 1.0})
    built = MatchResult("P1", "auto", "C1", 0.9475, "reference_exact", lines, ZERO, "Paid.", {"payer": 1.0})
    assert made == built and repr(made) == repr(built)
    assert type(made) is MatchResult
    assert made.to_json()["applications"] == [
        {"invoice_id": "D1", "amount": "10.00", "discount": "0", "writeoff": "0"}]


def test_a_line_of_a_plain_subclass_is_made_copied_and_pickled_as_an_application_is() -> None:
    line = PlainLine("D4", Decimal("2.00"), number="INV-4")
    assert type(line) is PlainLine
    assert (line.doc_id, line.amount, line.number) == ("D4", Decimal("2.00"), "INV-4")
    assert copy.deepcopy(line) == line and pickle.loads(pickle.dumps(line)) == line


class PlainLine(Application):
    __slots__ = ()
