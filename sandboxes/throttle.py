"""Server-side request limits the way ERPs count them: a sliding window per key, and a concurrency cap.

Sandboxes throttle like their vendor by default (QuickBooks: 500 requests a minute per company;
Business Central: 6,000 per five minutes per user and 100 at once), so a connector that ignores a
limit fails against its sandbox as it would in production. Benchmarks turn throttling off.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["ConcurrencyCap", "SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` requests per ``window`` seconds for each key (company, user, app).

    ``admit`` answers None when the request may go on, or the seconds until it would be admitted,
    which the sandbox sends as ``Retry-After``.
    """

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a sliding window needs a positive limit and window")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._seen: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def admit(self, key: str = "") -> float | None:
        now = self._clock()
        with self._lock:
            seen = self._seen[key]
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return max(0.001, seen[0] + self.window - now)
            seen.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


class ConcurrencyCap:
    """At most ``limit`` requests in flight for each key; one more is refused, not queued."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a concurrency cap needs a positive limit")
        self.limit = limit
        self._running: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, key: str = "") -> Iterator[bool]:
        """Yield True while holding a slot, or False (holding nothing) when the cap is reached."""
        with self._lock:
            admitted = self._running[key] < self.limit
            if admitted:
                self._running[key] += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._running[key] -= 1
