"""The daemon sends the reminders it planned: read back from a real SMTP server, once per day."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.csv.sample import CREDIT_MEMO_COLUMNS, write_csv
from engine.runner import open_store, sync_connection
from store.dunning import DunningActions
from tests.engine.dunning_fixtures import (
    AS_OF,
    TODAY,
    Mailbox,
    customer_row,
    deployment,
    interest,
    invoice_row,
    smtp,
    write_exports,
)

__all__ = ["smtp"]  # the fixture, imported for pytest


def brauhaus(tmp_path: Path, **customer: str) -> Path:
    return write_exports(
        tmp_path / "exports",
        [customer_row("C1", "Brauhaus Meier GmbH", "ap@brauhaus-meier.example", **customer)],
        [
            invoice_row("1001", "C1", TODAY - timedelta(days=20), "1190.00"),
            invoice_row("1002", "C1", TODAY - timedelta(days=12), "200.00", total="238.00"),
        ],
    )


def planned_before_the_contact_window(tmp_path: Path, port: int) -> tuple[Any, Path, Any, Any]:
    """Brauhaus's reminder, planned by the cycle at 06:00 Berlin time for 08:00, not sent yet."""
    exports = brauhaus(tmp_path)
    cfg = deployment(tmp_path, exports, port)
    policy = Path(str(cfg.rules.dunning.policy))
    policy.write_text(policy.read_text().replace("contact_window: {channels: []}", "contact_window: {}"))
    store = open_store(cfg)
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF.replace(hour=5))
    [planned] = DunningActions(store).with_status("shop", ["planned"])
    assert planned.send_at == AS_OF.replace(hour=7)
    return cfg, exports, store, planned


def test_an_overdue_customer_gets_one_email_with_invoices_amounts_fees_interest_and_reference(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    cfg = deployment(tmp_path, brauhaus(tmp_path), port)
    store = open_store(cfg)

    report = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)

    assert report.status == "ok" and report.delivered == {"dunning": {"sent": 1}}
    [message] = mailbox.to("ap@brauhaus-meier.example")
    [action] = DunningActions(store).with_status("shop", ["sent"])
    assert str(message["Message-ID"]) == f"<{action.key}@example.de>" == action.reference
    assert str(message["From"]) == "Example Industrie AR <forderungen@example.de>"
    assert str(message["Reply-To"]) == "ar-team@example.de"
    interest_total = interest("1190.00", 20) + interest("200.00", 12)
    fees = Decimal("5.00") + 2 * Decimal("40.00")  # level fee + EUR 40 per invoice
    total_due = Decimal("1390.00") + fees + interest_total
    expected = [
        "INV-1001",
        "INV-1002",
        "1,190.00 EUR",
        "200.00 EUR",
        f"{interest('1190.00', 20)} EUR",
        f"{interest('200.00', 12)} EUR",
        "Reminder fee: 5.00 EUR",
        "Compensation for recovery costs: 80.00 EUR",  # EUR 40 per invoice
        f"{interest_total} EUR",
        # The interest line states the rate, the amount it runs on and the period.
        "10.15 % p.a. on 1,190.00 EUR from 2026-11-04 to 2026-11-23",
        f"{total_due:,} EUR",
        "C1-EUR",  # the payment reference
    ]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for fragment in expected:
        assert fragment in text, fragment
        assert fragment in html, fragment
    store.close()


def test_a_second_cycle_the_same_day_sends_nothing_again(tmp_path: Path, smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    cfg = deployment(tmp_path, brauhaus(tmp_path), port)
    store = open_store(cfg)

    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)
    again = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(minutes=15))
    evening = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(hours=8))

    assert len(mailbox.messages) == 1
    assert again.delivered == {"dunning": {}} and evening.delivered == {"dunning": {}}
    assert DunningActions(store).counts("shop") == {"sent": 1}
    store.close()


def test_a_customer_opted_out_of_email_gets_the_letter_instead(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    cfg = deployment(tmp_path, brauhaus(tmp_path, opt_out_channels="email"), port)
    store = open_store(cfg)

    report = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)

    assert report.delivered == {"dunning": {"sent": 1}} and mailbox.messages == []
    [action] = DunningActions(store).with_status("shop", ["sent"])
    assert action.channel == "letter"
    assert "opted out of email" in action.payload["reason"]
    letter = tmp_path / "letters" / f"{action.key}.pdf"
    assert action.reference == str(letter)
    assert letter.read_bytes().startswith(b"%PDF-")
    cover = json.loads(letter.with_suffix(".json").read_text())
    assert cover["customer_id"] == "C1" and cover["invoice_ids"] == ["1001", "1002"]
    store.close()


def test_a_customer_who_paid_after_the_reminder_was_planned_does_not_get_it(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    # E-mails go out from 08:00 Berlin time; the cycle at 06:00 planned the reminder for 08:00.
    cfg, exports, store, planned = planned_before_the_contact_window(tmp_path, port)

    # The customer pays invoice 1001 at 07:30; the ERP export shows it at the next pull.
    write_exports(
        exports,
        [customer_row("C1", "Brauhaus Meier GmbH", "ap@brauhaus-meier.example")],
        [
            invoice_row("1001", "C1", TODAY - timedelta(days=20), "0.00", total="1190.00", status="paid",
                        version="2", modified_at="2026-11-23T06:30:00+00:00"),
            invoice_row("1002", "C1", TODAY - timedelta(days=12), "200.00", total="238.00"),
        ],
    )  # fmt: skip
    report = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF.replace(hour=7, minute=5))

    assert report.delivered == {"dunning": {"cancelled": 1}}
    cancelled = DunningActions(store).get(planned.key)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.last_error == "invoice INV-1001 is no longer open"
    assert mailbox.messages == []
    # The next cycle plans afresh from what is open now: one reminder for invoice 1002 alone.
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF.replace(hour=7, minute=20))
    [message] = mailbox.messages
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "INV-1002" in text and "INV-1001" not in text
    store.close()


def test_a_credit_memo_raised_after_the_reminder_was_planned_holds_it_back(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    cfg, exports, store, planned = planned_before_the_contact_window(tmp_path, port)

    # At 07:00 the clerk raises a credit memo against invoice 1002 (wrong quantity billed).
    write_csv(
        exports / "credit_memos.csv",
        CREDIT_MEMO_COLUMNS,
        [{"id": "2001", "number": "CM-2001", "customer_id": "C1", "status": "open", "currency": "EUR",
          "issue_date": TODAY.isoformat(), "total": "50.00", "open_amount": "50.00",
          "applies_to_invoice_id": "1002", "version": "1", "modified_at": "2026-11-23T06:00:00+00:00"}],
    )  # fmt: skip
    report = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF.replace(hour=7, minute=5))

    assert report.delivered == {"dunning": {"cancelled": 1}}
    cancelled = DunningActions(store).get(planned.key)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.last_error == "credit memo CM-2001 (50.00 EUR) is pending against invoice INV-1002 now"
    assert mailbox.messages == []
    # Planned afresh: invoice 1002 waits for its credit memo; the reminder lists 1001 alone.
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF.replace(hour=7, minute=20))
    [message] = mailbox.messages
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "INV-1001" in text and "INV-1002" not in text
    store.close()
