"""A crash campaign against a QuickBooks sandbox: cycles killed with SIGKILL, restarted at once.

Run as ``python -m tests.engine.kill_campaign_target STATE_URL SETTINGS_JSON CONNECTION INVOICES KILLS
SEED``. This process imports everything once, then forks one child per cycle (a restart costs no
interpreter start-up) and kills children until ``KILLS`` kills have landed, then lets cycles run
until every write is confirmed. Each child dies in one of three ways:

* ``row``: between two rows of one decision (a customer's planned action and the statuses of its
  invoices, stored in one transaction with the other decisions of its batch), in a random batch;
* ``headers``: between a write request's headers and its body, the request half sent;
* ``time``: at a random instant, from this process.

The decider is the dunning decider's shape: one action per customer, recorded as the planner's
history, with a collection status for each of the customer's invoices. It skips customers whose
action is recorded, so an action stored without its statuses would lose them for good.
Prints one JSON line: the kills by kind and the cycles run.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import os
import random
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.base import ConnectorContext
from connectors.registry import discover
from engine import DecisionContext, SyncEngine, SyncOptions
from engine.sync import DecisionGroup
from mapping import CollectionStatus, CollectionStatusUpdate, Invoice, Stream, TargetType
from store import StateStore

DAY = date(2026, 11, 23)
SEND_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DONE, NOT_YET = 0, 3
# Small batches: a kill lands in one of many transactions of the decide step, not always the first.
DECISIONS_PER_COMMIT = 5


def action_key(connection: str, customer: str) -> str:
    return hashlib.sha256(f"{connection}/{customer}".encode()).hexdigest()[:40]


class RemindCustomerByCustomer:
    name = "remind"

    def __init__(self, invoices: int) -> None:
        self.invoices = invoices

    def decide(self, ctx: DecisionContext) -> Iterator[DecisionGroup]:
        store, conn = ctx.store, ctx.connection
        if sum(store.outbox_stats(conn)["counts"].values()) >= self.invoices:
            return  # everything is decided: a restart goes straight to the write-back
        planned = {a["key"] for a in store.dunning_actions(conn)}
        customer: str | None = None
        group: list[Invoice] = []
        for rec in store.iter_records(conn, Stream.INVOICES, order_by_customer=True):
            assert isinstance(rec, Invoice)
            if rec.customer_remote_id != customer and group:
                yield from self._action(store, conn, customer, group, planned)
                group = []
            customer = rec.customer_remote_id
            group.append(rec)
        if group:
            yield from self._action(store, conn, customer, group, planned)

    @staticmethod
    def _action(
        store: StateStore, conn: str, customer: str | None, group: list[Invoice], planned: set[str]
    ) -> Iterator[DecisionGroup]:
        assert customer is not None
        key = action_key(conn, customer)
        if key in planned:
            return  # the planner's history holds it: its statuses must be in the outbox already
        record = functools.partial(
            store.record_dunning_action,
            conn,
            key=key,
            customer_id=customer,
            send_at=SEND_AT,
            channel="letter",
            level=1,
            payload={"customer_id": customer, "invoice_ids": [i.remote_id for i in group]},
        )
        ops = [
            CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=i.remote_id,
                collection_status=CollectionStatus.REMINDED,
                dunning_level=2,
                decided_on=DAY,
            )
            for i in group
        ]
        yield DecisionGroup(ops, lambda c: record(conn=c))


def die(report_fd: int, how: str) -> None:
    os.write(report_fd, how.encode() + b"\n")
    os.kill(os.getpid(), signal.SIGKILL)


def arm_row_kill(store: StateStore, group: int, before: str, report_fd: int) -> None:
    """Die inside the ``group``-th batch of decisions this cycle stores, once its outbox rows are
    written and before its ``before`` rows (``audit_log`` or ``dunning_actions``) are."""
    seen = [0]

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        text = statement.lstrip().upper()
        if text.startswith("INSERT INTO OUTBOX"):
            seen[0] += 1
        elif seen[0] == group and text.startswith(f"INSERT INTO {before.upper()}"):
            die(report_fd, "row")

    sa.event.listen(store.engine, "before_cursor_execute", on_statement)


def arm_headers_kill(at_request: int, report_fd: int) -> None:
    """Die right after the headers of the ``at_request``-th batch request left, before its body."""
    send = http.client.HTTPConnection.send
    seen = [0]

    def send_then_die(self: http.client.HTTPConnection, data: Any) -> None:
        head = bytes(data[:200]) if isinstance(data, bytes | bytearray) else b""
        if head.startswith(b"POST ") and b"/batch" in head.split(b"\r\n", 1)[0]:
            seen[0] += 1
            if seen[0] == at_request:
                send(self, data)
                die(report_fd, "headers")
        send(self, data)

    http.client.HTTPConnection.send = send_then_die  # type: ignore[method-assign]


def child(state_url: str, settings: dict[str, Any], connection: str, invoices: int, plan: dict[str, Any],
          report_fd: int) -> int:  # fmt: skip
    store = StateStore.open(state_url, migrate_schema=False)
    if plan.get("row"):
        arm_row_kill(store, *plan["row"], report_fd)
    if plan.get("headers"):
        arm_headers_kill(plan["headers"], report_fd)
    connector = (
        discover()
        .get("quickbooks")
        .create(settings, ConnectorContext(connection=connection, state=store.connector_state(connection)))
    )
    with connector:
        options = SyncOptions(
            deciders=[RemindCustomerByCustomer(invoices)],
            backoff_max=0.5,
            as_of=SEND_AT,
            decisions_per_commit=DECISIONS_PER_COMMIT,
        )
        report = SyncEngine(store, connector, connection, options).run_cycle()
    counts = store.outbox_stats(connection)["counts"]
    store.close()
    finished = report.status == "ok" and counts.get("done", 0) == invoices and len(counts) == 1
    return DONE if finished else NOT_YET


def undecided(state_url: str, connection: str, invoices: int) -> int:
    """How many invoices have no status in the outbox yet."""
    engine = sa.create_engine(state_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            queued = conn.execute(
                sa.text("SELECT count(*) FROM outbox WHERE connection = :c"), {"c": connection}
            ).scalar_one()
    finally:
        engine.dispose()
    return invoices - int(queued)


def _wait(pid: int, kill_after: float | None) -> int:
    """The child's wait status; SIGKILLed after ``kill_after`` seconds if still running."""
    if kill_after is not None:
        end = time.monotonic() + kill_after
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def main(state_url: str, settings_file: str, connection: str, invoices: str, kills: str, seed: str) -> None:
    settings = json.loads(Path(settings_file).read_text())
    n, wanted, rng = int(invoices), int(kills), random.Random(int(seed))
    StateStore.open(state_url).close()  # migrate once, before any child
    landed: Counter[str] = Counter()
    cycles = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        killing = sum(landed.values()) < wanted
        plan: dict[str, Any] = {}
        delay = None
        left = undecided(state_url, connection, n) if killing else 0
        if killing:
            if left > 0 and landed["row"] < wanted // 3:
                # A random batch among the first half of those left (customers of about 50 rows each).
                plan["row"] = (
                    rng.randint(1, max(1, left // (100 * DECISIONS_PER_COMMIT))),
                    rng.choice(["audit_log", "dunning_actions"]),
                )
            elif rng.random() < 0.4:
                plan["headers"] = rng.randint(1, 4)
            else:
                delay = rng.uniform(0.05, 1.5)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            code = 1
            try:
                code = child(state_url, settings, connection, n, plan, write_fd)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(write_fd)
        cycles += 1
        status = _wait(pid, delay)
        said = os.read(read_fd, 64).decode().strip()
        os.close(read_fd)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            landed[said or "time"] += 1
        elif os.WEXITSTATUS(status) == DONE and not killing:
            print(json.dumps({"kills": dict(landed), "cycles": cycles}), flush=True)
            return
        elif os.WEXITSTATUS(status) not in (DONE, NOT_YET):
            raise SystemExit(f"a cycle failed with exit code {os.WEXITSTATUS(status)}")
    raise SystemExit(f"the campaign did not finish: {dict(landed)} kills in {cycles} cycles")


if __name__ == "__main__":
    main(*sys.argv[1:7])
