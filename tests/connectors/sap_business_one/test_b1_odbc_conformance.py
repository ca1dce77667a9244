"""The conformance kit against the fast read: B1's tables over ODBC, writes through the Service Layer.

The sandbox company is copied into B1's table layout in PostgreSQL after every change the kit
makes, as B1 would have stored it; the connector reads it through a read-only SQL login and the
PostgreSQL ODBC driver.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.dynamics_gp.gp_support import odbc_missing

if odbc_missing() and not os.environ.get("CI"):
    pytest.skip(str(odbc_missing()), allow_module_level=True)

from connectors.conformance import conformance_tests
from connectors.sap_business_one import SapBusinessOneConnector
from mapping.models import Stream
from sandboxes.sap_business_one.database import B1Database
from tests.conftest import SPECS
from tests.connectors.sap_business_one.b1_target import SETS, SapBusinessOneTarget, connector_for
from tests.connectors.sap_business_one.test_b1_odbc_read import B1_DATABASE


class SapBusinessOneOdbcTarget(SapBusinessOneTarget):
    """The Service Layer target, read through B1's tables."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.db = B1Database(database=B1_DATABASE, schema=f"b1c_{uuid.uuid4().hex[:12]}", specs=SPECS)
        self.db.create(self.sandbox.company)
        self.login = self.db.create_login()

    def make_connector(self) -> SapBusinessOneConnector:
        return connector_for(
            self.sandbox,
            self.state,
            page_size=3,
            read_via="odbc",
            odbc={"connection_string": self.db.connection_string(user=self.login), "schema": self.db.schema},
        )

    def _change(self, stream: Stream, keys: list[Any], when: Any = None) -> list[str]:
        changed = super()._change(stream, keys, when)
        self.db.load(self.sandbox.company)
        return changed

    def delete_record(self, stream: Stream) -> str:
        deleted = super().delete_record(stream)
        self.db.load(self.sandbox.company)
        return deleted

    def break_record(self, stream: Stream) -> tuple[str, str]:
        # B1's typed columns cannot hold a malformed date: what breaks a row there is a value
        # the record needs and the row lacks.
        key = self._keys(stream)[0]
        if stream is Stream.CUSTOMERS:
            self.sandbox.touch("BusinessPartners", key, CardName=None)
            broken = "CardName"
        elif stream is Stream.PAYMENTS:
            self.sandbox.company.tables["IncomingPayments"][key]["DocDate"] = None
            self.sandbox.company.cancel_payment(key)
            broken = "DocDate"
        else:
            self.sandbox.touch(SETS[stream], key, CardCode=None)
            broken = "CardCode"
        self.db.load(self.sandbox.company)
        return str(key), broken

    def throttle(self, retry_after: int) -> int | None:
        # The database refuses new connections as a server at its limit does; the Service Layer,
        # which takes the writes, is busy too.
        self.sandbox.busy_for(3600, retry_after)
        self.db.execute(f'ALTER ROLE "{self.login}" CONNECTION LIMIT 0')
        self.db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?", self.login
        )
        return None

    def reject_auth(self) -> None:
        super().reject_auth()
        self.db.execute(f'ALTER ROLE "{self.login}" NOLOGIN')
        self.db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?", self.login
        )

    def cleanup(self) -> None:
        try:
            self.db.drop()
            self.db.close()
        finally:
            super().cleanup()


TestSapBusinessOneOdbcConformance = conformance_tests(SapBusinessOneOdbcTarget)
