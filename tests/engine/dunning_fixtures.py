"""What the daemon-side dunning tests share: a real SMTP server, a policy, CSV exports, a deployment.

The SMTP server is aiosmtpd on 127.0.0.1 port 0 (the kernel picks a free port). Tests tell it
to refuse some recipients (``refuse``), to be slow (``delay``) or to accept again.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import textwrap
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from config import default_config
from connectors.csv.sample import CUSTOMER_COLUMNS, INVOICE_COLUMNS, PAYMENT_COLUMNS, write_csv

# Monday 23 November 2026, 11:00 in Berlin.
AS_OF = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TODAY = AS_OF.date()

POLICY = """
version: 1
default_time_zone: Europe/Berlin
default_policy: std
contact_window: {channels: []}
rate_tables:
  ecb-plus-8:
    margin_percent: "8"
    day_count: 365
    periods: [{from: 2026-01-01, reference_percent: "2.15"}]
payment: {reference: "{customer_id}-{currency}"}
sender:
  name: Example Industrie GmbH
  address: [Hafenstrasse 1, 20457 Hamburg]
  email: forderungen@example.de
policies:
  std:
    minimum_amount: {"*": "5.00"}
    compensation_per_invoice: {EUR: "40.00"}
    interest: {rate_table: ecb-plus-8, from_level: 1}
    levels:
      - {name: payment reminder, days_overdue: 7, channels: [email, letter], fee: {EUR: "5.00"}}
      - {name: final notice, days_overdue: 30, min_gap_days: 10, channels: [letter], template: final}
"""


RATE = Decimal("0.1015")  # the policy's 2.15 % reference rate + 8 points


def interest(open_amount: str, days: int) -> Decimal:
    """Simple interest as the policy states it, worked out here independently of the planner."""
    return (Decimal(open_amount) * RATE * days / 365).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass
class Mailbox:
    """What the SMTP server was sent, and how it should answer next."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    # recipient -> SMTP reply to RCPT, e.g. "550 5.1.1 <x@y>: no such user"
    refuse: dict[str, str] = field(default_factory=dict)
    # seconds to wait before answering the message data (the message is stored first)
    delay: float = 0.0
    # recipients whose message the server stores and then hangs up on, without an answer
    hang_up: set[str] = field(default_factory=set)
    # the client's address and port for each message: one per SMTP connection
    peers: list[Any] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.peers.append(session.peer)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hang_up & set(envelope.rcpt_tos):
            server.transport.close()
            return "250 2.0.0 never heard"
        return "250 2.0.0 Message accepted for delivery"

    def message_ids(self) -> Counter[str]:
        """How often each Message-ID arrived."""
        return Counter(str(m["Message-ID"]) for m in self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages addressed to ``address``."""
        return [m for m in self.messages if str(m["To"]) == address]


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server on 127.0.0.1, port 0; yields the port it got and its mailbox."""
    from aiosmtpd.controller import Controller

    class OnPortZero(Controller):
        def _trigger_server(self) -> None:
            # The kernel chose the port when the server bound; connect there, not to port 0.
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    mailbox = Mailbox()
    controller = OnPortZero(mailbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


def customer_row(cid: str, name: str, email_address: str = "", **extra: str) -> dict[str, str]:
    return {
        "id": cid,
        "name": name,
        "email": email_address,
        "currency": "EUR",
        "country": "DE",
        "time_zone": "Europe/Berlin",
        "language": "en",
        "address_line1": "Hafenstrasse 1",
        "postal_code": "20457",
        "city": "Hamburg",
        "modified_at": "2026-10-01T08:00:00+00:00",
        **extra,
    }


def invoice_row(
    iid: str, cid: str, due: date, open_amount: str, total: str | None = None, **extra: str
) -> dict[str, str]:
    return {
        "id": iid,
        "number": f"INV-{iid}",
        "customer_id": cid,
        "status": "open",
        "currency": "EUR",
        "issue_date": (due - timedelta(days=30)).isoformat(),
        "due_date": due.isoformat(),
        "total": total or open_amount,
        "open_amount": open_amount,
        "version": "1",
        "modified_at": "2026-10-02T08:00:00+00:00",
        **extra,
    }


def payment_row(pid: str, cid: str, invoice_id: str, on: date, amount: str = "300.00") -> dict[str, str]:
    return {
        "id": pid,
        "customer_id": cid,
        "status": "Applied",
        "date": on.isoformat(),
        "amount": amount,
        "currency": "EUR",
        "unapplied_amount": "0.00",
        "allocations": f"{invoice_id}={amount}",
        "version": "1",
        "modified_at": f"{on.isoformat()}T12:00:00+00:00",
    }


def write_exports(
    folder: Path,
    customers: list[dict[str, str]],
    invoices: list[dict[str, str]],
    payments: Sequence[dict[str, str]] = (),
) -> Path:
    """CSV exports as the CSV connector reads them (customers may carry ``opt_out_channels``)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "customers.csv", [*CUSTOMER_COLUMNS, "opt_out_channels"], customers)
    write_csv(folder / "invoices.csv", INVOICE_COLUMNS, invoices)
    write_csv(folder / "payments.csv", PAYMENT_COLUMNS, list(payments))
    (folder / "credit_memos.csv").write_text("id,modified_at\n")
    return folder


def deployment(
    tmp_path: Path,
    exports: Path,
    smtp_port: int | None,
    *,
    channels: dict[str, Any] | None = None,
    **dunning: Any,
) -> Any:
    """A deployment syncing ``exports`` with dunning on; e-mail to the test server when a port is given."""
    policy = tmp_path / "dunning-policy.yaml"
    policy.write_text(textwrap.dedent(POLICY))
    chosen: dict[str, Any] = {"letter": {"dir": str(tmp_path / "letters")}}
    if smtp_port is not None:
        chosen["email"] = {
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "from": "Example Industrie AR <forderungen@example.de>",
            "reply_to": "ar-team@example.de",
            "timeout": "5s",
        }
    if channels is not None:
        chosen = channels
    return default_config(
        tmp_path / "state",
        overrides={
            "connections": [{"name": "shop", "connector": "csv", "settings": {"folder": str(exports)}}],
            "rules": {"dunning": {"enabled": True, "policy": str(policy), "channels": chosen, **dunning}},
        },
    )
