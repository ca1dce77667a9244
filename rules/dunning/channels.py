"""Channel senders: e-mail over SMTP, PDF letters and call tasks dropped in a folder, webhooks.

Every sender has the same interface, ``send(action, rendered, before_commit=None) -> SendReceipt``,
and carries the action's idempotency key to the receiving side:

* e-mail: the ``Message-ID`` is derived from the action key (``<dun-…@domain>``), so a message
  sent again after a crash is recognisable as the same message;
* letters and call tasks: the file is named after the key and appears atomically (rename), so a
  second send finds it and writes nothing;
* webhooks: an ``Idempotency-Key`` header, and an HMAC signature when a secret is set.

``before_commit`` is called at the last moment the send can still be abandoned without the
receiver having it (for SMTP: right before the message data is transmitted). A delivery log
(:mod:`rules.dunning.delivery`) or the daemon's outbox records that moment, which is what lets a
restart tell "certainly not sent" from "maybe sent".
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rules.dunning.planner import PlannedAction
from rules.dunning.policy import Channel
from rules.dunning.render import Rendered

__all__ = [
    "CallTaskSender",
    "LetterSender",
    "SendReceipt",
    "Sender",
    "SmtpEmailSender",
    "SmtpSettings",
    "WebhookSender",
    "message_id_for",
]


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """Proof that a channel accepted a communication.

    Attributes:
        channel: the channel used.
        key: the action's idempotency key.
        reference: what identifies it on the receiving side (Message-ID, file path, HTTP status).
        sent_at: when the channel accepted it (UTC).
        duplicate: the receiving side already had it (nothing new was delivered).
    """

    channel: Channel
    key: str
    reference: str
    sent_at: datetime
    duplicate: bool = False


class Sender(Protocol):
    """What every channel sender offers."""

    @property
    def channel(self) -> Channel:
        """The channel this sender serves."""
        ...

    @property
    def idempotent(self) -> bool:
        """True when sending the same key twice cannot reach the customer twice (the receiving side
        recognises the key), so an interrupted send may simply be repeated."""
        ...

    def send(
        self, action: PlannedAction, rendered: Rendered, before_commit: Callable[[], None] | None = None
    ) -> SendReceipt:
        """Hand one communication to the channel; raise on failure."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------------------------------


class SmtpSettings(BaseModel):
    """How to reach the SMTP server. The password is a ``SecretStr``: never shown in repr or logs."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="Upgrade with STARTTLS (port 587).")
    ssl: bool = Field(default=False, description="Implicit TLS from the first byte (port 465).")
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = Field(alias="from", min_length=3)
    reply_to: str | None = None
    bcc: list[str] = Field(default_factory=list, description="Copies for the collections team.")
    timeout: float = Field(default=30.0, gt=0)
    messages_per_connection: int = Field(
        default=50, ge=1, description="Messages sent over one connection before a new one is opened."
    )
    message_id_domain: str | None = Field(
        default=None, description="Domain of the Message-ID; defaults to the domain of the from address."
    )


def message_id_for(key: str, domain: str) -> str:
    """The deterministic ``Message-ID`` of the e-mail for an action key."""
    return f"<{key}@{domain}>"


class SmtpEmailSender:
    """Sends dunning e-mails (text and HTML alternatives) through an SMTP server with ``smtplib``."""

    channel: ClassVar[Channel] = Channel.EMAIL
    # An SMTP server cannot be asked whether it already has a message: a send interrupted after the
    # data went out is "in doubt" and is held for a person rather than sent again.
    idempotent: ClassVar[bool] = False

    def __init__(
        self, settings: SmtpSettings, smtp_factory: Callable[..., smtplib.SMTP] | None = None
    ) -> None:
        """Create a sender.

        Args:
            settings: the SMTP server and the sender address.
            smtp_factory: builds the SMTP client (for tests); defaults to ``smtplib.SMTP``/``SMTP_SSL``.
        """
        self.settings = settings
        self._factory = smtp_factory
        # One connection serves the messages of a run: a TLS handshake and a login per reminder
        # would be slow and trips relays that limit connections per minute.
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0

    def message_id(self, key: str) -> str:
        """The Message-ID the e-mail for an action key carries (what to search a relay's log for)."""
        s = self.settings
        return message_id_for(key, s.message_id_domain or s.from_address.rsplit("@", 1)[-1].strip("> "))

    def build_message(self, action: PlannedAction, rendered: Rendered) -> EmailMessage:
        """The MIME message for an action: text and HTML bodies, deterministic Message-ID."""
        if not action.recipient:
            raise ValueError(f"action {action.key} has no e-mail recipient")
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.from_address
        msg["To"] = action.recipient
        if s.reply_to:
            msg["Reply-To"] = s.reply_to
        msg["Subject"] = rendered.subject
        msg["Message-ID"] = self.message_id(action.key)
        msg["Date"] = format_datetime(action.send_at.astimezone(UTC))
        msg["X-Arbridge-Action-Key"] = action.key
        msg["X-Arbridge-Dunning-Level"] = str(action.level)
        msg.set_content(rendered.text)
        if rendered.html:
            msg.add_alternative(rendered.html, subtype="html")
        # Set after the bodies: set_content() drops every Content-* header set before it.
        msg["Content-Language"] = rendered.language
        return msg

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if self._factory is not None:
            return self._factory(s.host, s.port, timeout=s.timeout)
        if s.ssl:
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
        return smtplib.SMTP(s.host, s.port, timeout=s.timeout)

    def _session(self) -> smtplib.SMTP:
        """The open connection when it still answers and has room, else a new logged-in one."""
        s = self.settings
        if self._smtp is not None and self._sent_on_connection < s.messages_per_connection:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass  # the relay closed an idle connection: open a new one
        self.close()
        smtp = self._connect()
        try:
            smtp.ehlo()
            if s.starttls and not s.ssl:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password.get_secret_value() if s.password else "")
        except BaseException:
            smtp.close()
            raise
        self._smtp, self._sent_on_connection = smtp, 0
        return smtp

    def close(self) -> None:
        """Say goodbye to the relay, if a connection is open."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def send(
        self, action: PlannedAction, rendered: Rendered, before_commit: Callable[[], None] | None = None
    ) -> SendReceipt:
        """Send the e-mail; ``before_commit`` runs after the recipients were accepted, before the data.

        The connection stays open for the next message (up to ``messages_per_connection``); call
        :meth:`close` at the end of a run.

        Raises:
            smtplib.SMTPException: the server refused the sender, a recipient or the message.
            OSError: the server could not be reached.
        """
        s = self.settings
        msg = self.build_message(action, rendered)
        recipients = [action.recipient or "", *s.bcc]
        smtp = self._session()
        try:
            code, resp = smtp.mail(s.from_address)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, resp, s.from_address)
            for rcpt in recipients:
                code, resp = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused = smtplib.SMTPRecipientsRefused({rcpt: (code, resp)})
                    try:
                        smtp.rset()  # the session stays usable for the next reminder
                    except (smtplib.SMTPException, OSError):
                        self.close()
                    raise refused
            if before_commit is not None:
                before_commit()
            # The SMTP policy gives CRLF line ends; smtplib does not convert bytes itself.
            code, resp = smtp.data(msg.as_bytes(policy=email.policy.SMTP))
            if code != 250:
                raise smtplib.SMTPDataError(code, resp)
        except smtplib.SMTPRecipientsRefused:
            raise
        except BaseException:
            # After any other failure the session's state is unknown: the next message starts afresh.
            self.close()
            raise
        self._sent_on_connection += 1
        return SendReceipt(self.channel, action.key, str(msg["Message-ID"]), _now())


# --------------------------------------------------------------------------------------------------
# Files: letters (PDF) and call tasks (JSON) for people
# --------------------------------------------------------------------------------------------------


def _drop_file(path: Path, content: bytes, before_commit: Callable[[], None] | None) -> bool:
    """Write ``path`` atomically; False when it already existed (the earlier send got through)."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        if before_commit is not None:
            before_commit()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


class LetterSender:
    """Drops the PDF letter (and a JSON cover sheet) into a folder watched by a print or mail house."""

    channel: ClassVar[Channel] = Channel.LETTER
    idempotent: ClassVar[bool] = True

    def __init__(self, out_dir: str | Path) -> None:
        """Create a sender writing into ``out_dir``."""
        self.out_dir = Path(out_dir)

    def send(
        self, action: PlannedAction, rendered: Rendered, before_commit: Callable[[], None] | None = None
    ) -> SendReceipt:
        """Write ``{key}.pdf`` (then ``{key}.json``); an existing PDF means it was already sent."""
        if rendered.pdf is None:
            raise ValueError(f"action {action.key}: a letter needs a rendered PDF")
        pdf = self.out_dir / f"{action.key}.pdf"
        fresh = _drop_file(pdf, rendered.pdf, before_commit)
        cover = {
            "key": action.key,
            "customer_id": action.customer_id,
            "subject": rendered.subject,
            "invoice_ids": list(action.invoice_ids),
            "level": action.level,
        }
        _drop_file(pdf.with_suffix(".json"), json.dumps(cover, indent=2).encode(), None)
        return SendReceipt(self.channel, action.key, str(pdf), _now(), duplicate=not fresh)


class CallTaskSender:
    """Drops a call task for collectors (who, which number, what to say) as JSON into a folder."""

    channel: ClassVar[Channel] = Channel.CALL
    idempotent: ClassVar[bool] = True

    def __init__(self, out_dir: str | Path) -> None:
        """Create a sender writing into ``out_dir``."""
        self.out_dir = Path(out_dir)

    def send(
        self, action: PlannedAction, rendered: Rendered, before_commit: Callable[[], None] | None = None
    ) -> SendReceipt:
        """Write ``{key}.json`` with the task; an existing file means it was already sent."""
        task = {
            "task_id": action.key,
            "customer_id": action.customer_id,
            "phone": action.recipient,
            "call_after": action.send_at.astimezone(UTC).isoformat(),
            "title": rendered.subject,
            "script": rendered.text,
            "currency": action.currency,
            "total_due": str(action.total_due),
            "invoice_ids": list(action.invoice_ids),
            "level": action.level,
        }
        path = self.out_dir / f"{action.key}.json"
        fresh = _drop_file(path, json.dumps(task, indent=2, ensure_ascii=False).encode(), before_commit)
        return SendReceipt(self.channel, action.key, str(path), _now(), duplicate=not fresh)


# --------------------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------------------


class WebhookSender:
    """POSTs the action as JSON to another system, with an ``Idempotency-Key`` header.

    The receiver is expected to ignore a key it has already processed; that contract is what makes
    the channel idempotent. With a secret, ``X-Arbridge-Signature: sha256=<hex HMAC of the body>``.
    """

    channel: ClassVar[Channel] = Channel.WEBHOOK
    idempotent: ClassVar[bool] = True

    def __init__(
        self,
        url: str,
        secret: SecretStr | None = None,
        timeout: float = 30.0,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        """Create a sender.

        Args:
            url: the endpoint (https in production).
            secret: key for the HMAC signature header.
            timeout: seconds before the request is abandoned.
            opener: ``urllib.request.urlopen``-compatible callable (for tests).
        """
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self._open = opener or urllib.request.urlopen

    def send(
        self, action: PlannedAction, rendered: Rendered, before_commit: Callable[[], None] | None = None
    ) -> SendReceipt:
        """POST the action; a non-2xx answer raises ``urllib.error.HTTPError``."""
        body = json.dumps(
            {
                "event": "dunning.action",
                "action": action.to_json(),
                "subject": rendered.subject,
                "text": rendered.text,
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": action.key}
        if self.secret is not None:
            digest = hmac.new(self.secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
            headers["X-Arbridge-Signature"] = f"sha256={digest}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        if before_commit is not None:
            before_commit()
        with self._open(request, timeout=self.timeout) as response:
            status = getattr(response, "status", 200)
        return SendReceipt(self.channel, action.key, f"HTTP {status}", _now())

    def __repr__(self) -> str:
        return f"WebhookSender(url={self.url!r}, secret={'[secure]' if self.secret else None})"
