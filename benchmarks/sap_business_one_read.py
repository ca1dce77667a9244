"""SAP Business One: the fast read over ODBC beside the Service Layer read, on one seeded company.

    python -m benchmarks.sap_business_one_read                      # 20,000 invoices, both reads
    python -m benchmarks.sap_business_one_read --invoices 200000 --no-service-layer

Needs PostgreSQL at 127.0.0.1:5432 (or ``--url``), unixODBC and the PostgreSQL ODBC driver, and the
vendor specs. The sandbox company (``large`` seed) is copied into B1's table layout in a schema of
its own, dropped afterwards. Figures, each its own line:

- ``b1_odbc_statements``: the fast read's statements alone (rows fetched and turned into Service
  Layer entities), the floor of the ODBC read;
- ``b1_odbc_read``: the connector's read of the invoices stream over ODBC (records built, nothing
  stored);
- ``b1_service_layer_read``: the same stream through the Service Layer sandbox (multipart-free
  GETs, ``Prefer: odata.maxpagesize``). The sandbox filters and sorts in Python for every page, so
  this measures the sandbox as much as the connector: it is no figure of a real Service Layer.
"""

from __future__ import annotations

import argparse
import os
import uuid

import pyodbc

from benchmarks.common import emit, measure
from connectors.base import ConnectorContext, MemoryKeyValueStore
from connectors.sap_business_one import SapBusinessOneConnector
from connectors.sap_business_one.watermark import stamp_of
from mapping.models import Stream
from sandboxes.sap_business_one import ServiceLayerSandbox
from sandboxes.sap_business_one.database import B1Database
from sandboxes.specs import SpecsNotFound


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invoices", type=int, default=20_000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/arbridge_b1_bench")
    parser.add_argument("--page-size", type=int, default=5_000)
    parser.add_argument("--no-service-layer", action="store_true", help="measure the ODBC read only")
    parser.add_argument("--specs", default=os.environ.get("ARBRIDGE_SPECS"))
    args = parser.parse_args(argv)

    try:
        with measure("b1_seed") as seeded:
            sandbox = ServiceLayerSandbox(
                seed="large", invoices=args.invoices, throttle=False, specs=args.specs
            )
            tables = B1Database.from_url(
                args.url, schema=f"b1_bench_{uuid.uuid4().hex[:8]}", specs=args.specs
            )
            tables.create(sandbox.company)
            seeded.n = args.invoices
    except (SpecsNotFound, pyodbc.Error, RuntimeError) as exc:
        emit({"name": "b1_read", "error": " ".join(str(exc).split())[:300]})
        raise SystemExit(2) from None
    sandbox.start()
    try:
        login = tables.create_login()
        base = {
            "service_url": sandbox.service_root,
            "company_db": sandbox.company_db,
            "username": sandbox.user,
            "password": sandbox.password,
            "page_size": args.page_size,
        }
        odbc = {
            **base,
            "read_via": "odbc",
            "odbc": {"connection_string": tables.connection_string(user=login), "schema": tables.schema},
        }

        def connector(settings: dict[str, object]) -> SapBusinessOneConnector:
            made = SapBusinessOneConnector.create(
                settings, ConnectorContext("bench", state=MemoryKeyValueStore())
            )
            assert isinstance(made, SapBusinessOneConnector)
            return made

        with measure("b1_odbc_statements") as floor:
            reader = connector(odbc)
            assert reader.sql is not None
            position = None
            while True:
                entities = reader.sql.changed(Stream.INVOICES, None, position, args.page_size)
                floor.n += len(entities)
                floor.api_calls += 1
                if len(entities) < args.page_size:
                    break
                position = stamp_of(entities[-1], "DocEntry")
            reader.close()

        with measure("b1_odbc_read") as read:
            reader = connector(odbc)
            for page in reader.read(Stream.INVOICES, None):
                read.n += len(page.records) + len(page.rejects)
                read.api_calls += page.api_calls
            reader.close()
            read.relative_to = floor.seconds

        if not args.no_service_layer:
            with measure("b1_service_layer_read") as served:
                reader = connector(base)
                for page in reader.read(Stream.INVOICES, None):
                    served.n += len(page.records) + len(page.rejects)
                    served.api_calls += page.api_calls
                reader.close()
                served.relative_to = read.seconds
        assert floor.n == read.n == args.invoices, f"read {read.n} of {floor.n} rows"
        emit(
            {"name": "b1_summary", "n": args.invoices, "load_average": [round(x, 1) for x in os.getloadavg()]}
        )
    finally:
        sandbox.stop()
        tables.drop()
        tables.close()


if __name__ == "__main__":
    main()
