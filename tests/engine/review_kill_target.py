"""A clerk's review verdict whose process is killed while it is being stored (see the crash test).

Run as ``python -m tests.engine.review_kill_target CONFIG VERDICT PAYMENT KILL_AT``: the verdict
(``accept`` or ``reject``) on ``PAYMENT`` of the connection ``shop``, with the process sending
itself SIGKILL the moment the store is asked for ``KILL_AT`` (a store write: ``_enqueue``,
``learn`` or ``_audit``), as a power cut or an OOM kill would stop it.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from config import load_config
from engine.cashapp_review import ReviewQueue
from engine.runner import open_store
from store.cashapp import CashAppState
from store.state import StateStore

OWNERS: dict[str, Any] = {"_enqueue": StateStore, "_audit": StateStore, "learn": CashAppState}


def main(config: str, verdict: str, payment_id: str, kill_at: str) -> None:
    owner = OWNERS[kill_at]
    original = getattr(owner, kill_at)

    def killed(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)  # the write reaches the database, not its commit
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(owner, kill_at, killed)
    queue = ReviewQueue(open_store(load_config(config)), "shop")
    if verdict == "accept":
        queue.accept(payment_id, by="anna")
    else:
        queue.reject(payment_id, by="anna", reason="refund asked for")
    print("the verdict was stored before the kill point", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
