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

    def _ids(self, stream: Stream) -> list[str]:
        with open(self.folder / DEFAULT_FILES[stream], encoding="utf-8", newline="") as fh:
            return [row["id"] for row in csv.DictReader(fh)]

    def _edit(self, stream: Stream, ids: list[str], **cells: str) -> list[str]:
        self.edits += 1
        when = (datetime(2024, 4, 1, tzinfo=UTC) + timedelta(minutes=self.edits)).isoformat()
        return edit_rows(
            self.folder / DEFAULT_FILES[stream],
            ids,
            lambda row: {"modified_at": when, "version": str(int(row.get("version") or 0) + 1), **cells},
        )

    def existing_ids(self, stream: Stream) -> set[str]:
        return set(self._ids(stream))

    def change_records(self, stream: Stream, n: int) -> list[str]:
        return self._edit(stream, self._ids(stream)[:n])

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        ids = self._ids(stream)
        if len(ids) <= 3:
            raise NotImplementedError  # the export has fewer rows than a page holds
        return self._edit(stream, ids)  # one edit, one modified_at for every row

    def delete_record(self, stream: Stream) -> str:
        victim = self._ids(stream)[1]
        self._edit(stream, [victim], deleted="true")
        return victim

    def break_record(self, stream: Stream) -> tuple[str, str]:
        column = {
            Stream.CUSTOMERS: "credit_limit",
            Stream.INVOICES: "total",
            Stream.CREDIT_MEMOS: "total",
            Stream.PAYMENTS: "amount",
        }[stream]
        victim = self._ids(stream)[0]
        self._edit(stream, [victim], **{column: "twelve dollars"})
        return victim, column

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
