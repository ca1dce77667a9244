"""When the SMTP server says no: temporary refusals are retried with backoff, permanent ones fail."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from prometheus_client import generate_latest

from engine.metrics import build_registry
from engine.runner import open_store, sync_connection
from store.dunning import DunningActions
from tests.engine.dunning_fixtures import (
    AS_OF,
    TODAY,
    Mailbox,
    customer_row,
    deployment,
    invoice_row,
    smtp,
    write_exports,
)

__all__ = ["smtp"]  # the fixture, imported for pytest

BUSY = "451 4.2.1 Mailbox busy, try again later"
UNKNOWN = "550 5.1.1 <nobody@gone.example>: Recipient address rejected: User unknown"


def three_customers(tmp_path: Path) -> Path:
    return write_exports(
        tmp_path / "exports",
        [
            customer_row("C1", "Anker Logistik", "ap@anker.example"),
            customer_row("C2", "Busy Bakery", "busy@bakery.example"),
            customer_row("C3", "Gone Ltd", "nobody@gone.example"),
        ],
        [invoice_row(f"{i}", f"C{i}", TODAY - timedelta(days=10), "500.00") for i in (1, 2, 3)],
    )


def by_customer(store: object) -> dict[str, object]:
    """Each customer's e-mail reminder."""
    rows = DunningActions(store).with_status("shop", ["planned", "sent", "failed"])  # type: ignore[arg-type]
    return {r.customer_id: r for r in rows if r.channel == "email"}


def test_a_temporary_refusal_is_retried_later_and_a_permanent_one_fails_with_the_servers_words(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    mailbox.refuse = {"busy@bakery.example": BUSY, "nobody@gone.example": UNKNOWN}
    cfg = deployment(tmp_path, three_customers(tmp_path), port)
    store = open_store(cfg)

    first = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)

    assert first.delivered == {"dunning": {"sent": 1, "retry": 1, "failed": 1}}
    rows = by_customer(store)
    busy, gone = rows["C2"], rows["C3"]
    assert busy.status == "planned" and busy.next_attempt_at == AS_OF + timedelta(minutes=5)  # type: ignore[attr-defined]
    assert busy.last_error == f"temporary SMTP failure: busy@bakery.example: {BUSY}"  # type: ignore[attr-defined]
    assert gone.status == "failed"  # type: ignore[attr-defined]
    assert gone.last_error == f"refused by the SMTP server: nobody@gone.example: {UNKNOWN}"  # type: ignore[attr-defined]

    # Before the wait is over no e-mail is tried (Gone Ltd gets a letter instead, see below); after
    # it, the bakery's mailbox takes the message.
    early = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(minutes=2))
    mailbox.refuse.pop("busy@bakery.example")
    later = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(minutes=6))

    assert early.delivered == {"dunning": {"sent": 1}} and later.delivered == {"dunning": {"sent": 1}}
    assert [
        len(mailbox.to(a)) for a in ("ap@anker.example", "busy@bakery.example", "nobody@gone.example")
    ] == [
        1,
        1,
        0,
    ]
    assert by_customer(store)["C3"].status == "failed"  # type: ignore[attr-defined]
    store.close()


def test_a_recipient_refused_temporarily_too_often_is_marked_failed(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    mailbox.refuse = {"busy@bakery.example": BUSY}
    cfg = deployment(tmp_path, three_customers(tmp_path), port, retry={"initial": "1m", "attempts": 3})
    store = open_store(cfg)

    for minutes in (0, 1, 3):  # tries at 0, after 1 minute, after 2 more
        sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(minutes=minutes))

    busy = by_customer(store)["C2"]
    assert busy.status == "failed" and busy.attempts == 3  # type: ignore[attr-defined]
    assert busy.last_error == f"gave up after 3 tries: temporary SMTP failure: busy@bakery.example: {BUSY}"  # type: ignore[attr-defined]
    assert mailbox.to("busy@bakery.example") == []
    store.close()


def test_while_the_relay_is_down_reminders_wait_and_go_out_once_it_is_back(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    exports = three_customers(tmp_path)
    down = deployment(tmp_path, exports, closed)
    store = open_store(down)

    report = sync_connection(down, down.connections[0], store, as_of=AS_OF)

    # One connection attempt, not one per message: the other two wait without counting a try.
    assert report.delivered == {"dunning": {"retry": 1, "waiting": 2}}
    rows = by_customer(store)
    assert all(r.status == "planned" for r in rows.values())  # type: ignore[attr-defined]
    assert sorted(r.attempts for r in rows.values()) == [0, 0, 1]  # type: ignore[attr-defined]
    tried = next(r for r in rows.values() if r.attempts == 1)  # type: ignore[attr-defined]
    assert tried.last_error.startswith("SMTP server unreachable: ConnectionRefusedError")  # type: ignore[attr-defined]

    back = deployment(tmp_path, exports, port)
    sync_connection(back, back.connections[0], store, as_of=AS_OF + timedelta(minutes=6))
    assert sorted(str(m["To"]) for m in mailbox.messages) == [
        "ap@anker.example",
        "busy@bakery.example",
        "nobody@gone.example",
    ]
    store.close()


def test_a_reminder_not_sent_in_time_expires_instead_of_reaching_the_customer_days_late(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    exports = three_customers(tmp_path)
    letters_only = deployment(tmp_path, exports, None)
    store = open_store(letters_only)
    waiting = sync_connection(letters_only, letters_only.connections[0], store, as_of=AS_OF)
    assert waiting.delivered == {"dunning": {"waiting": 3}}  # planned for e-mail, which is not set up

    # Four days later the relay is configured: the old reminders are three days past expiry.
    with_email = deployment(tmp_path, exports, port)
    report = sync_connection(with_email, with_email.connections[0], store, as_of=AS_OF + timedelta(days=4))

    assert report.delivered == {"dunning": {"expired": 3}}
    assert mailbox.messages == []
    expired = DunningActions(store).with_status("shop", ["expired"])
    assert len(expired) == 3
    assert all("dropped rather than sent late" in (r.last_error or "") for r in expired)
    store.close()


def test_a_relay_that_hangs_up_after_taking_the_message_leaves_it_in_doubt_not_resent(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    mailbox.hang_up = {"busy@bakery.example"}
    cfg = deployment(tmp_path, three_customers(tmp_path), port)
    store = open_store(cfg)

    first = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)
    mailbox.hang_up.clear()
    later = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(hours=1))

    assert first.delivered == {"dunning": {"sent": 2, "in_doubt": 1}} and later.delivered == {"dunning": {}}
    assert len(mailbox.to("busy@bakery.example")) == 1  # the relay has it; nobody resent it
    [doubt] = DunningActions(store).with_status("shop", ["in_doubt"])
    assert doubt.customer_id == "C2"
    assert (doubt.last_error or "").startswith("the connection broke while the message was being handed over")
    scrape = generate_latest(build_registry(store, ["shop"])).decode()
    assert 'arbridge_dunning_in_doubt{connection="shop"} 1.0' in scrape
    assert 'arbridge_dunning_failed{connection="shop"} 0.0' in scrape
    store.close()


def test_an_expired_reminder_is_planned_again_at_its_level_not_counted_as_sent(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    exports = three_customers(tmp_path)
    letters_only = deployment(tmp_path, exports, None)
    store = open_store(letters_only)
    sync_connection(letters_only, letters_only.connections[0], store, as_of=AS_OF)
    with_email = deployment(tmp_path, exports, port)
    later = AS_OF + timedelta(days=4)
    sync_connection(with_email, with_email.connections[0], store, as_of=later)
    assert DunningActions(store).counts("shop") == {"expired": 3}

    # The customers never saw the first reminder: the next cycle sends it, not the second level.
    next_cycle = later + timedelta(minutes=15)
    report = sync_connection(with_email, with_email.connections[0], store, as_of=next_cycle)

    assert report.delivered == {"dunning": {"sent": 3}}
    assert sorted(str(m["To"]) for m in mailbox.messages) == [
        "ap@anker.example",
        "busy@bakery.example",
        "nobody@gone.example",
    ]
    sent = DunningActions(store).with_status("shop", ["sent"])
    assert [r.level for r in sent] == [1, 1, 1]
    store.close()


def test_a_customer_whose_email_bounced_gets_the_letter_instead_and_no_second_bounce(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    mailbox.refuse = {"nobody@gone.example": UNKNOWN}
    exports = three_customers(tmp_path)
    cfg = deployment(tmp_path, exports, port)
    store = open_store(cfg)
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)

    report = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(minutes=15))

    assert report.delivered == {"dunning": {"sent": 1}}
    book = DunningActions(store)
    [bounced] = book.with_status("shop", ["failed"])
    [letter] = [r for r in book.with_status("shop", ["sent"]) if r.customer_id == "C3"]
    assert (bounced.channel, bounced.level, letter.channel, letter.level) == ("email", 1, "letter", 1)
    assert "an earlier email to nobody@gone.example failed: fell back to letter" in letter.payload["reason"]
    assert (tmp_path / "letters" / f"{letter.key}.pdf").read_bytes().startswith(b"%PDF-")
    # The next days, nothing goes to the dead address again.
    for day in (1, 2, 3):
        sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + timedelta(days=day))
    assert mailbox.to("nobody@gone.example") == [] and len(book.with_status("shop", ["failed"])) == 1
    assert [r.channel for r in book.with_status("shop", ["sent"]) if r.customer_id == "C3"] == ["letter"]
    store.close()


def customers(count: int) -> list[dict[str, str]]:
    return [customer_row(f"C{i}", f"Customer {i}", f"ap@c{i}.example") for i in range(1, count + 1)]


def test_one_smtp_connection_carries_many_reminders_and_a_refused_recipient_does_not_break_it(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    mailbox.refuse = {"ap@c3.example": UNKNOWN}
    exports = write_exports(
        tmp_path / "exports",
        customers(7),
        [invoice_row(f"{i}", f"C{i}", TODAY - timedelta(days=10), "500.00") for i in range(1, 8)],
    )
    cfg = deployment(tmp_path, exports, port, channels={
        "email": {"host": "127.0.0.1", "port": port, "security": "none", "from": "ar@example.de",
                  "messages_per_connection": 4},
    })  # fmt: skip
    store = open_store(cfg)

    report = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)

    assert report.delivered == {"dunning": {"sent": 6, "failed": 1}}
    assert len(mailbox.messages) == 6 and mailbox.to("ap@c3.example") == []
    # Six messages, four at most per connection: two connections, not six.
    assert [mailbox.peers.count(p) for p in dict.fromkeys(mailbox.peers)] == [4, 2]
    store.close()

