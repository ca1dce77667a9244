"""E-mail through a real local SMTP server, PDF letters, call tasks and webhooks."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from rules.dunning import (
    CallTaskSender,
    LetterSender,
    PlannedAction,
    SmtpEmailSender,
    SmtpSettings,
    WebhookSender,
    message_id_for,
    render,
)
from tests.rules.dunning.builders import Received, actions, customer, invoice, make_policy, pdf_text, run

TODAY = date(2026, 11, 23)
SENDER = make_policy().sender


def _action(channel: str = "email", language: str = "en", **cust: Any) -> tuple[PlannedAction, Any]:
    level = {
        "days_overdue": 1,
        "channels": [channel],
        "fee": {"EUR": "5.00"},
        "template": "call" if channel == "call" else "reminder",
    }
    pol = make_policy(std__levels=[level], std__compensation_per_invoice={"EUR": "40.00"})
    c = customer(language=language, **cust)
    invs = [
        invoice("1", TODAY - timedelta(days=30), "1234.50"),
        invoice("2", TODAY - timedelta(days=5), "99.00"),
    ]
    [action] = actions(run(pol, [c], invs))
    return action, c


def test_email_is_read_back_from_a_local_smtp_server(smtp_server: tuple[str, int, Received]) -> None:
    host, port, received = smtp_server
    action, cust = _action()
    rendered = render(action, cust, sender=SENDER)
    settings = SmtpSettings.model_validate(
        {"host": host, "port": port, "starttls": False, "from": "ar@supplier.example"}
    )
    receipt = SmtpEmailSender(settings).send(action, rendered)

    [raw] = received.messages
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Message-ID"] == receipt.reference == message_id_for(action.key, "supplier.example")
    assert msg["To"] == "ap@c1.example"
    assert msg["From"] == "ar@supplier.example"
    assert msg["Subject"] == "Payment reminder 1: 1,418.50 EUR overdue"
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    for body in (text, html):
        assert "INV-1" in body and "INV-2" in body
        assert "1,234.50 EUR" in body and "99.00 EUR" in body
        assert "Reminder fee: 5.00 EUR" in body
        assert "Compensation for recovery costs: 80.00 EUR" in body  # 40.00 for each invoice
        assert "1,418.50 EUR" in body  # 1,234.50 + 99.00 + 5.00 + 80.00 + 0 interest
        assert "C1-EUR" in body  # payment reference
        assert "https://pay.example.com/C1-EUR" in body
        assert "STOP" not in body  # nothing reads the replies here: no opt-out is promised
    assert "Dear Customer C1," in text
    assert "<td>INV-1</td>" in html


def test_a_connection_the_relay_dropped_is_replaced_and_the_next_email_still_goes_out(
    smtp_server: tuple[str, int, Received],
) -> None:
    host, port, received = smtp_server
    first, cust = _action()
    second, other = _action(language="de-DE")
    settings = SmtpSettings.model_validate(
        {"host": host, "port": port, "starttls": False, "from": "ar@supplier.example"}
    )
    sender = SmtpEmailSender(settings)
    sender.send(first, render(first, cust, sender=SENDER))
    kept = sender._smtp
    assert kept is not None and kept.sock is not None
    kept.sock.shutdown(socket.SHUT_RDWR)  # as when the relay times an idle session out

    sender.send(second, render(second, other, sender=SENDER))
    sender.close()

    messages = [email.message_from_bytes(m, policy=email.policy.default) for m in received.messages]
    assert [m["Subject"] for m in messages] == [
        "Payment reminder 1: 1,418.50 EUR overdue",
        "Zahlungserinnerung: 1.418,50 EUR überfällig",
    ]
    assert sender._smtp is None


def test_email_is_written_in_the_customers_language(smtp_server: tuple[str, int, Received]) -> None:
    host, port, received = smtp_server
    action, cust = _action(language="de-DE")
    settings = SmtpSettings.model_validate(
        {"host": host, "port": port, "starttls": False, "from": "ar@x.example"}
    )
    SmtpEmailSender(settings).send(action, render(action, cust, sender=SENDER))
    msg = email.message_from_bytes(received.messages[0], policy=email.policy.default)
    assert msg["Subject"] == "Zahlungserinnerung: 1.418,50 EUR überfällig"
    assert msg["Content-Language"] == "de"
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Rechnung INV-1, fällig" in text and "1.234,50 EUR" in text


def test_language_without_templates_falls_back_to_english() -> None:
    action, cust = _action(language="fr")
    assert render(action, cust).language == "en"


def test_html_body_escapes_customer_data() -> None:
    action, cust = _action(name="<script>alert(1)</script> & Co")
    html = render(action, cust).html or ""
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_smtp_password_is_never_shown() -> None:
    settings = SmtpSettings.model_validate(
        {"host": "smtp.example", "from": "ar@x.example", "username": "u", "password": "sentinel-s3cret"}
    )
    sender = SmtpEmailSender(settings)
    assert "sentinel-s3cret" not in repr(settings) + str(settings) + repr(sender.settings.model_dump())
    assert "sentinel-s3cret" not in repr(WebhookSender("http://x", secret=SecretStr("sentinel-s3cret")))


def test_letter_is_a_pdf_listing_the_invoice_numbers(tmp_path: Path) -> None:
    action, cust = _action(channel="letter")
    rendered = render(action, cust, sender=SENDER)
    assert rendered.pdf is not None and rendered.pdf.startswith(b"%PDF")
    text = pdf_text(rendered.pdf)
    for expected in ("INV-1", "INV-2", "1,234.50 EUR", "1,418.50 EUR", "C1-EUR", "Customer C1"):
        assert expected in text
    receipt = LetterSender(tmp_path).send(action, rendered)
    assert Path(receipt.reference).read_bytes() == rendered.pdf
    assert json.loads((tmp_path / f"{action.key}.json").read_text())["invoice_ids"] == ["1", "2"]


def test_german_letter_keeps_its_umlauts() -> None:
    action, cust = _action(channel="letter", language="de")
    pdf = render(action, cust, sender=SENDER).pdf or b""
    assert "Mit freundlichen Grüßen" in pdf_text(pdf)


def test_letter_rendering_is_reproducible() -> None:
    action, cust = _action(channel="letter")
    assert render(action, cust).pdf == render(action, cust).pdf


def test_call_task_is_dropped_once_for_collectors(tmp_path: Path) -> None:
    action, cust = _action(channel="call")
    rendered = render(action, cust)
    sender = CallTaskSender(tmp_path)
    first = sender.send(action, rendered)
    second = sender.send(action, rendered)
    task = json.loads(Path(first.reference).read_text())
    assert task["phone"] == "+49 30 1234567"
    assert task["title"].startswith("Call Customer C1")
    assert (first.duplicate, second.duplicate) == (False, True)
    assert len(list(tmp_path.iterdir())) == 1


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/dunning", _Hook.received
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_carries_the_idempotency_key_and_a_signature(webhook_server: Any) -> None:
    url, received = webhook_server
    action, cust = _action(channel="webhook")
    receipt = WebhookSender(url, secret=SecretStr("k3y")).send(action, render(action, cust))
    [(headers, body)] = received
    assert receipt.reference == "HTTP 202"
    assert headers["Idempotency-Key"] == action.key
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert headers["X-Arbridge-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["action"]["invoice_ids"] == ["1", "2"] and payload["event"] == "dunning.action"
