"""Prometheus metrics: counters the engine bumps, and gauges read from the state store at scrape time.

Labels are limited to the connection name, the stream and a result from a fixed vocabulary, so a
scrape never carries customer data (names, amounts, ids, error texts) and the number of series
stays bounded whatever the ERP sends. Values outside the vocabulary are counted as ``other``.

The engine calls the module functions (``records_read``, ``write_back``, ``retry``, ``conflict``,
``webhook``); the ops server exposes them together with a ``StoreCollector`` and, when the workers
share a procrastinate task queue, a ``QueueCollector``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mapping.models import Stream

log = logging.getLogger("arbridge.metrics")

WRITE_BACK_RESULTS = frozenset({"done", "retried", "conflict", "parked", "failed"})
WEBHOOK_RESULTS = frozenset(
    {"accepted", "handshake", "bad_signature", "replay", "unreadable", "busy", "unknown_connection"}
)
_STREAMS = frozenset(s.value for s in Stream)
QUEUE_STATUSES = ("todo", "doing", "failed")

# Engine counters live in their own registry, never the process-global default one, so importing
# arbridge into another program does not leak series into that program's /metrics.
ENGINE_REGISTRY = CollectorRegistry(auto_describe=True)

_RECORDS_READ = Counter(
    "arbridge_records_read",
    "Records read from the ERP.",
    ["connection", "stream"],
    registry=ENGINE_REGISTRY,
)
_WRITE_BACKS = Counter(
    "arbridge_write_backs",
    "Outbox operations sent to the ERP, by result.",
    ["connection", "result"],
    registry=ENGINE_REGISTRY,
)
_RETRIES = Counter(
    "arbridge_retries",
    "ERP calls retried after a transient error or throttling.",
    ["connection"],
    registry=ENGINE_REGISTRY,
)
_CONFLICTS = Counter(
    "arbridge_conflicts",
    "Write-backs that met a concurrent change in the ERP and were re-decided.",
    ["connection"],
    registry=ENGINE_REGISTRY,
)
_WEBHOOKS = Counter(
    "arbridge_webhooks",
    "Webhook calls received, by outcome.",
    ["connection", "result"],
    registry=ENGINE_REGISTRY,
)


def _stream(value: str | Stream) -> str:
    text = value.value if isinstance(value, Stream) else str(value)
    return text if text in _STREAMS else "other"


def _result(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else "other"


def records_read(connection: str, stream: str | Stream, count: int = 1) -> None:
    """Count records read from the ERP.

    Args:
        connection: the connection name.
        stream: the stream they belong to.
        count: how many.
    """
    if count > 0:
        _RECORDS_READ.labels(connection, _stream(stream)).inc(count)


def write_back(connection: str, result: str, count: int = 1) -> None:
    """Count outbox operations sent to the ERP.

    Args:
        connection: the connection name.
        result: one of ``done``, ``retried``, ``conflict``, ``parked``, ``failed``.
        count: how many.
    """
    if count > 0:
        _WRITE_BACKS.labels(connection, _result(result, WRITE_BACK_RESULTS)).inc(count)


def retry(connection: str, count: int = 1) -> None:
    """Count ERP calls retried after a transient error or throttling."""
    if count > 0:
        _RETRIES.labels(connection).inc(count)


def conflict(connection: str, count: int = 1) -> None:
    """Count write-backs that met a concurrent change in the ERP."""
    if count > 0:
        _CONFLICTS.labels(connection).inc(count)


def webhook(connection: str, result: str) -> None:
    """Count one webhook call by outcome (see ``WEBHOOK_RESULTS``)."""
    _WEBHOOKS.labels(connection, _result(result, WEBHOOK_RESULTS)).inc()


class StoreReader(Protocol):
    """The part of ``StateStore`` the collector reads."""

    def ping(self) -> bool: ...
    def outbox_stats(self, connection: str) -> dict[str, Any]: ...
    def count_records(self, connection: str) -> dict[str, int]: ...
    def quarantine_count(self, connection: str) -> int: ...
    def connection_health(self, name: str) -> dict[str, Any]: ...
    def dunning_counts(self, connection: str) -> dict[str, int]: ...


class StoreCollector(Collector):
    """Gauges read from the state store on every scrape, so they are never stale.

    Args:
        store: the state store.
        connections: the connection names to report on.
    """

    def __init__(self, store: StoreReader, connections: Sequence[str]) -> None:
        self._store = store
        self._connections = list(connections)

    def describe(self) -> Iterable[Metric]:
        """Nothing: describing would read the store at registration time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the store and yield one family per gauge."""
        up = GaugeMetricFamily("arbridge_store_up", "1 when the state store answers, else 0.")
        pending = GaugeMetricFamily(
            "arbridge_outbox_pending",
            "Outbox operations not yet confirmed by the ERP.",
            labels=["connection"],
        )
        oldest = GaugeMetricFamily(
            "arbridge_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox operation not yet confirmed.",
            labels=["connection"],
        )
        parked = GaugeMetricFamily(
            "arbridge_outbox_parked",
            "Outbox operations parked after a permanent error.",
            labels=["connection"],
        )
        quarantined = GaugeMetricFamily(
            "arbridge_quarantined_records", "Records the mapping rejected.", labels=["connection"]
        )
        stored = GaugeMetricFamily(
            "arbridge_records_stored", "Records in the state store.", labels=["connection", "stream"]
        )
        last_ok = GaugeMetricFamily(
            "arbridge_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync cycle.",
            labels=["connection"],
        )
        reauth = GaugeMetricFamily(
            "arbridge_connection_needs_reauth",
            "1 when the connection's credentials were refused and need an administrator.",
            labels=["connection"],
        )
        in_doubt = GaugeMetricFamily(
            "arbridge_dunning_in_doubt",
            "Dunning e-mails that may or may not have reached the relay: a person must decide.",
            labels=["connection"],
        )
        failed = GaugeMetricFamily(
            "arbridge_dunning_failed",
            "Dunning communications refused for good (or retried too often).",
            labels=["connection"],
        )
        try:
            for name in self._connections:
                stats = self._store.outbox_stats(name)
                counts: dict[str, int] = stats.get("counts") or {}
                pending.add_metric([name], counts.get("pending", 0) + counts.get("sending", 0))
                oldest.add_metric([name], float(stats.get("oldest_pending_age_s") or 0.0))
                parked.add_metric([name], counts.get("parked", 0))
                quarantined.add_metric([name], self._store.quarantine_count(name))
                for stream, n in sorted(self._store.count_records(name).items()):
                    stored.add_metric([name, _stream(stream)], n)
                health = self._store.connection_health(name)
                reauth.add_metric([name], 1.0 if health.get("needs_reauth") else 0.0)
                when = _timestamp(health.get("last_success_at"))
                if when is not None:
                    last_ok.add_metric([name], when)
                dunning = self._store.dunning_counts(name)
                in_doubt.add_metric([name], dunning.get("in_doubt", 0))
                failed.add_metric([name], dunning.get("failed", 0))
        except Exception:  # a scrape must answer even when the store does not
            log.warning("reading the state store for metrics failed", exc_info=True)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield from (up, pending, oldest, parked, quarantined, stored, last_ok, reauth, in_doubt, failed)


@dataclass(frozen=True)
class QueueSnapshot:
    """The shared task queue at one instant: what ``QueueCollector`` exposes.

    Attributes:
        jobs: jobs by status, for the statuses in ``QUEUE_STATUSES``.
        oldest_todo_age_s: how long the longest-waiting due job has waited; 0 when none waits.
        workers_alive: workers whose last heartbeat is recent enough to count them alive.
    """

    jobs: dict[str, int] = field(default_factory=dict)
    oldest_todo_age_s: float = 0.0
    workers_alive: int = 0


class QueueCollector(Collector):
    """Gauges of the task queue the workers share, read from its tables on every scrape.

    Every worker reports the same numbers, so any one of them may be scraped. Only job counts by
    status, an age and a worker count are exposed: the jobs' arguments (connection names and
    timestamps) never become labels.

    Args:
        read: reads the queue's tables; may raise when the database does not answer.
    """

    def __init__(self, read: Callable[[], QueueSnapshot]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        """Nothing: describing would read the database at registration time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the queue and yield one family per gauge."""
        up = GaugeMetricFamily("arbridge_queue_up", "1 when the shared task queue answered, else 0.")
        try:
            snapshot = self._read()
        except Exception:  # a scrape must answer even when the database does not
            log.warning("reading the task queue for metrics failed", exc_info=True)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        jobs = GaugeMetricFamily(
            "arbridge_queue_jobs",
            "Sync jobs in the shared task queue: todo (waiting), doing (running), failed (crashed, "
            "kept for workers.keep_jobs).",
            labels=["status"],
        )
        for status in QUEUE_STATUSES:
            jobs.add_metric([status], snapshot.jobs.get(status, 0))
        oldest = GaugeMetricFamily(
            "arbridge_queue_oldest_todo_seconds",
            "How long the longest-waiting due job has waited for a worker; 0 when none waits.",
        )
        oldest.add_metric([], max(snapshot.oldest_todo_age_s, 0.0))
        alive = GaugeMetricFamily(
            "arbridge_workers_alive",
            "Workers whose last heartbeat is younger than workers.stalled_after.",
        )
        alive.add_metric([], snapshot.workers_alive)
        yield from (up, jobs, oldest, alive)


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


class _Forward(Collector):
    """Exposes another registry's metrics through this one."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        return self._source.collect()


def build_registry(
    store: StoreReader,
    connections: Sequence[str],
    queue: Callable[[], QueueSnapshot] | None = None,
) -> CollectorRegistry:
    """A private registry with the engine counters, the store gauges and, when given, the queue gauges.

    Args:
        store: the state store.
        connections: the connection names to report on.
        queue: reads the shared task queue; None when this process syncs on its own.

    Returns:
        A registry for ``prometheus_client.generate_latest``.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward(ENGINE_REGISTRY))
    registry.register(StoreCollector(store, connections))
    if queue is not None:
        registry.register(QueueCollector(queue))
    return registry
