"""With no faults configured, the faulty connector is a transparent wrapper: it passes the kit."""

from __future__ import annotations

import itertools
from pathlib import Path

from pydantic import SecretStr

from connectors.base import Connector, ConnectorContext
from connectors.conformance import ConformanceTarget, conformance_tests
from connectors.faulty import FaultyConnector
from connectors.memory import MemoryConnector
from connectors.memory.data import remote_id
from mapping.models import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType

SENTINEL = "sk-live-SENTINEL-wrapped-5d1c"
_numbers = itertools.count()


class FaultyOverMemoryTarget(ConformanceTarget):
    connector_name = "faulty"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.erp_name = f"faulty-conformance-{next(_numbers)}"
        self.inner = {
            "erp": self.erp_name,
            "customers": 8,
            "invoices": 25,
            "credit_memos": 3,
            "payments": 9,
            "page_size": 6,
            "api_key": SecretStr(SENTINEL),
        }
        self.touches = 0

    def make_connector(self) -> Connector:
        settings = {"inner": {"connector": "memory", "settings": dict(self.inner)}, "seed": 1}
        connector = FaultyConnector.create(settings, ConnectorContext(self.erp_name))
        erp = MemoryConnector.erps[self.erp_name]
        if erp.api_key is None:
            erp.api_key = SENTINEL
        return connector

    def existing_ids(self, stream: Stream) -> set[str]:
        erp = MemoryConnector.erps[self.erp_name]
        return {remote_id(stream, i) for i in range(erp.total(stream))}

    def change_records(self, stream: Stream, n: int) -> list[str]:
        self.touches += 1
        return MemoryConnector.erps[self.erp_name].touch(stream, n, seed=self.touches)

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        erp = MemoryConnector.erps[self.erp_name]
        if erp.total(stream) <= 6:
            raise NotImplementedError  # fewer records than a page holds
        self.touches += 1
        return erp.touch(stream, erp.total(stream), seed=self.touches)

    def delete_record(self, stream: Stream) -> str:
        victim = remote_id(stream, 1)
        MemoryConnector.erps[self.erp_name].delete(stream, victim)
        return victim

    def throttle(self, retry_after: int) -> int | None:
        MemoryConnector.erps[self.erp_name].throttled_for = float(retry_after)
        return retry_after

    def sample_operation(self) -> Operation:
        return CollectionStatusUpdate(
            target_type=TargetType.INVOICE, target_id="I0000002", collection_status=CollectionStatus.ON_HOLD
        )

    def effects(self, key: str) -> int:
        return MemoryConnector.erps[self.erp_name].applied_count[key]

    def make_stale(self, op: Operation) -> None:
        MemoryConnector.erps[self.erp_name].make_stale(op.target_type, op.target_id)

    def secrets(self) -> list[str]:
        return [SENTINEL]

    def reject_auth(self) -> None:
        MemoryConnector.erps[self.erp_name].auth_rejected = True

    def cleanup(self) -> None:
        MemoryConnector.erps.pop(self.erp_name, None)
        FaultyConnector.states.pop(self.erp_name, None)


TestFaultyOverMemoryConformance = conformance_tests(FaultyOverMemoryTarget)
