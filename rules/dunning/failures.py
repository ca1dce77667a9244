"""What a failed send means: try again later, give up, or ask a person.

The senders in :mod:`rules.dunning.channels` raise what their protocol library raises (``smtplib``,
``urllib``, ``OSError``); :func:`classify_failure` turns that into one decision:

* ``retry`` — temporary: an SMTP 4xx answer, a relay or endpoint that cannot be reached, an HTTP
  429 or 5xx. Nothing reached the customer, or the channel recognises a repeat by its key.
* ``failed`` — permanent: an SMTP 5xx answer to the recipient or the message (the server's own
  words are kept), an HTTP 4xx, an action that cannot be sent as planned.
* ``in_doubt`` — an e-mail whose connection broke after the message data started to go out: the
  relay may have it. SMTP has no way to ask, so it is never resent automatically.

``channel_down`` says the failure concerns the channel, not this one message (the relay refuses
connections or the login, the folder cannot be written): the other messages of that channel wait
for the next run instead of each waiting for its own timeout.
"""

from __future__ import annotations

import smtplib
import ssl
import urllib.error
from dataclasses import dataclass
from typing import Literal

from rules.dunning.policy import Channel

__all__ = ["SendFailure", "classify_failure"]

Outcome = Literal["retry", "failed", "in_doubt"]


@dataclass(frozen=True, slots=True)
class SendFailure:
    """The decision about one failed send."""

    outcome: Outcome
    message: str
    channel_down: bool = False


def _smtp_text(code: int, raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{code} {' '.join(text.split())}"


def _by_code(code: int, message: str, *, channel_down: bool = False) -> SendFailure:
    if 400 <= code < 500:
        return SendFailure("retry", f"temporary SMTP failure: {message}", channel_down)
    return SendFailure("failed", f"refused by the SMTP server: {message}", channel_down)


def _smtp(exc: BaseException, committed: bool) -> SendFailure:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = list(exc.recipients.items())
        worst = max(refused, key=lambda item: item[1][0]) if refused else ("?", (550, b""))
        rcpt, (code, raw) = worst
        return _by_code(code, f"{rcpt}: {_smtp_text(code, raw)}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # The same login fails for every message: a configuration matter, never one customer's.
        return SendFailure(
            "retry", f"the SMTP server refused the login: {_smtp_text(exc.smtp_code, exc.smtp_error)}", True
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        message = f"sender {exc.sender}: {_smtp_text(exc.smtp_code, exc.smtp_error)}"
        # A refused sender address refuses every message; only a 4xx is worth retrying soon.
        return SendFailure("retry", f"the SMTP server refused the sender: {message}", True)
    if isinstance(exc, smtplib.SMTPResponseException):
        # The server answered: whether before or after the data, it took no responsibility for
        # the message, so it certainly was not delivered.
        return _by_code(exc.smtp_code, _smtp_text(exc.smtp_code, exc.smtp_error))
    if committed:
        return SendFailure(
            "in_doubt",
            f"the connection broke while the message was being handed over ({type(exc).__name__}: {exc}); "
            "the relay may have accepted it",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLError):
        return SendFailure("retry", f"TLS with the SMTP server failed: {type(exc).__name__}: {exc}", True)
    return SendFailure("retry", f"SMTP server unreachable: {type(exc).__name__}: {exc}", True)


def _http(exc: BaseException) -> SendFailure:
    if isinstance(exc, urllib.error.HTTPError):
        body = ""
        try:
            body = " ".join(exc.read(500).decode("utf-8", "replace").split())
        except Exception:  # the body is a courtesy; the status decides
            body = ""
        message = f"HTTP {exc.code} {exc.reason}" + (f": {body}" if body else "")
        if exc.code in (408, 425, 429) or exc.code >= 500:
            return SendFailure("retry", f"webhook answered {message}", exc.code >= 500)
        return SendFailure("failed", f"webhook refused the action: {message}")
    return SendFailure("retry", f"webhook unreachable: {type(exc).__name__}: {exc}", True)


def classify_failure(channel: Channel, exc: BaseException, *, committed: bool) -> SendFailure:
    """Decide what a send that raised ``exc`` means.

    Args:
        channel: the channel that was used.
        exc: what the sender raised.
        committed: whether the send had passed its commit point (its ``before_commit`` ran).

    Returns:
        Retry, failed or in doubt, with a message for the operator.
    """
    if isinstance(exc, ValueError):
        return SendFailure("failed", f"cannot be sent as planned: {exc}")
    if channel == Channel.EMAIL:
        return _smtp(exc, committed)
    if channel == Channel.WEBHOOK:
        return _http(exc)
    # Letters and call tasks are files: a folder that cannot be written fails every one of them.
    return SendFailure("retry", f"cannot write the {channel.value} file: {type(exc).__name__}: {exc}", True)
