"""A million GP receivables rows through ODBC into the store, beside the bare pyodbc fetch of the same rows.

    python -m benchmarks.dynamics_gp_read                 # 1,000,000 invoices (RM20101)
    python -m benchmarks.dynamics_gp_read --rows 100000   # a tenth, for a quick look

Needs PostgreSQL at 127.0.0.1:5432 (or ``--url``), unixODBC and the PostgreSQL ODBC driver, and the
vendor specs. The GP company (``--schema``, default ``gp_bench``) is seeded once with the large
data set and kept for the next run (``--reseed`` to start over). Three figures, each its own line:

- ``gp_bare_fetch``: pyodbc alone, the connector's keyset statements, rows fetched and dropped: the floor;
- ``gp_connector_read``: the connector's read of the invoices stream (rows mapped and validated
  into records, pages built), nothing stored;
- ``gp_read_into_store``: the engine pulling the invoices stream into a fresh SQLite store (or, with
  ``--store URL``, into an empty PostgreSQL store).

Targets: the pull into the store at ≥ 20,000 rows/s; goal ≤ 2× the floor's time. Each line carries
this process's processor time; the summary the load average, because these machines are shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

import pyodbc

from benchmarks.common import emit, measure
from connectors.base import ConnectorContext
from connectors.dynamics_gp import DynamicsGpConnector
from connectors.odbc import KeysetQuery
from engine.sync import SyncEngine, SyncOptions
from mapping.models import Stream
from sandboxes.dynamics_gp import GpSandbox, OdbcDriverMissing
from sandboxes.specs import SpecsNotFound
from store import StateStore


def cpu_seconds() -> float:
    """CPU time of this process so far: on a machine shared with other work, wall time alone misleads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="invoices in RM20101")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/arbridge_gp_bench")
    parser.add_argument("--schema", default="gp_bench")
    parser.add_argument("--page-size", type=int, default=5_000)
    parser.add_argument("--reseed", action="store_true", help="drop and seed the company again")
    parser.add_argument("--specs", default=os.environ.get("ARBRIDGE_SPECS"))
    parser.add_argument("--store", help="an empty store at this URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)

    try:
        sandbox = GpSandbox.from_url(args.url, schema=args.schema, specs=args.specs)
        sandbox.ensure_database()
    except (OdbcDriverMissing, SpecsNotFound, pyodbc.Error) as exc:
        emit({"name": "gp_read", "error": " ".join(str(exc).split())[:300]})
        raise SystemExit(2) from None
    try:
        held = sandbox.rows(f'SELECT COUNT(*) FROM {sandbox.t("RM20101")} WHERE "RMDTYPAL" = 1')[0][0]
    except pyodbc.Error:
        held = -1
    if args.reseed or held != args.rows:
        with measure("gp_seed") as seeded:
            sandbox.create("large", invoices=args.rows)
            seeded.n = args.rows
    login = sandbox.create_login(f"{args.schema}_reader")
    settings = {
        "connection_string": sandbox.connection_string(user=login),
        "schema": args.schema,
        "page_size": args.page_size,
    }

    # The floor: the same statements the connector sends, through pyodbc alone.
    connector = DynamicsGpConnector.create(settings, ConnectorContext("bench"))
    assert isinstance(connector, DynamicsGpConnector)
    [open_table, _] = connector.reader.sources(Stream.INVOICES)
    query = KeysetQuery(
        (args.schema, open_table.table),
        open_table.columns,
        open_table.key,
        where=open_table.where,
        params=open_table.params,
    )
    with measure("gp_bare_fetch") as bare:
        cpu = cpu_seconds()
        for rows in query.pages(connector.db, args.page_size):
            bare.n += len(rows)
        bare.extra = {"cpu_seconds": round(cpu_seconds() - cpu, 2)}
    connector.close()
    emit_floor = bare.seconds

    with measure("gp_connector_read") as read:
        cpu = cpu_seconds()
        connector = DynamicsGpConnector.create(settings, ConnectorContext("bench"))
        for page in connector.read(Stream.INVOICES, None):
            read.n += len(page.records) + len(page.rejects)
            read.api_calls += page.api_calls
        connector.close()
        read.relative_to = emit_floor
        read.extra = {"cpu_seconds": round(cpu_seconds() - cpu, 2)}

    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore.open(args.store or f"sqlite:///{Path(tmp) / 'gp.sqlite'}")
        if store.count_records("bench"):
            parser.error(f"the store at {args.store} already holds records; give an empty one")
        connector = DynamicsGpConnector.create(
            settings, ConnectorContext("bench", state=store.connector_state("bench"))
        )
        engine = SyncEngine(
            store, connector, "bench", SyncOptions(streams=[Stream.INVOICES], write_back=False)
        )
        with measure("gp_read_into_store") as pulled:
            cpu = cpu_seconds()
            report = engine.run_cycle()
            counts = report.pulled.get("invoices", {})
            pulled.n = counts.get("new", 0) + counts.get("changed", 0) + counts.get("unchanged", 0)
            pulled.api_calls = report.api_calls
            pulled.relative_to = emit_floor
            pulled.extra = {
                "status": report.status,
                "store": store.dialect,
                "quarantined": counts.get("quarantined", 0),
                "cpu_seconds": round(cpu_seconds() - cpu, 2),
            }
        connector.close()
        store.close()
    assert pulled.n == bare.n == args.rows, f"read {pulled.n} of {bare.n} rows"
    emit(
        {
            "name": "gp_summary",
            "n": args.rows,
            "floor_rows_per_second": round(bare.n / bare.seconds),
            "into_store_rows_per_second": round(pulled.n / pulled.seconds),
            "into_store_times_floor": round(pulled.seconds / bare.seconds, 2),
            "load_average": [round(x, 1) for x in os.getloadavg()],
        }
    )
    sandbox.drop_login(login)
    sandbox.close()


if __name__ == "__main__":
    main()
