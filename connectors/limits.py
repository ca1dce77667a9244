"""The request budget of an ERP account, kept by the SDK for every connector.

A connector declares the ERP's limits once, in ``Capabilities.requests_per_minute`` and
``Capabilities.max_concurrency``. ``Connector.limiter`` hands out the one ``RateLimiter`` of the
account the connection spends (``Connector.budget_key``), shared by every thread and every
connector object of the process; ``connectors.rest.RestSession`` takes a slot from it for each
HTTP request it sends, and a connector that talks over something else (ODBC, a vendor library)
wraps each call in ``with self.limiter:``.

A limiter lives in one process. Several processes share an account's budget in two ways: with
the task-queue workers a connection's cycle runs in one worker at a time, so one connection
never spends its budget from two processes at once; and where several processes (or other
integrations) do draw on one account at the same time, each is given a fraction of it with
the connection's ``budget_share`` in the configuration, which reaches the connector as
``ConnectorContext.budget_share`` (two processes: 0.5 each), so their sum stays under the ERP's
limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter", "forget_limiters", "shared_limiter"]


class RateLimiter:
    """Keeps one account's traffic under the ERP's limits.

    A token bucket of ``burst`` tokens refilling at ``(per_minute - burst) / 60`` per second can
    never let more than ``per_minute`` requests through in any 60-second window; a semaphore caps
    the requests in flight. Either limit may be None (not known, not enforced).

    Args:
        per_minute: the request budget per rolling minute (QuickBooks: 500 per company).
        concurrency: requests allowed in flight at once (QuickBooks: 10 per company and app).
        burst: how many requests may go back to back after a quiet spell (default: a tenth of the
            budget, at most 50).
        clock: monotonic seconds (injectable for tests).
        sleep: how to wait (injectable for tests).
    """

    def __init__(
        self,
        per_minute: int | None = None,
        concurrency: int | None = None,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute is not None and per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.per_minute = per_minute
        self.concurrency = concurrency
        if per_minute is None:
            self.capacity, self.rate = math.inf, math.inf
        else:
            if burst is None:
                burst = max(1, min(50, per_minute // 10))
            if not 0 < burst <= per_minute:
                raise ValueError("burst must be between 1 and the per-minute budget")
            self.capacity = float(burst)
            # A budget of one request a minute cannot keep a token in reserve: refill at the budget.
            self.rate = (per_minute - burst) / 60.0 if burst < per_minute else per_minute / 60.0
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency is not None else None
        self.taken = 0

    def _take_token(self) -> None:
        while True:
            with self._lock:
                if self.per_minute is None:
                    self.taken += 1
                    return
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                # The epsilon keeps float rounding from leaving a token forever just short of 1.
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    self.taken += 1
                    return
                wait = max((1.0 - self._tokens) / self.rate, 0.001)
            self._sleep(wait)

    def __enter__(self) -> RateLimiter:
        if self._slots is not None:
            self._slots.acquire()
        try:
            self._take_token()
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._slots is not None:
            self._slots.release()

    def __repr__(self) -> str:
        return f"<RateLimiter per_minute={self.per_minute} concurrency={self.concurrency}>"


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(
    key: str,
    per_minute: int | None,
    concurrency: int | None,
    *,
    share: float = 1.0,
    burst: int | None = None,
) -> RateLimiter:
    """The process-wide limiter of one ERP account: every connection to it spends one budget.

    Args:
        key: the account (``Connector.budget_key``); the first call for a key fixes its limits.
        per_minute: the ERP's request budget per minute, or None.
        concurrency: the ERP's concurrent-request limit, or None.
        share: the fraction of the budget this process may spend (several processes on one account).
        burst: requests allowed back to back (``RateLimiter``'s default when None); an ERP that
            also counts per second needs a small one.
    """
    if not 0 < share <= 1:
        raise ValueError("share must be a fraction in (0, 1]")
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            rpm = None if per_minute is None else max(1, math.floor(per_minute * share))
            slots = None if concurrency is None else max(1, math.floor(concurrency * share))
            limiter = _LIMITERS[key] = RateLimiter(
                rpm, slots, burst=None if burst is None or rpm is None else min(burst, rpm)
            )
        return limiter


def forget_limiters() -> None:
    """Drop every shared limiter (tests that need a fresh budget)."""
    with _LIMITERS_LOCK:
        _LIMITERS.clear()
