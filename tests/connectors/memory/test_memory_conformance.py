"""The memory connector passes the conformance kit."""

from __future__ import annotations

import itertools
from pathlib import Path

from pydantic import SecretStr

from connectors.base import Connector, ConnectorContext
from connectors.conformance import ConformanceTarget, conformance_tests
from connectors.memory import MemoryConnector, MemoryErp
from connectors.memory.data import remote_id
from mapping.models import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType

SENTINEL = "sk-live-SENTINEL-7f3e9b21"
_numbers = itertools.count()


class MemoryTarget(ConformanceTarget):
    """A small generated company, with an API key the connector must keep to itself."""

    connector_name = "memory"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.erp_name = f"conformance-{next(_numbers)}"
        self.settings = {
            "erp": self.erp_name,
            "customers": 12,
            "invoices": 40,
            "credit_memos": 9,
            "payments": 15,
            "seed": 11,
            "page_size": 7,
            "api_key": SecretStr(SENTINEL),
        }
        self.touches = 0

    @property
    def erp(self) -> MemoryErp:
        return MemoryConnector.erps[self.erp_name]

    def make_connector(self) -> Connector:
        connector = MemoryConnector.create(self.settings, ConnectorContext("conformance"))
        if self.erp.api_key is None and not self.erp.auth_rejected:
            self.erp.api_key = SENTINEL
        return connector

    def existing_ids(self, stream: Stream) -> set[str]:
        return {remote_id(stream, i) for i in range(self.erp.total(stream))}

    def change_records(self, stream: Stream, n: int) -> list[str]:
        self.touches += 1
        return self.erp.touch(stream, n, seed=self.touches)

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        # Two pages and a bit, all at one instant (touch changes a batch at one time).
        self.touches += 1
        return self.erp.touch(stream, min(self.erp.total(stream), 2 * 7 + 1), seed=self.touches)

    def delete_record(self, stream: Stream) -> str:
        victim = remote_id(stream, 2)
        self.erp.delete(stream, victim)
        return victim

    def throttle(self, retry_after: int) -> int | None:
        self.erp.throttled_for = float(retry_after)
        return retry_after

    def sample_operation(self) -> Operation:
        return CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id="I0000004",
            collection_status=CollectionStatus.REMINDED,
            dunning_level=1,
        )

    def effects(self, key: str) -> int:
        return self.erp.applied_count[key]

    def make_stale(self, op: Operation) -> None:
        self.erp.make_stale(op.target_type, op.target_id)

    def secrets(self) -> list[str]:
        return [SENTINEL]

    def reject_auth(self) -> None:
        self.erp.auth_rejected = True

    def cleanup(self) -> None:
        MemoryConnector.erps.pop(self.erp_name, None)


TestMemoryConformance = conformance_tests(MemoryTarget)
