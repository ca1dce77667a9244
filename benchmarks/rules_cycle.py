"""A cycle costs what changed: dunning and cash application on a big store, incremental against whole.

    python -m benchmarks.rules_cycle                 # 100k customers / 1M invoices / 300k payments
    python -m benchmarks.rules_cycle --scale 0.05    # a twentieth of that (the changes stay 1,000 each)
    python -m benchmarks.rules_cycle --url postgresql+psycopg://postgres@127.0.0.1/bench
                                                     # an empty PostgreSQL database instead of SQLite

The store is filled by a pull from the in-memory ERP (not measured). Then, all on the same store:

* ``rules.first_run`` — the rules' first run: the whole book, and every decision it makes stored;
  what it decided reaches the ERP, and the ERP's echo of it the store, in two cycles that read
  what changed (not measured: they also fill what a daemon keeps in its process between cycles);
* ``rules.cycle`` — one cycle after 1,000 new payments and 1,000 changed invoices in the ERP: its
  pull, both rules (reading what changed) and its outbox written back to the ERP;
* ``rules.full`` — then a full re-plan and a full re-match (``--full-rules``) of the store as that
  cycle left it, at the same moment: what every cycle cost before the rules read only what changed.

``rules.cycle.fraction`` compares the two, in wall time and in processor time; the target is 0.05
or less. On PostgreSQL the processor time of the server's backends serving the benchmark's database
is counted too (``cpu`` with it, ``cpu_this_process`` without it): a statement the server runs
long is time the cycle costs even while this process waits. ``rules.cycle`` also says how its
time was shared between its phases (pull, each rule, write-back). Prints one JSON line per
measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import emit, measure
from benchmarks.process_cpu import BackendCpu

CONNECTION = "bench"
# The in-memory ERP issues its invoices from January 2024 on; by June most open ones are overdue.
AS_OF = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
POLICY = Path(__file__).resolve().parents[1] / "config" / "dunning-policy.example.yaml"


def _deciders(full: bool) -> list[Any]:
    from engine.rules import CashAppDecider, DunningDecider

    deciders: list[Any] = [
        DunningDecider(str(POLICY), full=full),
        CashAppDecider(None, None, None, full=full),
    ]
    for decider in deciders:
        # Cycles run back to back here with no other writer: nothing to wait for (see ``settle``).
        decider.settle = timedelta(0)
    return deciders


class Clock:
    """Wall and processor seconds of a stretch of work: this process's, and on PostgreSQL its backends'."""

    def __init__(self, engine: Any) -> None:
        self.store_engine = engine
        self.engine = engine if engine.dialect.name == "postgresql" else None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[dict[str, float]]:
        import sqlalchemy as sa

        spent: dict[str, float] = {"statements": 0, "checkouts": 0}

        def count(*_: Any) -> None:
            # Each statement sent is a round trip to the database (an executemany counts once).
            spent["statements"] += 1

        def checkout(*_: Any) -> None:
            # Each connection taken from the pool: its transaction's start and end are round trips
            # of their own on PostgreSQL (and the pool's check that it still works another).
            spent["checkouts"] += 1

        backends = BackendCpu(self.engine, every=0.5).start() if self.engine is not None else None
        sa.event.listen(self.store_engine, "before_cursor_execute", count)
        sa.event.listen(self.store_engine, "checkout", checkout)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield spent
        finally:
            sa.event.remove(self.store_engine, "before_cursor_execute", count)
            sa.event.remove(self.store_engine, "checkout", checkout)
            spent["wall"] = time.perf_counter() - wall
            spent["cpu_this_process"] = time.process_time() - cpu
            spent["cpu_server"] = backends.stop() if backends is not None else 0.0
            spent["cpu"] = spent["cpu_this_process"] + spent["cpu_server"]


def _rounded(spent: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in spent.items()}


def _timed_phases(eng: Any, phases: dict[str, dict[str, float]]) -> None:
    """Keep each phase's wall and processor time of ``eng``'s next cycles in ``phases``."""
    clock = Clock(eng.store.engine)

    def timed(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            spent: dict[str, float] = {}
            try:
                with clock() as spent:
                    return step(*args, **kwargs)
            finally:
                phases[name] = _rounded(spent)

        return run

    eng.pull = timed("pull", eng.pull)
    eng.relay = timed("write_back", eng.relay)
    store_decisions = eng._store_decisions

    def by_rule(decider: Any, *args: Any) -> Any:
        return timed(decider.name, store_decisions)(decider, *args)

    eng._store_decisions = by_rule


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100k/1M/300k records")
    parser.add_argument("--changes", type=int, default=1000, help="new payments and changed invoices")
    parser.add_argument("--url", help="an empty store at this URL instead of a temporary SQLite file")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    from connectors.base import ConnectorContext
    from connectors.memory.connector import MemoryConnector, MemorySettings
    from engine.sync import CycleReport, SyncEngine, SyncOptions
    from mapping.models import Stream
    from store import StateStore
    from store import schema as t

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        store = StateStore.open(url)
        if store.count_records(CONNECTION):
            parser.error(f"the store at {url} already holds records; give an empty one")
        settings = MemorySettings(
            erp="bench",
            customers=int(100_000 * args.scale),
            invoices=int(1_000_000 * args.scale),
            credit_memos=0,
            payments=int(300_000 * args.scale),
            seed=7,
        )

        def engine(deciders: list[Any], **options: Any) -> SyncEngine:
            connector = MemoryConnector(
                settings, ConnectorContext(connection=CONNECTION, state=store.connector_state(CONNECTION))
            )
            return SyncEngine(store, connector, CONNECTION, SyncOptions(deciders=deciders, **options))

        engine([], write_back=False).run_cycle()
        erp = MemoryConnector.erps["bench"]
        # The payments the measured cycle brings are new to the store: forgotten now, changed in
        # the ERP later, so its pull returns them as new records.
        new_payments = erp.touch(Stream.PAYMENTS, args.changes, seed=1)
        engine([], write_back=False).run_cycle()
        r = t.records
        with store.engine.begin() as conn:
            for i in range(0, len(new_payments), 500):
                conn.execute(
                    sa.delete(r).where(
                        r.c.connection == CONNECTION,
                        r.c.stream == "payments",
                        r.c.remote_id.in_(new_payments[i : i + 500]),
                    )
                )
        counts = store.count_records(CONNECTION)
        dialect = store.dialect

        suffix = "" if dialect == "sqlite" else f".{dialect}"

        clock = Clock(store.engine)

        def decide(name: str, as_of: datetime) -> dict[str, float]:
            eng = engine(_deciders(True), write_back=False, as_of=as_of)
            report = CycleReport(run_id=f"bench-{name}", connection=CONNECTION)
            with measure(f"rules.{name}{suffix}") as m:
                with clock() as spent:
                    eng.decide(report)
                m.n = sum(counts.values())
                m.extra = {
                    **_rounded(spent),
                    "decided": dict(report.decided),
                    "errors": report.errors,
                    "records": counts,
                }
            return spent

        decide("first_run", AS_OF)

        # What the first run decided reaches the ERP, and the ERP's echo of it the store, before
        # the measured cycle: it writes back only its own decisions.
        for _ in range(2):
            engine(_deciders(False), write_back=True, as_of=AS_OF).run_cycle()
        # The same seed picks the same payments: changed once more, they reach the next pull.
        assert erp.touch(Stream.PAYMENTS, args.changes, seed=1) == new_payments
        changed_invoices = erp.touch(Stream.INVOICES, args.changes, seed=2)
        # The in-memory ERP's book (1.4 million records at the stated size) is in this process only
        # because the ERP is simulated here; a daemon does not hold it. Set aside from the cycle
        # collector, so its walks in the measured cycle and full run count only what they hold.
        gc.collect()
        gc.freeze()
        deciders = _deciders(False)
        at = AS_OF + timedelta(minutes=15)
        eng = engine(deciders, write_back=True, as_of=at)
        phases: dict[str, dict[str, float]] = {}
        _timed_phases(eng, phases)
        with measure(f"rules.cycle{suffix}") as m:
            with clock() as cycle:
                report = eng.run_cycle()
            m.n = len(new_payments) + len(changed_invoices)
            m.extra = {
                **_rounded(cycle),
                "phases": phases,
                "status": report.status,
                "pulled": report.pulled,
                "decided": dict(report.decided),
                "written": dict(report.written),
                "customers_replanned": deciders[0].replanned,
                "payments_matched": deciders[1].rematched,
                "cashapp_steps": {k: round(v, 3) for k, v in deciders[1].spent.items()},
                "errors": report.errors,
            }
        full = decide("full", at)
        store.close()
    fraction = {
        "name": f"rules.cycle.fraction{suffix}",
        "wall": round(cycle["wall"] / full["wall"], 4),
        "cpu": round(cycle["cpu"] / full["cpu"], 4),
        "at_most": 0.05,
    }
    if dialect != "sqlite":
        fraction["cpu_this_process"] = round(cycle["cpu_this_process"] / full["cpu_this_process"], 4)
    emit(fraction)


if __name__ == "__main__":
    main()
