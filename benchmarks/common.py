"""Measuring helpers shared by the benchmark scenarios."""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass
class Measurement:
    name: str
    n: int = 0
    seconds: float = 0.0
    api_calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    relative_to: float | None = None  # seconds of a reference run, for "fraction_of_full_time"

    def line(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "n": self.n,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.n / self.seconds, 1) if self.seconds else None,
            "api_calls": self.api_calls,
            "peak_rss_mb": peak_rss_mb(),
        }
        if self.relative_to:
            out["fraction_of_full_time"] = round(self.seconds / self.relative_to, 4)
        out.update(self.extra)
        return out


@contextmanager
def measure(name: str) -> Iterator[Measurement]:
    m = Measurement(name)
    started = time.perf_counter()
    yield m
    m.seconds = time.perf_counter() - started
    emit(m.line())


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
