"""One sync cycle of one connection: pull pages into the store, run the rules, relay the outbox.

The engine never trusts a process to live: every page is stored together with the cursor after
it, every write is in the outbox with a deterministic idempotency key before it is sent, and a
row is marked done only when the ERP confirmed it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from connectors.base import Connector, OutboundOp, Page, WriteResult
from connectors.errors import AuthError, ConnectorError, ErrorKind, TlsError, TransientError
from engine import metrics
from mapping.models import (
    CollectionStatusUpdate,
    Operation,
    PaymentApplication,
    Record,
    Stream,
    TargetType,
)
from store import (
    AuditEntry,
    ConnectionBusyError,
    OutboxRow,
    PageOutcome,
    StateStore,
    StoreError,
    idempotency_key,
)
from store.runs import HEARTBEAT_EVERY, active_runs

log = logging.getLogger("arbridge.engine")

TARGET_STREAMS = {
    TargetType.CUSTOMER: Stream.CUSTOMERS,
    TargetType.INVOICE: Stream.INVOICES,
    TargetType.CREDIT_MEMO: Stream.CREDIT_MEMOS,
    TargetType.PAYMENT: Stream.PAYMENTS,
}


@dataclass(frozen=True)
class Decision:
    """An operation a rule wants written, optionally only after another one succeeded."""

    op: Operation
    after: Operation | None = None


@dataclass(frozen=True)
class DecisionGroup:
    """One decision that becomes several rows (or a batch of such decisions), stored in one
    transaction or not at all.

    ``ops`` go to the outbox; ``record`` writes the rule's own record of the decision (a planned
    dunning action, a match verdict) on the same database connection. A process killed while the
    group is being stored leaves nothing of it, and the next cycle decides it again whole.

    The engine stores a rule's groups in batches, in the order they come, some time after they
    were yielded: what a rule writes once all its decisions are stored (the mark its next run
    starts from) is a group of its own too, with no ``ops``, so it lands with or after them.
    """

    ops: Sequence[Decision | Operation] = ()
    record: Callable[[Any], object] | None = None


@dataclass
class DecisionContext:
    store: StateStore
    connection: str
    as_of: datetime
    run_id: str
    changed: dict[str, int]
    stop: threading.Event = field(default_factory=threading.Event)
    # Decide on the whole book, not only on what changed since the rules' last run.
    full: bool = False


class Deliverer(Protocol):
    """Hands what the rules decided to channels outside the ERP (dunning e-mails, letters …)."""

    name: str

    def deliver(self, ctx: DecisionContext) -> dict[str, int]:
        """Send what is due at ``ctx.as_of``; returns counts by outcome."""
        ...


class Decider(Protocol):
    """A rule set that turns the stored state into operations for the ERP."""

    name: str

    def decide(self, ctx: DecisionContext) -> Iterable[Decision | Operation | DecisionGroup]: ...

    def redecide(self, op: Operation, fresh: Record | None) -> Operation | None:
        """Given the ERP's current record after a conflict: the operation to send now, or None."""
        ...


@dataclass
class SyncOptions:
    streams: Sequence[Stream] | None = None
    write_back: bool = True
    dry_run: bool = False
    read_attempts: int = 8
    write_attempts: int = 8
    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    retry_after_max: float = 900.0
    dedupe_window: timedelta = timedelta(hours=24)
    sleep: Callable[[float], None] = time.sleep
    stop: threading.Event = field(default_factory=threading.Event)
    on_page: Callable[[Stream, int, int], None] | None = None
    # (phase, done so far, total when known): rules, sending and write-back, for a progress display.
    on_progress: Callable[[str, int, int | None], None] | None = None
    deciders: Sequence[Decider] = ()
    deliverers: Sequence[Deliverer] = ()
    as_of: datetime | None = None
    worker: str | None = None
    job_id: int | None = None
    # The rules decide on the whole book this cycle (after a fix in the data, to check).
    full_rules: bool = False
    # Decisions stored per transaction: a commit each would cost more than deciding them.
    decisions_per_commit: int = 250


@dataclass
class CycleReport:
    run_id: str
    connection: str
    status: str = "running"
    pulled: dict[str, dict[str, int]] = field(default_factory=dict)
    decided: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, dict[str, int]] = field(default_factory=dict)
    written: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    throttled: int = 0
    api_calls: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # A stream failed to pull: the store may be stale, so nothing is sent to customers.
    pull_incomplete: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "pulled": self.pulled,
            "decided": self.decided,
            "delivered": self.delivered,
            "written": dict(self.written),
            "retries": self.retries,
            "throttled": self.throttled,
            "api_calls": self.api_calls,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        """The cycle in one sentence: what was pulled, decided, sent and written back."""
        pulled = Counter[str]()
        for counts in self.pulled.values():
            pulled.update(counts)
        parts = [
            f"pulled {pulled['new']} new and {pulled['changed']} changed record(s)"
            + (f", {pulled['quarantined']} quarantined" if pulled["quarantined"] else "")
        ]
        decided = sum(self.decided.values())
        if decided:
            parts.append(f"decided {decided} write(s) for the ERP")
        for name, counts in self.delivered.items():
            if counts:
                parts.append(f"{name}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        confirmed = self.written["ok"] + self.written["duplicate"]
        others = ", ".join(
            f"{v} {k}" for k, v in sorted(self.written.items()) if k not in ("ok", "duplicate")
        )
        parts.append(f"wrote {confirmed} to the ERP" + (f" ({others})" if others else ""))
        if self.retries:
            parts.append(f"{self.retries} retries ({self.throttled} throttled)")
        return f"cycle {self.status} in {self.seconds:.1f}s: " + "; ".join(parts)


class NeedsReauthError(RuntimeError):
    pass


class _Heartbeat:
    """Refreshes the run's heartbeat while a cycle runs, so another machine can tell it is alive."""

    def __init__(self, store: StateStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id[:8]}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY.total_seconds()):
            try:
                self.store.heartbeat(self.run_id)
            except Exception as exc:  # a missed beat is harmless; the next one may get through
                log.debug("heartbeat of run %s missed: %s", self.run_id, exc)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _Outage:
    """Logs an outage once when it starts and once when it ends, not at every retry."""

    def __init__(self, connection: str) -> None:
        self.connection = connection
        self.active: str | None = None

    def failed(self, what: str, exc: BaseException) -> None:
        if self.active is None:
            self.active = what
            log.warning(
                "ERP unavailable during %s; retrying with backoff: %s",
                what,
                exc,
                extra={
                    "connection": self.connection,
                    "event": "outage_started",
                    "during": what,
                    "error": str(exc),
                },
            )
        else:
            log.debug("still failing during %s: %s", what, exc, extra={"connection": self.connection})

    def ok(self) -> None:
        if self.active is not None:
            log.warning(
                "ERP reachable again after %s",
                self.active,
                extra={"connection": self.connection, "event": "outage_ended", "during": self.active},
            )
            self.active = None


class _PageWriter:
    """Stores a stream's pages in order, one at a time, while the connector reads the next one.

    In the background (``background``), the store's wait for its database (PostgreSQL's round
    trips, a commit's flush to disk) overlaps the connector's reading and mapping of the next
    page, instead of adding to it. A page is handed on only once the one before it is stored: a
    page that fails to store stops the stream before any later page (and its cursor) is written.
    Without ``background`` each page is stored at once, in the caller's thread.
    """

    def __init__(self, save: Callable[[Page], PageOutcome], *, background: bool) -> None:
        self._save = save
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="page-writer") if background else None
        self._pending: tuple[int, Page, Future[PageOutcome]] | None = None

    def put(self, number: int, page: Page) -> list[tuple[int, Page, PageOutcome]]:
        """Store ``page``; returns the pages whose storing finished meanwhile, with their outcomes.

        Raises what storing the page before it raised.
        """
        if self._pool is None:
            return [(number, page, self._save(page))]
        done = self.drain()
        self._pending = (number, page, self._pool.submit(self._save, page))
        return done

    def drain(self) -> list[tuple[int, Page, PageOutcome]]:
        """Wait for the page being stored; returns it with its outcome (empty when there is none)."""
        pending, self._pending = self._pending, None
        return [] if pending is None else [(pending[0], pending[1], pending[2].result())]

    def __enter__(self) -> _PageWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        # Leaving early (an error, a stop) waits for the page being stored: no write outlives the pull.
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class SyncEngine:
    """Runs cycles for one connection against one store."""

    def __init__(
        self, store: StateStore, connector: Connector, connection: str, options: SyncOptions | None = None
    ) -> None:
        self.store = store
        self.connector = connector
        self.connection = connection
        self.options = options or SyncOptions()
        self._outage = _Outage(connection)

    # -- retries ----------------------------------------------------------------------------------

    def _retrying(self, attempts: int, report: CycleReport, what: str) -> Retrying:
        opts = self.options

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            expo = min(opts.backoff_max, opts.backoff_initial * (2 ** (state.attempt_number - 1)))
            # Jitter (half fixed, half random) keeps many daemons from retrying in lockstep.
            delay = random.uniform(expo / 2, expo)
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                delay = max(delay, min(float(retry_after), opts.retry_after_max))
            return delay

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            report.retries += 1
            metrics.retry(self.connection)
            if isinstance(exc, ConnectorError) and exc.kind == ErrorKind.THROTTLED:
                report.throttled += 1
            if exc is not None:
                self._outage.failed(what, exc)

        def interrupted(state: RetryCallState) -> bool:
            return self.options.stop.is_set()

        return Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, TransientError)),
            stop=lambda s: stop_after_attempt(attempts)(s) or interrupted(s),
            wait=wait,
            sleep=opts.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    # -- the cycle -------------------------------------------------------------------------------

    def run_cycle(self) -> CycleReport:
        started = time.monotonic()
        try:
            run_id = self.store.start_run(
                self.connection, worker=self.options.worker, job_id=self.options.job_id
            )
        except ConnectionBusyError as exc:
            # One line, no run recorded: the other process's run is the one that counts.
            log.warning("%s", exc, extra={"connection": self.connection, "event": "cycle_skipped"})
            return CycleReport(run_id="", connection=self.connection, status="busy", errors=[str(exc)])
        report = CycleReport(run_id=run_id, connection=self.connection)
        status, error = "ok", None
        with active_runs(run_id), _Heartbeat(self.store, run_id):
            try:
                status, error = self._cycle(report)
            except StoreError as exc:
                status, error = "failed", str(exc)
            except BaseException as exc:
                # Whatever stopped the cycle, its run is closed with the reason, never left "running".
                report.seconds = time.monotonic() - started
                self._finish(report, "failed", f"{type(exc).__name__}: {exc}")
                raise
        if self.options.stop.is_set() and status == "ok":
            status = "interrupted"
        report.seconds = time.monotonic() - started
        self._finish(report, status, error)
        return report

    def _cycle(self, report: CycleReport) -> tuple[str, str | None]:
        """Pull, decide, deliver and write back; returns the run's status and error."""
        try:
            health = self.store.connection_health(self.connection)
            if health.get("needs_reauth"):
                raise NeedsReauthError(
                    f"connection {self.connection!r} needs re-authorisation: {health.get('reauth_reason')}"
                )
            self.pull(report)
            if not self.options.stop.is_set():
                self.decide(report)
            if not self.options.stop.is_set() and not self.options.dry_run:
                self.deliver(report)
            if self.options.write_back and not self.options.dry_run and not self.options.stop.is_set():
                self.relay(report)
            if not self.options.stop.is_set():
                # The next cycle's reads plan by statistics of the tables as this one left them.
                self.store.refresh_statistics()
            if report.errors:
                return "partial", None
            self.store.mark_success(self.connection)
            return "ok", None
        except AuthError as exc:
            self._needs_reauth(str(exc), report.run_id)
            return "needs_reauth", str(exc)
        except NeedsReauthError as exc:
            return "needs_reauth", str(exc)
        except TransientError as exc:
            return "failed", f"gave up after retries: {exc}"
        except ConnectorError as exc:
            return "failed", str(exc)

    def _finish(self, report: CycleReport, status: str, error: str | None) -> None:
        report.status = status
        if error:
            report.errors.append(error)
        try:
            self.store.finish_run(report.run_id, status, report.as_dict(), error)
            head = self.store.audit_head()
        except StoreError as exc:  # the store stayed busy: the run is closed as abandoned later
            report.errors.append(str(exc))
            head = None
        log.info(
            "%s",
            report.summary(),
            extra={
                **report.as_dict(),
                "connection": self.connection,
                "run_id": report.run_id,
                "event": "cycle_finished",
                # Logs kept off this machine then hold checkpoints for 'arbridge audit verify'.
                "audit_head": str(head) if head else None,
            },
        )

    def _needs_reauth(self, reason: str, run_id: str) -> None:
        with self.store.transaction() as conn:
            # The flag and its audit entry together: a kill between them would lose the entry for
            # good (the next cycle finds the flag set and raises no second alert).
            first = self.store.set_needs_reauth(self.connection, reason, conn=conn)
            if first:
                self.store.audit(
                    "needs_reauth",
                    connection=self.connection,
                    run_id=run_id,
                    detail={"reason": reason},
                    conn=conn,
                )
        if first:
            log.error(
                "connection %s needs re-authorisation by an admin; syncing is paused until then: %s",
                self.connection,
                reason,
                extra={
                    "connection": self.connection,
                    "run_id": run_id,
                    "event": "needs_reauth",
                    "reason": reason,
                },
            )

    # -- pull -------------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        available = self.connector.capabilities.streams
        wanted = self.options.streams or list(Stream)
        return [s for s in wanted if s in available]

    def pull(self, report: CycleReport) -> None:
        for stream in self.streams():
            if self.options.stop.is_set():
                return
            totals: Counter[str] = Counter()
            try:
                for attempt in self._retrying(self.options.read_attempts, report, f"read {stream.value}"):
                    with attempt:
                        self._pull_stream(stream, report, totals)
                self._outage.ok()
            except (AuthError, TlsError, TransientError):
                raise  # the connection is broken, not this stream: the other streams would fail alike
            except ConnectorError as exc:
                report.pull_incomplete = True
                report.errors.append(f"{stream.value}: {exc}")
                log.error("stream %s failed: %s", stream.value, exc, extra={"connection": self.connection})
            report.pulled[stream.value] = dict(totals)

    def _pull_stream(self, stream: Stream, report: CycleReport, totals: Counter[str]) -> None:
        # Each attempt starts from the last committed cursor, so a failure mid-stream resumes
        # after the last stored page (or from the start, for a stream that is not resumable).
        cursor = self.store.get_cursor(self.connection, stream)
        last = None

        def save(page: Page) -> PageOutcome:
            return self.store.save_page(
                self.connection, stream, page.records, page.rejects, page.cursor, report.run_id
            )

        with _PageWriter(save, background=self.store.writes_while_reading) as writer:
            for number, page in enumerate(self.connector.read(stream, cursor), start=1):
                if page.cursor is not None:
                    last = page.cursor
                for stored in writer.put(number, page):
                    self._stored(stream, report, totals, *stored)
                if self.options.stop.is_set():
                    for stored in writer.drain():
                        self._stored(stream, report, totals, *stored)
                    return
            for stored in writer.drain():
                self._stored(stream, report, totals, *stored)
        if last is not None and not last.resumable:
            # The stream ran to its end: an unsorted stream's cursor is valid only now.
            self.store.set_cursor(self.connection, stream, last)

    def _stored(
        self,
        stream: Stream,
        report: CycleReport,
        totals: Counter[str],
        number: int,
        page: Page,
        outcome: PageOutcome,
    ) -> None:
        """Count a stored page, log its quarantined records and tell ``on_page``."""
        report.api_calls += page.api_calls
        metrics.records_read(self.connection, stream, len(page.records))
        totals["pages"] += 1
        totals["new"] += outcome.new
        totals["changed"] += outcome.changed
        totals["unchanged"] += outcome.unchanged
        totals["deleted"] += outcome.deleted
        totals["quarantined"] += outcome.quarantined
        for rej in page.rejects:
            log.warning(
                "quarantined %s %s: %s: %s",
                stream.value,
                rej.remote_id,
                rej.field_path,
                rej.reason,
                extra={
                    "connection": self.connection,
                    "run_id": report.run_id,
                    "event": "quarantined",
                    "stream": stream.value,
                    "remote_id": rej.remote_id,
                    "field_path": rej.field_path,
                    "reason": rej.reason,
                },
            )
        if self.options.on_page:
            self.options.on_page(stream, number, len(page.records))

    # -- decide -----------------------------------------------------------------------------------

    def _context(self, report: CycleReport) -> DecisionContext:
        return DecisionContext(
            store=self.store,
            connection=self.connection,
            as_of=self.options.as_of or datetime.now(UTC),
            run_id=report.run_id,
            changed={k: v.get("new", 0) + v.get("changed", 0) for k, v in report.pulled.items()},
            stop=self.options.stop,
            full=self.options.full_rules,
        )

    def decide(self, report: CycleReport) -> None:
        if not self.options.deciders:
            return
        ctx = self._context(report)
        for decider in self.options.deciders:
            stored = [0]
            self._progress(f"rules: {decider.name}", 0)
            try:
                self._store_decisions(decider, ctx, report, stored)
            except (AuthError, TlsError, TransientError):
                raise
            except Exception as exc:
                # A rule that fails stops only itself: what it decided so far is stored whole, the
                # other rules run, and the outbox still reaches the ERP in this cycle.
                self._rule_failed(decider.name, exc, report)
            report.decided[decider.name] = stored[0]
            # The next rule reads what this one wrote (a first run fills whole tables) along
            # indexes the server chooses by its statistics.
            self.store.refresh_statistics()

    def _store_decisions(
        self, decider: Decider, ctx: DecisionContext, report: CycleReport, stored: list[int]
    ) -> None:
        """Store what ``decider`` decides, in batches; ``stored[0]`` counts the new outbox rows."""
        pending: list[tuple[list[tuple[Operation, Operation | None]], Callable[[Any], object] | None]] = []

        def store_pending() -> None:
            # Each decision is in one batch whole; a process killed before the commit leaves none
            # of the batch, and the rule decides them again at the next cycle (its mark moves only
            # with or after its last decision, see ``DecisionGroup``).
            batch = pending[:]
            pending.clear()  # a batch that fails to be stored is not tried again
            # Each update carries the version of its record, looked up for the whole batch at once.
            batch = self._with_base_versions(batch)
            counts = self.store.commit_decisions(
                self.connection, batch, rule=decider.name, run_id=report.run_id
            )
            stored[0] += sum(counts)

        try:
            for seen, item in enumerate(decider.decide(ctx), start=1):
                self._progress(f"rules: {decider.name}", seen)
                group = item if isinstance(item, DecisionGroup) else DecisionGroup((item,))
                pairs = [
                    (d.op, d.after)
                    for d in (x if isinstance(x, Decision) else Decision(x) for x in group.ops)
                ]
                pending.append((pairs, group.record))
                if len(pending) >= self.options.decisions_per_commit:
                    store_pending()
        finally:
            # What the rule decided before it stopped (or failed) is stored whole.
            if pending:
                store_pending()

    def _rule_failed(self, rule: str, exc: Exception, report: CycleReport) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        report.errors.append(f"rule {rule} stopped: {reason}")
        log.error(
            "rule %s stopped; the other rules and the write-back go on: %s",
            rule,
            reason,
            exc_info=log.isEnabledFor(logging.DEBUG),
            extra={"connection": self.connection, "run_id": report.run_id, "event": "rule_failed"},
        )
        self.store.audit(
            "rule_failed",
            connection=self.connection,
            run_id=report.run_id,
            subject=rule,
            detail={"reason": reason},
        )

    def _with_base_versions(
        self, groups: list[tuple[list[tuple[Operation, Operation | None]], Callable[[Any], object] | None]]
    ) -> list[tuple[list[tuple[Operation, Operation | None]], Callable[[Any], object] | None]]:
        """Each update carries the version of the record its decision was made on, from the start.

        So the connector sends it conditionally (If-Match, SyncToken) and an edit made in the ERP
        since is a conflict to re-decide on, never silently overwritten. The versions of a batch
        of decisions' records are read in one query per stream (and per 900 records).
        """
        wanted: dict[Stream, set[str]] = {}
        for pairs, _ in groups:
            for op in (o for pair in pairs for o in pair if o is not None):
                if op.base_version is None and updates_a_record(op):
                    wanted.setdefault(TARGET_STREAMS[op.target_type], set()).add(op.target_id)
        if not wanted:
            return groups
        versions = {
            (stream, rid): version
            for stream, ids in wanted.items()
            for rid, version in self.store.record_versions(self.connection, stream, sorted(ids)).items()
        }

        def versioned(op: Operation | None) -> Operation | None:
            if op is None or op.base_version is not None or not updates_a_record(op):
                return op
            version = versions.get((TARGET_STREAMS[op.target_type], op.target_id))
            return op if version is None else op.model_copy(update={"base_version": version})

        return [
            ([(versioned(op) or op, versioned(after)) for op, after in pairs], record)
            for pairs, record in groups
        ]

    # -- deliver ----------------------------------------------------------------------------------

    def deliver(self, report: CycleReport) -> None:
        """Send what the rules planned for people (reminders), on fresh data only.

        After a pull that failed for a stream the store may be stale, and a reminder is checked
        against the store just before it goes out: so nothing is sent in such a cycle.
        """
        if not self.options.deliverers:
            return
        if report.pull_incomplete:
            log.warning(
                "nothing sent to customers this cycle: the pull was incomplete (%s)",
                "; ".join(report.errors),
                extra={"connection": self.connection, "run_id": report.run_id},
            )
            return
        ctx = self._context(report)
        for deliverer in self.options.deliverers:
            self._progress(f"sending: {deliverer.name}", 0)
            report.delivered[deliverer.name] = dict(deliverer.deliver(ctx))
            self._progress(f"sending: {deliverer.name}", sum(report.delivered[deliverer.name].values()))

    # -- relay ------------------------------------------------------------------------------------

    def _progress(self, phase: str, done: int, total: int | None = None) -> None:
        if self.options.on_progress is not None:
            self.options.on_progress(phase, done, total)

    def relay(self, report: CycleReport) -> None:
        batch_max = max(1, self.connector.capabilities.batch_max)
        total = (
            self.store.outbox_stats(self.connection)["counts"].get("pending", 0)
            if self.options.on_progress
            else 0
        )
        handled = 0
        while not self.options.stop.is_set():
            rows = self.store.claim(self.connection, batch_max)
            handled += len(rows)
            self._progress("write-back", handled, max(total, handled))
            if not rows:
                return
            to_send: list[OutboxRow] = []
            for index, row in enumerate(rows):
                try:
                    if not row.key_matches_payload():
                        with self.store.transaction() as conn:
                            self.store.mark_parked(
                                row.key,
                                error="payload changed after its idempotency key was issued; refused",
                                kind="tampered",
                                conn=conn,
                            )
                            self.store.audit(
                                "refused_tampered",
                                connection=self.connection,
                                run_id=report.run_id,
                                subject=row.key,
                                conn=conn,
                            )
                        report.written["refused"] += 1
                        continue
                    if self._already_written(row, report):
                        continue
                    row.operation()
                except (AuthError, TlsError, TransientError) as exc:
                    # Nothing of this claim was sent: the rows go back with their attempt unspent.
                    self.store.release([r.key for r in [*to_send, *rows[index:]]], attempted=False)
                    if not isinstance(exc, TransientError):
                        raise
                    report.errors.append(
                        f"write-back postponed: looking up an unconfirmed write failed: {exc}"
                    )
                    return
                except ConnectorError as exc:
                    self._park(
                        row, f"the ERP could not be asked whether it landed: {exc}", exc.kind.value, report
                    )
                    continue
                except (ValueError, TypeError, KeyError) as exc:
                    # A row that cannot be read (a payload from an older release, a hand-edited
                    # row) is parked with the reason; the rest of the queue goes on.
                    self._park(row, f"cannot be read: {exc}", "bad_record", report)
                    continue
                to_send.append(row)
            if to_send and not self._send(to_send, report):
                return

    def _send(self, to_send: list[OutboxRow], report: CycleReport) -> bool:
        """Write a batch and settle each row; False when the ERP is down and the relay should stop."""
        # The first send since an admin put a parked write back (its attempts start over, and an
        # earlier claim had let it leave): the ERP's remembered answer to the old request is final.
        ops = [
            OutboundOp(r.key, r.operation(), new_request=r.attempts == 1 and r.maybe_sent) for r in to_send
        ]
        try:
            results: list[WriteResult] = []
            for attempt in self._retrying(self.options.write_attempts, report, "write-back"):
                with attempt:
                    results = list(self.connector.write(ops))
            report.api_calls += 1
            self._outage.ok()
        except (AuthError, TlsError):
            self.store.release([r.key for r in to_send])
            raise
        except TransientError as exc:
            for r in to_send:
                self.store.mark_retry(
                    r.key, error=str(exc), kind=exc.kind.value, delay=self.options.backoff_max
                )
            report.errors.append(f"write-back postponed: {exc}")
            return False
        except ConnectorError as exc:
            self._refused(to_send, exc, report)
            return True
        except Exception as exc:
            # The connector failed on something in the batch without an ERP answer (a value it
            # cannot put on the wire): send the rows one by one so only the one at fault is parked.
            if len(to_send) > 1:
                return all(self._send([r], report) for r in to_send)
            self._park(
                to_send[0],
                f"the connector could not send it: {type(exc).__name__}: {exc}",
                "bad_record",
                report,
            )
            return True
        by_key = {res.key: res for res in results}
        # The batch's outcomes (done marks with their audit entries, retries, parked rows) are
        # stored in one transaction: one commit per batch instead of one per row. A conflict asks
        # the ERP for the record again, which is done outside the transaction.
        conflicts: list[tuple[OutboxRow, ConnectorError]] = []
        done: list[tuple[str, str | None, str | None]] = []
        audits: list[AuditEntry] = []
        with self.store.transaction() as conn:
            for row in to_send:
                res = by_key.get(row.key)
                if res is not None and res.ok:
                    # The done mark and its audit entry are one transaction: no write is done unaudited.
                    done.append((row.key, res.remote_id, res.version))
                    audits.append(
                        AuditEntry(
                            "written",
                            self.connection,
                            report.run_id,
                            f"{row.target_type}/{row.target_id}",
                            {
                                "key": row.key,
                                "op": row.op_type,
                                "duplicate": res.duplicate,
                                "remote_id": res.remote_id,
                            },
                        )
                    )
                    report.written["duplicate" if res.duplicate else "ok"] += 1
                    metrics.write_back(self.connection, "done")
                elif res is not None and res.error is not None and res.error.kind == ErrorKind.CONFLICT:
                    conflicts.append((row, res.error))
                else:
                    self._apply_result(row, res, report, conn)
            self.store.mark_done_many(conn, done)
            self.store.audit_many(conn, audits)
        for row, err in conflicts:
            self._on_conflict(row, err, report)
        return True

    def _refused(self, rows: list[OutboxRow], exc: ConnectorError, report: CycleReport) -> None:
        """The ERP refused the whole call (a body it could not read, a permission): not the rows' verdict.

        The rows go back to the queue and leave again (the connector sends them under a new request
        id); only a call refused at every attempt parks them, saying that it was the call.
        """
        report.errors.append(f"write-back: the ERP refused the whole request, the writes go again: {exc}")
        for row in rows:
            if row.attempts >= self.options.write_attempts:
                self._park(
                    row,
                    f"the ERP refused the whole request {row.attempts} times, not this write: {exc}",
                    "refused_request",
                    report,
                )
                continue
            # At once the first time: a refusal replayed under an old request id is over with the
            # new one. A call refused again backs off like any retry.
            backoff = min(self.options.backoff_max, self.options.backoff_initial * 2**row.attempts)
            delay = 0.0 if row.error_kind != "refused_request" else backoff
            self.store.mark_retry(
                row.key, error=f"request refused: {exc}", kind="refused_request", delay=delay
            )
            report.written["retry"] += 1
            metrics.write_back(self.connection, "retried")

    def _park(self, row: OutboxRow, error: str, kind: str, report: CycleReport, conn: Any = None) -> None:
        """Park a row with the reason and its audit entry, in one transaction (``conn``'s, if given)."""
        with self.store._tx(conn) as c:
            self.store.mark_parked(row.key, error=error, kind=kind, conn=c)
            self.store.audit(
                "parked",
                connection=self.connection,
                run_id=report.run_id,
                subject=f"{row.target_type}/{row.target_id}",
                detail={"key": row.key, "error": error[:2000]},
                conn=c,
            )
        report.written["parked"] += 1
        metrics.write_back(self.connection, "parked")

    def _already_written(self, row: OutboxRow, report: CycleReport) -> bool:
        """Look a write that may have reached the ERP up before sending it again.

        A batch re-formed after a crash carries a different request id than the one that may have
        landed, so the ERP's own de-duplication cannot be relied on alone: ask the ERP first. When
        it cannot tell, resend inside its de-duplication window and park the row outside it.
        """
        if not row.maybe_sent or row.sent_at is None:
            return False
        found = self._look_up(row, report)
        if found is not None and not found.ok:
            return False  # the ERP says it certainly did not land: send it
        if found is None and datetime.now(UTC) - row.sent_at < self.options.dedupe_window:
            return False  # the ERP cannot tell, but still de-duplicates on the key
        if found is not None and found.ok:
            with self.store.transaction() as conn:
                self.store.mark_done(row.key, remote_id=found.remote_id, version=found.version, conn=conn)
                self.store.audit(
                    "reconciled", connection=self.connection, run_id=report.run_id, subject=row.key, conn=conn
                )
            report.written["reconciled"] += 1
            return True
        if found is None:
            self._park(
                row,
                "unconfirmed write older than the ERP's de-duplication window and the ERP cannot tell "
                "whether it landed; check the ERP, then re-queue or drop it",
                "unconfirmed",
                report,
            )
            return True
        return False

    def _look_up(self, row: OutboxRow, report: CycleReport) -> WriteResult | None:
        """``find_written``, retried like any read; an error other than auth, TLS or a lasting
        outage means the ERP cannot tell."""
        item = OutboundOp(row.key, row.operation())
        try:
            for attempt in self._retrying(self.options.read_attempts, report, "look-up of a sent write"):
                with attempt:
                    found = self.connector.find_written(item)
        except (AuthError, TlsError, TransientError):
            raise
        except ConnectorError as exc:
            log.warning(
                "the ERP could not tell whether %s landed: %s",
                row.key,
                exc,
                extra={"connection": self.connection},
            )
            return None
        self._outage.ok()
        return found

    def _apply_result(self, row: OutboxRow, res: WriteResult | None, report: CycleReport, conn: Any) -> None:
        """Store a refusal (or a missing answer) for one row, on the batch's transaction ``conn``."""
        if res is None:
            self.store.mark_retry(
                row.key,
                error="the connector returned no result for this operation",
                kind="transient",
                delay=5,
                conn=conn,
            )
            report.written["retry"] += 1
            metrics.write_back(self.connection, "retried")
            return
        err = res.error or ConnectorError("the ERP refused the operation without a reason")
        if err.retriable and row.attempts < self.options.write_attempts:
            delay = (
                err.retry_after
                if err.retry_after is not None
                else min(self.options.backoff_max, self.options.backoff_initial * 2**row.attempts)
            )
            self.store.mark_retry(row.key, error=str(err), kind=err.kind.value, delay=delay, conn=conn)
            report.written["retry"] += 1
            metrics.write_back(self.connection, "retried")
        else:
            self._park(row, str(err), err.kind.value, report, conn)

    def _on_conflict(self, row: OutboxRow, err: ConnectorError, report: CycleReport) -> None:
        report.written["conflict"] += 1
        metrics.conflict(self.connection)
        if row.conflicts >= 1:
            self._park(row, f"conflict again after re-reading: {err}", "conflict", report)
            return
        target = TargetType(row.target_type)
        fresh = self.connector.fetch(target, row.target_id)
        if fresh is not None:
            self.store.save_page(self.connection, TARGET_STREAMS[target], [fresh], run_id=report.run_id)
        op = row.operation()
        new_op: Operation | None = op.model_copy(update={"base_version": fresh.version if fresh else None})
        for decider in self.options.deciders:
            redecide = getattr(decider, "redecide", None)
            if redecide is not None and decider_handles(decider, op):
                new_op = redecide(op, fresh)
                break
        if new_op is None:
            with self.store.transaction() as conn:
                self.store.mark_parked(
                    row.key,
                    error="decision no longer holds after re-reading the record",
                    kind="superseded",
                    conn=conn,
                )
                self.store.audit(
                    "superseded",
                    connection=self.connection,
                    run_id=report.run_id,
                    subject=f"{row.target_type}/{row.target_id}",
                    detail={"key": row.key, "by": None},
                    conn=conn,
                )
            report.written["superseded"] += 1
            return
        if idempotency_key(self.connection, new_op) == row.key:
            self.store.rebase(row.key, new_op)
        else:
            # The old row gives way and the new decision takes its place in one transaction: a
            # kill in between must not leave the old one parked and the new one never queued.
            with self.store.transaction() as conn:
                self.store.mark_parked(
                    row.key, error="replaced by a new decision after a conflict", kind="superseded", conn=conn
                )
                self.store.enqueue(self.connection, [new_op], run_id=report.run_id, conn=conn)
                self.store.audit(
                    "superseded",
                    connection=self.connection,
                    run_id=report.run_id,
                    subject=f"{row.target_type}/{row.target_id}",
                    detail={"key": row.key, "by": idempotency_key(self.connection, new_op)},
                    conn=conn,
                )
            report.written["superseded"] += 1


def updates_a_record(op: Operation) -> bool:
    """Whether ``op`` changes an existing ERP record (and so must be conditional on its version).

    A note is appended to what the ERP holds when it is written, and a payment application to a
    customer creates a new payment: neither overwrites anyone's edit.
    """
    if isinstance(op, CollectionStatusUpdate):
        return True
    return isinstance(op, PaymentApplication) and op.target_type is TargetType.PAYMENT


def decider_handles(decider: Any, op: Operation) -> bool:
    handles = getattr(decider, "handles", None)
    return bool(handles(op)) if callable(handles) else False
