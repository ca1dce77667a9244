"""A letter can be posted, paper promises no e-mail opt-out, and one level can use several channels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from rules.dunning import HistoryEntry, render, summarize_history
from rules.dunning.policy import SenderDetails
from rules.dunning.render import NotRenderable
from tests.rules.dunning.builders import AS_OF, actions, customer, invoice, make_policy, pdf_text, run, skips

TODAY = date(2026, 11, 23)
LETTER_ONLY = [{"name": "final notice", "days_overdue": 7, "channels": ["letter"], "template": "final"}]
RATES = {
    "twelve": {"margin_percent": "12", "periods": [{"from": "2026-01-01", "reference_percent": "0"}]},
    "ecb": {
        "margin_percent": "8",
        "periods": [
            {"from": "2026-01-01", "reference_percent": "2.15"},
            {"from": "2026-11-01", "reference_percent": "2.40"},
        ],
    },
}


def test_a_letter_carries_the_customers_postal_address() -> None:
    cust = customer(billing_address={"line1": "350 Fifth Avenue", "city": "New York", "region": "NY",
                                     "postal_code": "10118", "country": "US"})  # fmt: skip
    [action] = actions(
        run(make_policy(std__levels=LETTER_ONLY), [cust], [invoice("1", TODAY - timedelta(9))])
    )
    assert action.address == ("350 Fifth Avenue", "New York, NY 10118", "US")
    pdf = render(action, cust, sender=SenderDetails(name="Example Ltd", country="US")).pdf
    assert pdf is not None
    text = pdf_text(pdf)
    assert "Customer C1 350 Fifth Avenue New York, NY 10118" in text


def test_a_customer_without_a_postal_address_gets_no_letter_and_the_reason_is_shown() -> None:
    results = run(
        make_policy(std__levels=LETTER_ONLY),
        [customer(billing_address=None)],
        [invoice("1", TODAY - timedelta(9))],
    )
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == "no_allowed_channel"
    assert skip.reason == "level 1: no allowed channel among letter (no postal address)"


def test_a_letter_without_an_address_is_never_rendered() -> None:
    [action] = actions(
        run(make_policy(std__levels=LETTER_ONLY), [customer()], [invoice("1", TODAY - timedelta(9))])
    )
    bare = customer(billing_address=None)
    with pytest.raises(NotRenderable, match="no postal address: the letter cannot be posted"):
        render(action.__class__(**{**_fields(action), "address": ()}), bare)


def _fields(action: object) -> dict[str, object]:
    return {name: getattr(action, name) for name in action.__dataclass_fields__}  # type: ignore[attr-defined]


def test_the_interest_line_states_rate_basis_and_period() -> None:
    policy = make_policy(
        std__levels=LETTER_ONLY,
        std__interest={"rate_table": "twelve"},
        rate_tables={"twelve": RATES["twelve"]},
    )
    [action] = actions(run(policy, [customer()], [invoice("1", date(2026, 10, 14), "1000.00")]))
    # 40 days, 15 October to 23 November, at 12 % a year on 1,000.00: 13.15.
    assert action.interest == Decimal("13.15")
    rendered = render(action, customer())
    assert "Interest: 12 % p.a. on 1,000.00 EUR from 2026-10-15 to 2026-11-23" in rendered.text
    assert "Interest on invoice INV-1: 12 % p.a. on 1,000.00 EUR from 2026-10-15 to 2026-11-23" in pdf_text(
        rendered.pdf or b""
    )
    german = render(action, customer(language="de"), language="de")
    assert "12 % p. a. auf 1.000,00 EUR vom 15.10.2026 bis 23.11.2026" in german.text


def test_a_rate_change_inside_the_period_gives_one_line_per_rate() -> None:
    policy = make_policy(
        std__levels=LETTER_ONLY, std__interest={"rate_table": "ecb"}, rate_tables={"ecb": RATES["ecb"]}
    )
    [action] = actions(run(policy, [customer()], [invoice("1", date(2026, 10, 14), "1000.00")]))
    text = render(action, customer()).text
    assert "10.15 % p.a. on 1,000.00 EUR from 2026-10-15 to 2026-10-31" in text
    assert "10.4 % p.a. on 1,000.00 EUR from 2026-11-01 to 2026-11-23" in text


def test_the_fee_appears_under_its_label() -> None:
    level = {**LETTER_ONLY[0], "fee": {"EUR": "15.00"}, "fee_label": "Mahngebühr (letzte Mahnung)"}
    [action] = actions(
        run(make_policy(std__levels=[level]), [customer()], [invoice("1", TODAY - timedelta(9))])
    )
    assert (action.fee, action.fee_label) == (Decimal("15.00"), "Mahngebühr (letzte Mahnung)")
    assert "Mahngebühr (letzte Mahnung): 15.00 EUR" in render(action, customer()).text


def test_paper_and_call_tasks_never_carry_the_emails_opt_out_statement() -> None:
    sender = SenderDetails(
        name="Example Ltd", opt_out_text="To stop e-mail about this account, call 555-0100."
    )
    level = {"days_overdue": 7, "channels": ["email"], "also": ["letter", "call"]}
    sent = actions(run(make_policy(std__levels=[level]), [customer()], [invoice("1", TODAY - timedelta(9))]))
    by_channel = {a.channel.value: render(a, customer(), sender=sender) for a in sent}
    assert set(by_channel) == {"email", "letter", "call"}
    assert "To stop e-mail about this account, call 555-0100." in by_channel["email"].text
    assert "call 555-0100" in (by_channel["email"].html or "")
    for paper in ("letter", "call"):
        assert "stop e-mail" not in by_channel[paper].text
    assert "stop e-mail" not in pdf_text(by_channel["letter"].pdf or b"")


def test_an_email_promises_no_opt_out_that_nothing_honours() -> None:
    level = {"days_overdue": 7, "channels": ["email"]}
    [action] = actions(
        run(make_policy(std__levels=[level]), [customer()], [invoice("1", TODAY - timedelta(9))])
    )
    rendered = render(action, customer(), sender=SenderDetails(name="Example Ltd"))
    assert "STOP" not in rendered.text and "STOP" not in (rendered.html or "")


def test_the_final_level_sends_a_letter_and_a_call_task_at_once() -> None:
    level = {"name": "final notice", "days_overdue": 7, "channels": ["letter"], "also": ["call"],
             "template": "final"}  # fmt: skip
    letter, call = actions(
        run(make_policy(std__levels=[level]), [customer()], [invoice("1", TODAY - timedelta(9))])
    )
    assert (letter.channel.value, call.channel.value) == ("letter", "call")
    assert (letter.level, call.level) == (1, 1) and letter.key != call.key
    assert call.template == "call" and call.recipient == "+49 30 1234567"
    assert "also by call" in letter.reason
    # Both are the one level reached, and the one contact of the day: a later run plans nothing more.
    history = [HistoryEntry.from_json(a.to_json()) for a in (letter, call)]
    later = run(make_policy(std__levels=[level]), [customer()], [invoice("1", TODAY - timedelta(9))],
                history=[h for h in history if h], as_of=AS_OF + timedelta(hours=3))  # fmt: skip
    assert actions(later) == [] and skips(later)[0].skipped == "already_contacted_today"
    week_later = run(make_policy(std__levels=[level]), [customer()], [invoice("1", TODAY - timedelta(9))],
                     history=[h for h in history if h], as_of=AS_OF + timedelta(days=7))  # fmt: skip
    assert skips(week_later)[0].skipped == "final_level_reached"


def test_an_also_channel_the_customer_cannot_get_is_left_out_with_the_reason() -> None:
    level = {"days_overdue": 7, "channels": ["letter"], "also": ["call"]}
    [letter] = actions(
        run(make_policy(std__levels=[level]), [customer(phone=None)], [invoice("1", TODAY - timedelta(9))])
    )
    assert "no call as well: no phone number" in letter.reason


def test_call_attempts_feed_the_call_cap_without_restarting_a_levels_gap() -> None:
    levels = [
        {"days_overdue": 7, "channels": ["email"]},
        {"days_overdue": 14, "min_gap_days": 10, "channels": ["call", "letter"]},
    ]
    policy = make_policy(std__levels=levels, caps=[{"channel": "call", "max": 2, "period_days": 7}])
    reminded = HistoryEntry(
        kind="action", customer_id="C1", at=AS_OF - timedelta(days=12), currency="EUR", level=1,
        channel="email", invoice_ids=("1",),
    )  # fmt: skip
    calls = [
        HistoryEntry(
            kind="call", customer_id="C1", at=AS_OF - timedelta(days=d), outcome=o, invoice_ids=("1",)
        )
        for d, o in ((2, "no_answer"), (1, "reached"))
    ]
    [action] = actions(
        run(policy, [customer()], [invoice("1", TODAY - timedelta(20))], history=[reminded, *calls])
    )
    # The calls did not count as level 2 being sent (the gap runs from level 1, 12 days ago) …
    assert action.level == 2
    # … but they did fill the call cap, so level 2 goes by letter.
    assert action.channel.value == "letter" and "call cap reached (2 of at most 2 in 7 days)" in action.reason
    summary = summarize_history([reminded, *calls])["C1"]
    assert summary.last_level_at["EUR"] == reminded.at and summary.last_call is not None


def test_a_promise_made_on_a_call_pauses_the_invoice_until_the_day_after() -> None:
    promise = HistoryEntry(
        kind="call", customer_id="C1", at=datetime(2026, 11, 20, 15, tzinfo=UTC), outcome="promise",
        invoice_ids=("1",), promised_date=date(2026, 11, 30),
    )  # fmt: skip
    results = run(make_policy(), [customer()], [invoice("1", TODAY - timedelta(20))], history=[promise])
    [skip] = skips(results)
    assert skip.skipped == "promise_to_pay" and skip.until == date(2026, 12, 1)
    assert "promised on a call to pay by 2026-11-30" in skip.reason
    broken = run(make_policy(), [customer()], [invoice("1", TODAY - timedelta(20))], history=[promise],
                 as_of=AS_OF + timedelta(days=9))  # fmt: skip
    [action] = actions(broken)
    assert "promise to pay broken for INV-1 (by 2026-11-30)" in action.reason


def test_a_dispute_raised_on_a_call_pauses_the_invoice_until_its_review_date() -> None:
    dispute = HistoryEntry(
        kind="call", customer_id="C1", at=AS_OF - timedelta(days=1), outcome="dispute", invoice_ids=("1",),
        until=date(2026, 12, 15),
    )  # fmt: skip
    invs = [invoice("1", TODAY - timedelta(20)), invoice("2", TODAY - timedelta(20))]
    results = run(make_policy(), [customer()], invs, history=[dispute])
    [action] = actions(results)
    assert action.invoice_ids == ("2",)
    [skip] = skips(results)
    assert (skip.skipped, skip.until) == ("disputed", date(2026, 12, 16))
