"""Delivering planned actions exactly once across crashes, with a durable sent log.

The log is an append-only JSON-lines file; every line is flushed and fsynced before the sender
goes on, so after a crash (power loss, ``kill -9``) it tells, per action key:

* nothing logged — the action was certainly not delivered: send it;
* ``committing`` — the sender had reached its point of no return (SMTP data about to go out, file
  about to be renamed, webhook about to be posted) but no confirmation was logged. Idempotent
  channels (letters, call tasks, webhooks) simply send again — the receiving side recognises the key.
  E-mail cannot be asked, so the action is reported **in doubt** and held: never sent twice
  automatically, never silently dropped. A person checks the mail server's log for the
  deterministic ``Message-ID`` and calls :meth:`SentLog.resolve`;
* ``sent`` — delivered; never sent again.

The daemon's outbox can use the same protocol instead of this file: record ``committing`` in the
``before_commit`` hook and ``sent`` with the receipt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rules.dunning.channels import Sender, SendReceipt
from rules.dunning.planner import PlannedAction
from rules.dunning.policy import Channel
from rules.dunning.render import Rendered

__all__ = ["DeliveryOutcome", "SentLog", "deliver"]

State = Literal["committing", "sent", "released"]


class SentLog:
    """A durable, append-only record of what was handed to which channel."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the log at ``path`` and read what it already holds."""
        self.path = Path(path)
        self._state: dict[str, str] = {}
        self._detail: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        row = json.loads(line)
                    except ValueError:
                        # A line cut short by a crash mid-write was never fsynced as complete.
                        continue
                    self._state[row["key"]] = row["state"]
                    self._detail[row["key"]] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = (
            self.path.exists() and self.path.stat().st_size > 0 and not self.path.read_bytes().endswith(b"\n")
        )
        self._fh = self.path.open("a", encoding="utf-8")
        if torn:
            # End the torn line so the next record starts on a line of its own.
            self._fh.write("\n")

    def state(self, key: str) -> str | None:
        """``committing``, ``sent`` or ``None`` (never sent, or released for another try)."""
        found = self._state.get(key)
        return None if found == "released" else found

    def detail(self, key: str) -> dict[str, Any] | None:
        """The last line logged for ``key``."""
        return self._detail.get(key)

    def mark(self, key: str, state: State, **info: Any) -> None:
        """Append a state change and make it durable before returning."""
        row = {"key": key, "state": state, "at": datetime.now(UTC).isoformat(), **info}
        self._fh.write(json.dumps(row, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._state[key] = state
        self._detail[key] = row

    def in_doubt(self) -> list[str]:
        """Keys whose send began but was never confirmed."""
        return sorted(k for k, s in self._state.items() if s == "committing")

    def resolve(self, key: str, *, delivered: bool, note: str = "") -> None:
        """Settle an in-doubt action after checking the receiving side.

        Args:
            key: the action key.
            delivered: True if the receiver has it (it will not be sent again), False to release it
                so that the next delivery run sends it.
            note: who checked what, for the audit trail.
        """
        self.mark(key, "sent" if delivered else "released", resolved=True, note=note)

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> SentLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happened to one action in a delivery run.

    Attributes:
        key: the action key.
        status: ``sent``; ``already_sent`` (logged earlier, or the receiver already had it);
            ``in_doubt`` (held for a person); ``not_due`` (``send_at`` still ahead); ``failed``
            (not delivered, will be tried again).
        receipt: the channel's receipt when sent.
        error: the error message when failed.
    """

    key: str
    status: Literal["sent", "already_sent", "in_doubt", "not_due", "failed"]
    receipt: SendReceipt | None = None
    error: str | None = None


def deliver(
    items: Iterable[tuple[PlannedAction, Rendered]],
    senders: Mapping[Channel, Sender],
    log: SentLog,
    now: datetime,
) -> Iterator[DeliveryOutcome]:
    """Send every due action at most once, recording each step in ``log``.

    Args:
        items: planned actions with their rendered content.
        senders: one sender per channel used.
        log: the sent log.
        now: the current time; actions whose ``send_at`` is later wait for a later run.

    Yields:
        One outcome per action.
    """
    for action, rendered in items:
        key = action.key
        if action.send_at > now:
            yield DeliveryOutcome(key, "not_due")
            continue
        state = log.state(key)
        if state == "sent":
            yield DeliveryOutcome(key, "already_sent")
            continue
        sender = senders[action.channel]
        if state == "committing" and not sender.idempotent:
            yield DeliveryOutcome(
                key, "in_doubt", error="a send began but was not confirmed; check the receiver and resolve"
            )
            continue

        def commit(key: str = key, channel: Channel = action.channel) -> None:
            log.mark(key, "committing", channel=channel.value)

        try:
            receipt = sender.send(action, rendered, before_commit=commit)
        except Exception as exc:
            # Failing before the commit point leaves nothing logged (the next run retries); failing
            # after it leaves "committing" (the next run decides by the channel, as above).
            yield DeliveryOutcome(key, "failed", error=f"{type(exc).__name__}: {exc}")
            continue
        log.mark(key, "sent", channel=action.channel.value, reference=receipt.reference)
        yield DeliveryOutcome(key, "already_sent" if receipt.duplicate else "sent", receipt)
