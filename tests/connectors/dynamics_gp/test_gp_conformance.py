"""The conformance kit against the Dynamics GP connector and a GP company reached over real ODBC."""

from __future__ import annotations

from pathlib import Path

from connectors.base import Connector
from connectors.conformance import ConformanceTarget, conformance_tests
from mapping.models import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType
from tests.connectors.dynamics_gp.conftest import connector_for
from tests.connectors.dynamics_gp.gp_support import SENTINEL_PASSWORD, new_sandbox

TYPES = {
    Stream.INVOICES: (1, 3, 4, 5, 6),
    Stream.CREDIT_MEMOS: (7, 8),
    Stream.PAYMENTS: (9,),
}
CUSTOMER = "AARONFIT0001"


class GpTarget(ConformanceTarget):
    connector_name = "dynamics-gp"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.sandbox = new_sandbox("demo")
        self.login = self.sandbox.create_login()

    def make_connector(self) -> Connector:
        # Four rows a page: every stream of the demo company spans several pages.
        return connector_for(self.sandbox, self.login, page_size=4)

    def _documents(self, stream: Stream, table: str) -> list[str]:
        marks = ", ".join("?" for _ in TYPES[stream])
        rows = self.sandbox.rows(
            f'SELECT "RMDTYPAL", "DOCNUMBR" FROM {self.sandbox.t(table)} WHERE "RMDTYPAL" IN ({marks}) '
            'ORDER BY "DOCNUMBR"',
            *TYPES[stream],
        )
        return [f"{t}:{n.rstrip()}" for t, n in rows]

    def existing_ids(self, stream: Stream) -> set[str]:
        if stream is Stream.CUSTOMERS:
            return {c for (c,) in self.sandbox.ids("RM00101")}
        return set(self._documents(stream, "RM20101")) | set(self._documents(stream, "RM30101"))

    def _update(self, stream: Stream, ids: list[str], assignment: str) -> None:
        # One statement: GP's trigger stamps every row it changes with the same DEX_ROW_TS.
        if stream is Stream.CUSTOMERS:
            marks = ", ".join("?" for _ in ids)
            self.sandbox.execute(
                f'UPDATE {self.sandbox.t("RM00101")} SET {assignment} WHERE "CUSTNMBR" IN ({marks})', *ids
            )
            return
        pairs = [i.split(":", 1) for i in ids]
        where = " OR ".join('("RMDTYPAL" = ? AND "DOCNUMBR" = ?)' for _ in pairs)
        self.sandbox.execute(
            f"UPDATE {self.sandbox.t('RM20101')} SET {assignment} WHERE {where}",
            *[v for t, n in pairs for v in (int(t), n)],
        )

    def _open(self, stream: Stream) -> list[str]:
        if stream is Stream.CUSTOMERS:
            return sorted(c for (c,) in self.sandbox.ids("RM00101"))
        return self._documents(stream, "RM20101")

    def change_records(self, stream: Stream, n: int) -> list[str]:
        ids = self._open(stream)[:n]
        column = "COMMENT2" if stream is Stream.CUSTOMERS else "TRXDSCRN"
        self._update(stream, ids, f"\"{column}\" = 'changed by a user'")
        return ids

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        ids = self._open(stream)
        assert len(ids) > 4, f"the demo company has only {len(ids)} open {stream.value}"
        column = "COMMENT1" if stream is Stream.CUSTOMERS else "TRXDSCRN"
        self._update(stream, ids, f"\"{column}\" = 'batch update'")
        return ids

    def delete_record(self, stream: Stream) -> str:
        if stream is Stream.CUSTOMERS:
            # GP deletes only a customer without a single document, and the row then vanishes:
            # no stamp, no log among GP's tables. Such a customer has nothing to collect.
            raise NotImplementedError
        victim = self._documents(stream, "RM20101")[0]
        doc_type, number = victim.split(":", 1)
        self.sandbox.void(int(doc_type), number)
        return victim

    def break_record(self, stream: Stream) -> tuple[str, str]:
        # A currency ID nobody mapped to an ISO code: GP lets an admin create any.
        victim = self._open(stream)[0]
        self._update(stream, [victim], "\"CURNCYID\" = 'Z-XYZ'")
        return victim, "CURNCYID"

    def throttle(self, retry_after: int) -> int | None:
        # A database server has no Retry-After; it refuses new connections when it is full.
        self.sandbox.limit_connections(self.login, 0)
        return None

    def sample_operation(self) -> Operation:
        return CollectionStatusUpdate(
            target_type=TargetType.CUSTOMER,
            target_id=CUSTOMER,
            collection_status=CollectionStatus.ESCALATED,
            dunning_level=2,
        )

    def effects(self, key: str) -> int:
        return self.sandbox.calls(key, "taUpdateCreateCustomerRcd")

    def make_stale(self, op: Operation) -> None:
        self._update(Stream.CUSTOMERS, [op.target_id], "\"PHONE2\" = '42555509990000'")

    def secrets(self) -> list[str]:
        return [SENTINEL_PASSWORD]

    def reject_auth(self) -> None:
        self.sandbox.refuse_logins(self.login)

    def cleanup(self) -> None:
        self.sandbox.drop()
        self.sandbox.close()


TestGpConformance = conformance_tests(GpTarget)
