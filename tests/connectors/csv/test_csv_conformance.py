"""The CSV connector passes the conformance kit, with a folder of sample exports as its ERP."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.base import Connector, ConnectorContext
from connectors.conformance import ConformanceTarget, conformance_tests
from connectors.csv import CsvConnector
from connectors.csv.connector import DEFAULT_FILES, TARGET_STREAMS
from connectors.csv.sample import edit_rows, write_sample_exports
from mapping.models import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType


class CsvTarget(ConformanceTarget):
    """Harbor Lane Supplies' exports in a fresh folder; "the ERP" is whoever edits the files."""

    connector_name = "csv"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.folder = write_sample_exports(workdir / "exports")
        self.edits = 0

    def make_connector(self) -> Connector:
        return CsvConnector.create(
            {"folder": str(self.folder), "page_size": 3}, ConnectorContext("conformance")
        )

    def change_records(self, stream: Stream, n: int) -> list[str]:
        with open(self.folder / DEFAULT_FILES[stream], encoding="utf-8", newline="") as fh:
            ids = [row["id"] for row in csv.DictReader(fh)][:n]
        self.edits += 1
        when = (datetime(2024, 4, 1, tzinfo=UTC) + timedelta(minutes=self.edits)).isoformat()
        return edit_rows(
            self.folder / DEFAULT_FILES[stream],
            ids,
            lambda row: {"modified_at": when, "version": str(int(row.get("version") or 0) + 1)},
        )

    def sample_operation(self) -> Operation:
        return CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id="1007",
            collection_status=CollectionStatus.ESCALATED,
            dunning_level=3,
            reason="Sunrise Dental: 90 days overdue",
        )

    def effects(self, key: str) -> int:
        path = self.folder / "writeback.csv"
        if not path.exists():
            return 0
        with open(path, encoding="utf-8", newline="") as fh:
            return sum(1 for row in csv.reader(fh) if row and row[0] == key)

    def make_stale(self, op: Operation) -> None:
        edit_rows(
            self.folder / DEFAULT_FILES[TARGET_STREAMS[op.target_type]],
            [op.target_id],
            lambda row: {"version": str(int(row.get("version") or 0) + 1)},
        )


TestCsvConformance = conformance_tests(CsvTarget)
