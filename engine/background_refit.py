"""The daemon's refits of payment-date models, run beside the cycles instead of between them.

Fitting a million paid invoices takes about a minute; run in the cycle loop it would hold up every
other connection's cycles that long. Here each due refit runs on a thread of its own, one per
connection at a time, while the loop goes on. The refit reads the connection's history and stores
the model in one write at the end, so a cycle of the same connection may run meanwhile: the refit
learns from the history as it was read, and the next one catches up. A refit that fails keeps the
model before it and is logged and recorded, as ``engine.payment_model.refit_if_due`` does.

At shutdown the daemon waits for the refits in flight up to a grace period, then abandons them:
nothing is stored until a fit is complete, so an abandoned refit leaves the previous model and the
next start refits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

from engine.payment_model import RefitOutcome, refit_due, refit_if_due
from store import StateStore

__all__ = ["SHUTDOWN_GRACE", "BackgroundRefits", "RefitGuard"]

log = logging.getLogger("arbridge.prediction")

SHUTDOWN_GRACE = 5.0
"""Seconds a stopping daemon waits for a refit in flight before abandoning it (within the drain)."""

RefitGuard = Callable[[str], AbstractContextManager[bool]]
"""Held around one refit of a connection; yields False when another process is refitting it."""


def _no_guard(_connection: str) -> AbstractContextManager[bool]:
    return nullcontext(True)


class BackgroundRefits:
    """Starts each connection's due refit on its own thread, at most one per connection at a time.

    Args:
        deployment: the loaded configuration (its ``prediction`` section sets the schedule).
        store: the state store the models are read from and kept in.
        guard: taken around each refit; the distributed workers pass a lock shared between
            processes so that one worker at a time refits a connection.
    """

    def __init__(self, deployment: Any, store: StateStore, *, guard: RefitGuard = _no_guard) -> None:
        self.settings = getattr(deployment, "prediction", None)
        self.store = store
        self.guard = guard
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.outcomes: dict[str, RefitOutcome] = {}

    def after_cycle(self, connection: str, *, now: datetime | None = None) -> bool:
        """Start ``connection``'s refit if it is due and none is running; True when one started.

        Only the model's row (without the model) is read here; nothing in it ever stops a cycle.
        """
        with self._lock:
            if self._closed or self._running.get(connection, None) is not None:
                return False
        try:
            if not refit_due(self.store, connection, self.settings, now=now):
                return False
        except Exception:  # reading the model's row failed: the next cycle tries again
            log.exception("checking the payment-date model failed", extra={"connection": connection})
            return False
        thread = threading.Thread(
            target=self._refit, args=(connection, now), name=f"refit-{connection}", daemon=True
        )
        with self._lock:
            if self._closed or connection in self._running:
                return False
            self._running[connection] = thread
        thread.start()
        return True

    def running(self, connection: str) -> bool:
        """Whether a refit of ``connection`` is in flight."""
        with self._lock:
            return connection in self._running

    def close(self, wait: float) -> list[str]:
        """Start no more refits; wait up to ``wait`` seconds for those in flight; returns the abandoned."""
        with self._lock:
            self._closed = True
            threads = list(self._running.items())
        deadline = time.monotonic() + max(0.0, wait)
        abandoned = []
        for connection, thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                abandoned.append(connection)
                log.warning(
                    "shutting down during a refit of the payment-date model: the stored model stays "
                    "and the next start refits",
                    extra={"connection": connection, "event": "prediction_refit_abandoned"},
                )
        return abandoned

    def _refit(self, connection: str, now: datetime | None) -> None:
        try:
            with self.guard(connection) as held:
                if not held:
                    log.info(
                        "another worker is refitting the payment-date model",
                        extra={"connection": connection, "event": "prediction_refit_elsewhere"},
                    )
                    return
                # Due is asked again under the guard: another worker may have just stored one.
                outcome = refit_if_due(self.store, connection, self.settings, now=now or datetime.now(UTC))
                self.outcomes[connection] = outcome
        except Exception:  # the guard's database went away: the next cycle tries again
            log.exception("the payment-date model's refit crashed", extra={"connection": connection})
        finally:
            with self._lock:
                self._running.pop(connection, None)
