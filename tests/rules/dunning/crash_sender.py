"""A delivery run in its own process that can die abruptly mid-send (used by the crash tests).

    python crash_sender.py ACTIONS LOG HOST PORT LETTERS [CRASH_AT PHASE]

PHASE ``before_commit``: die after connecting, before the send's commit point.
PHASE ``after_send``: die after the receiver accepted, before the sent log recorded it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mapping.models import Customer
from rules.dunning import (
    Channel,
    LetterSender,
    PlannedAction,
    SendReceipt,
    SentLog,
    SmtpEmailSender,
    SmtpSettings,
    action_from_json,
    deliver,
    render,
)
from rules.dunning.render import Rendered


class Crashing:
    """Wraps a sender and kills the process at the chosen send and phase, like ``kill -9``."""

    def __init__(self, inner: object, crash_at: int, phase: str) -> None:
        self.inner = inner
        self.channel = inner.channel  # type: ignore[attr-defined]
        self.idempotent = inner.idempotent  # type: ignore[attr-defined]
        self.crash_at = crash_at
        self.phase = phase
        self.count = 0

    def send(
        self, action: PlannedAction, rendered: Rendered, before_commit: Callable[[], None] | None = None
    ) -> SendReceipt:
        self.count += 1
        dying = self.count == self.crash_at

        def hook() -> None:
            if dying and self.phase == "before_commit":
                os._exit(137)
            if before_commit is not None:
                before_commit()

        receipt = self.inner.send(action, rendered, before_commit=hook)  # type: ignore[attr-defined]
        if dying and self.phase == "after_send":
            os._exit(137)
        return receipt


def main() -> None:
    actions_path, log_path, host, port, letters = sys.argv[1:6]
    crash_at, phase = (int(sys.argv[6]), sys.argv[7]) if len(sys.argv) > 7 else (0, "")
    settings = SmtpSettings.model_validate(
        {"host": host, "port": int(port), "starttls": False, "from": "ar@s.example"}
    )
    senders = {
        Channel.EMAIL: Crashing(SmtpEmailSender(settings), crash_at, phase),
        Channel.LETTER: Crashing(LetterSender(letters), crash_at, phase),
    }
    actions = [action_from_json(json.loads(line)) for line in Path(actions_path).read_text().splitlines()]
    now = datetime.now(UTC)

    def items() -> object:
        for action in actions:
            cust = Customer(remote_id=action.customer_id, name=action.customer_id, remote_modified_at=now)
            yield action, render(action, cust)

    with SentLog(log_path) as log:
        for outcome in deliver(items(), senders, log, now):  # type: ignore[arg-type]
            print(json.dumps({"key": outcome.key, "status": outcome.status}), flush=True)


if __name__ == "__main__":
    main()
