"""Pauses, each with its reason in the output, and channel fallback on opt-out or after a bounce."""

from __future__ import annotations

from datetime import date, timedelta

from mapping.models import DocumentStatus
from rules.dunning import Channel, HistoryEntry, PlannedAction, SkipCode
from tests.rules.dunning.builders import (
    AS_OF,
    actions,
    credit_memo,
    customer,
    invoice,
    make_policy,
    run,
    skips,
)

TODAY = date(2026, 11, 23)
DUE = TODAY - timedelta(days=30)


def test_disputed_invoice_is_left_out_of_the_letter_with_its_reason() -> None:
    invs = [invoice("1", DUE), invoice("2", DUE, disputed=True)]
    results = run(make_policy(), [customer()], invs)
    [action] = actions(results)
    assert action.invoice_ids == ("1",)
    [skip] = skips(results)
    assert (skip.invoice_ids, skip.skipped) == (("2",), SkipCode.DISPUTED)
    assert skip.reason == "invoice INV-2 is disputed; left out of reminders until the dispute is resolved"


def test_promise_to_pay_pauses_until_its_date() -> None:
    promise = TODAY + timedelta(days=4)
    inv = invoice("1", DUE, promise_to_pay_date=promise)
    results = run(make_policy(), [customer()], [inv])
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == SkipCode.PROMISE_TO_PAY
    assert skip.until == promise + timedelta(days=1)
    assert "promised to pay by 2026-11-27; paused until then" in skip.reason
    # On the promised day itself the customer still has time.
    on_the_day = run(make_policy(), [customer()], [inv], as_of=AS_OF + timedelta(days=4))
    assert actions(on_the_day) == []
    # The day after, the promise is broken and dunning resumes.
    day_after = run(make_policy(), [customer()], [inv], as_of=AS_OF + timedelta(days=5))
    assert [a.level for a in actions(day_after)] == [1]


def test_dunning_block_on_the_invoice_pauses_it() -> None:
    results = run(make_policy(), [customer()], [invoice("1", DUE, dunning_block=True), invoice("2", DUE)])
    assert actions(results)[0].invoice_ids == ("2",)
    [skip] = skips(results)
    assert skip.skipped == SkipCode.INVOICE_DUNNING_BLOCK
    assert "dunning block set in the ERP" in skip.reason


def test_dunning_block_on_the_customer_pauses_everything() -> None:
    invs = [invoice("1", DUE), invoice("2", DUE, currency="USD")]
    results = run(make_policy(), [customer(dunning_block=True)], invs)
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == SkipCode.CUSTOMER_DUNNING_BLOCK
    assert skip.invoice_ids == ("1", "2")
    assert "dunning block set on customer C1" in skip.reason


def test_pending_credit_memo_pauses_the_invoice() -> None:
    invs = [invoice("1", DUE), invoice("2", DUE)]
    results = run(make_policy(), [customer()], invs, memos=[credit_memo("9", applies_to="2", amount="25.00")])
    assert actions(results)[0].invoice_ids == ("1",)
    [skip] = skips(results)
    assert skip.skipped == SkipCode.CREDIT_MEMO_PENDING
    assert (
        skip.reason
        == "invoice INV-2: credit memo CM-9 (25.00 EUR) is pending against it; paused until applied"
    )


def test_applied_credit_memo_no_longer_pauses_the_invoice() -> None:
    applied = credit_memo("9", applies_to="1", status=DocumentStatus.PAID, open_amount="0")
    results = run(make_policy(), [customer()], [invoice("1", DUE)], memos=[applied])
    assert actions(results)[0].invoice_ids == ("1",)
    assert skips(results) == []


def test_opted_out_channel_falls_back_to_the_next_allowed_channel() -> None:
    [action] = actions(run(make_policy(), [customer(opt_out_channels=["email"])], [invoice("1", DUE)]))
    assert action.channel == Channel.LETTER
    assert "customer opted out of email: fell back to letter" in action.reason


def test_missing_email_address_falls_back_to_a_letter() -> None:
    [action] = actions(run(make_policy(), [customer(email=None)], [invoice("1", DUE)]))
    assert action.channel == Channel.LETTER
    assert action.recipient == "Hafenstrasse 1 / 20457 Hamburg / DE"
    assert action.address == ("Hafenstrasse 1", "20457 Hamburg", "DE")
    assert "no e-mail address: fell back to letter" in action.reason


def test_opted_out_of_every_channel_of_the_level_is_a_skip_with_the_reasons() -> None:
    results = run(make_policy(), [customer(opt_out_channels=["email", "letter"])], [invoice("1", DUE)])
    assert actions(results) == []
    [skip] = skips(results)
    assert skip.skipped == SkipCode.NO_ALLOWED_CHANNEL
    assert "customer opted out of email; customer opted out of letter" in skip.reason


def test_paid_void_and_deleted_invoices_are_ignored_silently() -> None:
    invs = [
        invoice("1", DUE, status=DocumentStatus.PAID, open_amount="0"),
        invoice("2", DUE, status=DocumentStatus.VOID),
        invoice("3", DUE, deleted=True),
        invoice("4", DUE, status=DocumentStatus.PARTIALLY_PAID, open_amount="40.00"),
    ]
    [action] = run(make_policy(), [customer()], invs)
    assert action.invoice_ids == ("4",)  # type: ignore[union-attr]


def _bounced(first: PlannedAction) -> HistoryEntry:
    entry = HistoryEntry.from_json({**first.to_json(), "outcome": "failed"})
    assert entry is not None
    return entry


def test_an_email_that_bounced_is_replaced_by_a_letter_at_the_same_level() -> None:
    [first] = actions(run(make_policy(), [customer()], [invoice("1", DUE)]))
    assert first.channel == Channel.EMAIL

    later = AS_OF + timedelta(hours=1)
    results = run(make_policy(), [customer()], [invoice("1", DUE)], history=[_bounced(first)], as_of=later)
    [again] = actions(results)

    assert (again.channel, again.level) == (Channel.LETTER, first.level)
    assert again.key != first.key  # the bounced e-mail keeps its own record
    assert "an earlier email to ap@c1.example failed: fell back to letter" in again.reason


def test_a_corrected_email_address_is_used_again_after_a_bounce() -> None:
    [first] = actions(run(make_policy(), [customer()], [invoice("1", DUE)]))
    fixed = customer(email="accounts@c1.example")

    [again] = actions(run(make_policy(), [fixed], [invoice("1", DUE)], history=[_bounced(first)]))

    assert (again.channel, again.recipient, again.key) == (Channel.EMAIL, "accounts@c1.example", first.key)
