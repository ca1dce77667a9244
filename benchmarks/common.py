"""Measuring helpers shared by the benchmark scenarios."""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.base import Connector, OutboundOp
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Invoice,
    PaymentApplication,
    TargetType,
)


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


def status_write_backs(
    invoices: Sequence[Invoice], key: Callable[[int, Invoice], str], *, versioned: bool, **fields: Any
) -> list[OutboundOp]:
    """A collection status for each invoice, reminded at levels 1, 2 and 3 in turn.

    ``key`` names the n-th write's idempotency key; ``versioned`` sends the invoice's version for
    the ERP's optimistic check; ``fields`` are the ERP's other status fields.
    """
    return [
        OutboundOp(
            key(n, inv),
            CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=inv.remote_id,
                base_version=inv.version if versioned else None,
                collection_status=CollectionStatus.REMINDED,
                dunning_level=1 + n % 3,
                **fields,
            ),
        )
        for n, inv in enumerate(invoices)
    ]


def payment_write_backs(
    invoices: Sequence[Invoice],
    key: Callable[[int, Invoice], str],
    amount: Decimal,
    day: date,
    reference: Callable[[int], str | None] = lambda n: None,
) -> list[OutboundOp]:
    """A payment of ``amount`` from each invoice's customer on ``day``, applied to that invoice."""
    return [
        OutboundOp(
            key(n, inv),
            PaymentApplication(
                target_type=TargetType.CUSTOMER,
                target_id=inv.customer_remote_id,
                customer_remote_id=inv.customer_remote_id,
                amount=amount,
                currency=inv.currency,
                date=day,
                reference=reference(n),
                allocations=[
                    Allocation(target_type=TargetType.INVOICE, target_id=inv.remote_id, amount=amount)
                ],
            ),
        )
        for n, inv in enumerate(invoices)
    ]


@dataclass
class Sent:
    """What writing a list of operations cost: how many the ERP took, its calls, and the time."""

    ok: int
    calls: int
    seconds: float


def write_in_batches(
    connector: Connector, ops: Sequence[OutboundOp], batch: int, calls: Callable[[], int]
) -> Sent:
    """Write ``ops`` ``batch`` at a time, as the engine does; ``calls`` reads the ERP's call counter."""
    started, before = time.perf_counter(), calls()
    ok = sum(r.ok for i in range(0, len(ops), batch) for r in connector.write(ops[i : i + batch]))
    return Sent(ok=ok, calls=calls() - before, seconds=time.perf_counter() - started)
