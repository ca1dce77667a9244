"""Reading GP's Receivables tables: full passes by primary key, incremental reads by ``DEX_ROW_TS``.

A stream reads one or two tables (documents: the open table RM20101, then history RM30101) through
keyset paging. Per table the cursor holds a mode:

- **full**: every row in primary-key order, from ``pos`` (the last key read). It starts with the
  server's clock (``started``); the incremental reads after it start at ``started - overlap``, and
  the rows already delivered at or after that point are remembered (``seen``) so they are not
  delivered twice.
- **incremental**: rows with ``DEX_ROW_TS >= floor``, in (``DEX_ROW_TS``, primary key) order, from
  ``pos``. A row whose stamp equals the one remembered in ``seen`` was delivered before and is
  skipped. When the table is read to its end, ``floor`` moves to the newest stamp delivered less
  the overlap, and ``seen`` keeps what lies after the new floor.

Every ``reconcile_every_hours`` a stream is read in full again: the applications (RM20201,
RM30201) have no timestamp and are read with their apply-from document, so an application changed
without its document being stamped (a direct SQL edit, a dropped ``DEX_ROW_TS`` trigger) is caught
at the latest then.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.base import BadRecordError, Cursor, Page, Reject
from connectors.dynamics_gp import schema as gp
from connectors.odbc import (
    OMIT,
    Database,
    KeysetQuery,
    RowMapper,
    dump_position,
    load_position,
    utc,
)
from mapping.bulk import paused_gc
from mapping.fieldmap import FieldMap, MappingError, register_transform
from mapping.models import (
    Allocation,
    DocumentStatus,
    PaymentStatus,
    Record,
    Stream,
    TargetType,
)

__all__ = ["GpReader", "doc_id", "gp_date", "parse_doc_id"]

BLANK_DATE = date(1900, 1, 1)
# The most rows remembered per table to drop repeats inside the overlap; past it, a repeat is
# delivered again (the store sees an unchanged record and does nothing with it).
SEEN_MAX = 20_000
_NO_CREDIT = Decimal(0)
# A document's canonical status by case: voided, nothing remaining, part remaining, all remaining.
_DOCUMENT_STATES = (
    DocumentStatus.VOID,
    DocumentStatus.PAID,
    DocumentStatus.PARTIALLY_PAID,
    DocumentStatus.OPEN,
)
_PAYMENT_STATES = (
    PaymentStatus.VOID,
    PaymentStatus.APPLIED,
    PaymentStatus.PARTIALLY_APPLIED,
    PaymentStatus.UNAPPLIED,
)


def gp_date(value: Any) -> date | None:
    """A GP date column as a date: GP stores dates as ``datetime`` and a blank one as 1900-01-01."""
    if type(value) is datetime:
        value = value.date()
        return None if value <= BLANK_DATE else value
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if not isinstance(value, date):
        raise ValueError(f"not a date: {value!r}")
    return None if value <= BLANK_DATE else value


register_transform("gp_date", gp_date)


def doc_id(doc_type: int, number: str) -> str:
    """A document's ``remote_id``: its type and number (GP's numbers are unique per type)."""
    return f"{int(doc_type)}:{number.rstrip()}"


def parse_doc_id(remote_id: str) -> tuple[int, str]:
    """``"1:STDINV2001"`` → (1, "STDINV2001").

    Raises:
        ValueError: not a GP document id.
    """
    head, sep, number = remote_id.partition(":")
    if not sep or not head.isdigit() or not number:
        raise ValueError(f"{remote_id!r} is not a GP document id (expected TYPE:NUMBER, e.g. 1:STDINV2001)")
    return int(head), number


def _iso(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(timespec="microseconds")


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Source:
    """One table a stream reads, with the predicate selecting the stream's rows."""

    table: str
    columns: tuple[str, ...]
    where: tuple[str, ...] = ()
    params: tuple[Any, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return gp.KEYS[self.table]


class _TableState:
    """The cursor's part for one table (see the module's docstring)."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self.mode: str = data.get("mode", "full")
        self.pos = load_position(data.get("pos"))
        self.floor = _time(data.get("floor"))
        self.started = _time(data.get("started"))
        self.old_seen: dict[str, str] = dict(data.get("old_seen") or {})
        self.seen: dict[str, str] = dict(data.get("seen") or {})
        self.newest = _time(data.get("newest"))

    def dump(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "pos": dump_position(self.pos),
            "floor": _iso(self.floor) if self.floor else None,
            "started": _iso(self.started) if self.started else None,
            "old_seen": self.old_seen,
            "seen": self.seen,
            "newest": _iso(self.newest) if self.newest else None,
        }


class GpReader:
    """Reads one stream's tables page by page into canonical records.

    Args:
        db: the company database.
        schema: the schema of GP's tables.
        fieldmap: the connector's mapping with the admin's overrides.
        page_size: rows per query.
        overlap: how far behind the newest stamp incremental reads look.
        reconcile_every: how often a stream is read in full (None: never).
    """

    def __init__(
        self,
        db: Database,
        schema: str,
        fieldmap: FieldMap,
        *,
        page_size: int,
        overlap: timedelta,
        reconcile_every: timedelta | None,
    ) -> None:
        self.db = db
        self.schema = schema
        self.page_size = page_size
        self.overlap = overlap
        self.reconcile_every = reconcile_every
        self.mappers = {stream: RowMapper(fieldmap, stream) for stream in Stream}

    # -- sources -----------------------------------------------------------------------------

    def sources(self, stream: Stream) -> list[Source]:
        q = self.db.dialect.quote
        if stream is Stream.CUSTOMERS:
            return [Source(gp.CUSTOMER_TABLE, gp.CUSTOMER_COLUMNS)]
        types = gp.DOC_TYPES[stream]
        where = f"{q('RMDTYPAL')} IN ({', '.join('?' for _ in types)})"
        return [Source(table, gp.DOCUMENT_COLUMNS, (where,), types) for table in gp.DOCUMENT_TABLES]

    def server_now(self) -> datetime:
        """The server's UTC clock (naive, as ``DEX_ROW_TS`` holds it)."""
        value = self.db.scalar(self.db.dialect.utc_now(), what="reading the server's clock")
        return (
            value.replace(tzinfo=None) if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        )

    # -- reading -----------------------------------------------------------------------------

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of ``stream`` after ``cursor``; every page's cursor is resumable."""
        sources = self.sources(stream)
        state = json.loads(cursor.value) if cursor is not None else {}
        tables = {s.table: _TableState((state.get("tables") or {}).get(s.table)) for s in sources}
        current = int(state.get("current", 0))
        reconciled = _time(state.get("reconciled"))
        now = self.server_now()
        fresh = cursor is None
        due = (
            self.reconcile_every is not None
            and current == 0
            and all(t.pos is None for t in tables.values())
            and (reconciled is None or now - reconciled >= self.reconcile_every)
        )
        if fresh or due:
            reconciled = now
            for t in tables.values():
                # A full pass delivers every row again, stamped or not: the store keeps what did
                # not change and takes what did (an application changed without a stamp, say).
                t.mode, t.pos, t.started = "full", None, now
                t.old_seen, t.seen = {}, {}

        def snapshot(index: int) -> Cursor:
            return Cursor(
                json.dumps(
                    {
                        "v": 1,
                        "current": index,
                        "reconciled": _iso(reconciled) if reconciled else None,
                        "tables": {name: t.dump() for name, t in tables.items()},
                    },
                    separators=(",", ":"),
                )
            )

        pending: Page | None = None
        for index in range(current, len(sources)):
            source = sources[index]
            table = tables[source.table]
            if table.mode == "inc" and table.pos is None:
                # A new incremental pass: what the last one delivered filters this one's repeats.
                table.old_seen, table.seen, table.newest = table.seen, {}, None
            finished = False
            for rows, last, position in self._pages(source, table):
                records, rejects = self._map_page(stream, source, table, rows)
                table.pos = position
                if last:
                    self._finish(table)
                    finished = True
                page = Page(stream, records, snapshot(index + 1 if last else index), rejects, api_calls=1)
                if pending is not None:
                    yield pending
                pending = page
            if not finished:
                # Nothing (more) to read in this table: its pass is over all the same.
                self._finish(table)
        final = snapshot(0)
        if pending is not None:
            yield Page(stream, pending.records, final, pending.rejects, api_calls=pending.api_calls)
        elif cursor is None or final.value != cursor.value:
            yield Page(stream, [], final, [], api_calls=0)

    def _pages(self, source: Source, table: _TableState) -> Iterator[tuple[list[Any], bool, Any]]:
        """Pages of rows, each with a flag on the table's last one and the position after it."""
        if table.mode == "full":
            query = KeysetQuery(
                (self.schema, source.table),
                source.columns,
                source.key,
                where=source.where,
                params=source.params,
            )
            start = None
        else:
            keys = ("DEX_ROW_TS", *source.key)
            query = KeysetQuery(
                (self.schema, source.table),
                source.columns,
                keys,
                kinds=("datetime",) + ("",) * len(source.key),
                where=source.where,
                params=source.params,
            )
            dialect = self.db.dialect
            floor = table.floor
            start = (
                (f"{dialect.quote('DEX_ROW_TS')} >= {dialect.param('datetime')}", [floor]) if floor else None
            )
        pages = query.pages(
            self.db, self.page_size, table.pos, start=start, what=f"reading {source.table}", read_ahead=True
        )
        pending: list[Any] | None = None
        for rows in pages:
            if pending is not None:
                yield pending, False, query.position_of(pending[-1])
            pending = rows
        if pending is not None:
            yield pending, True, query.position_of(pending[-1])

    def _finish(self, table: _TableState) -> None:
        """The table was read to its end: set up the next incremental read."""
        if table.mode == "full":
            assert table.started is not None
            table.floor = table.started - self.overlap
        elif table.newest is not None:
            table.floor = max(table.floor or table.newest, table.newest - self.overlap)
        table.mode, table.pos, table.old_seen = "inc", None, {}
        if table.floor is not None:
            floor = _iso(table.floor)
            table.seen = {k: v for k, v in table.seen.items() if v >= floor}
        if len(table.seen) > SEEN_MAX:
            table.seen = dict(sorted(table.seen.items(), key=lambda kv: kv[1])[-SEEN_MAX:])

    def fetch(self, stream: Stream, remote_id: str) -> Record | None:
        """One record by its id, read now (open documents before history), or None."""
        dialect = self.db.dialect
        q = dialect.quote
        params: list[Any]
        if stream is Stream.CUSTOMERS:
            where, params = [f"{q('CUSTNMBR')} = ?"], [remote_id]
        else:
            try:
                doc_type, number = parse_doc_id(remote_id)
            except ValueError:
                return None
            if doc_type not in gp.DOC_TYPES[stream]:
                return None
            where, params = [f"{q('RMDTYPAL')} = ?", f"{q('DOCNUMBR')} = ?"], [doc_type, number]
        mapper = self.mappers[stream]
        for source in self.sources(stream):
            sql = dialect.select(source.columns, dialect.table(self.schema, source.table), where=where)
            rows = self.db.query(sql, params, what=f"reading {source.table}")
            if rows:
                row = mapper.row(source.columns, rows[0])
                [result] = self._records(stream, source.table, [self._remote_id(stream, row)], [row])
                if isinstance(result, MappingError):
                    raise BadRecordError(str(result)) from result
                return result
        return None

    # -- rows into records ---------------------------------------------------------------------

    def _map_page(
        self, stream: Stream, source: Source, table: _TableState, rows: Sequence[Any]
    ) -> tuple[list[Record], list[Reject]]:
        with paused_gc():
            return self._map_rows(stream, source, table, rows)

    def _map_rows(
        self, stream: Stream, source: Source, table: _TableState, rows: Sequence[Any]
    ) -> tuple[list[Record], list[Reject]]:
        mapper = self.mappers[stream]
        columns = source.columns
        ts_index = columns.index("DEX_ROW_TS")
        full = table.mode == "full"
        keep_after = table.started - self.overlap if full and table.started else None
        old_seen = table.old_seen
        seen = table.seen
        dicts = []
        for row in mapper.rows(columns, rows):
            stamp = row["DEX_ROW_TS"]
            rid = self._remote_id(stream, row)
            if old_seen and old_seen.get(rid) == _iso(stamp):
                # Delivered by an earlier read and unchanged since: remembered, not delivered again.
                seen[rid] = _iso(stamp)
                continue
            if full:
                if keep_after is not None and stamp >= keep_after:
                    seen[rid] = _iso(stamp)
            else:
                seen[rid] = _iso(stamp)
                if table.newest is None or stamp > table.newest:
                    table.newest = stamp
            dicts.append((rid, row))
        if table.mode != "full" and rows:
            # Stamps before the page's last one will not come again in this read.
            last = _iso(rows[-1][ts_index])
            table.old_seen = {k: v for k, v in table.old_seen.items() if v >= last}
            if table.newest is not None:
                horizon = _iso(table.newest - self.overlap)
                if len(table.seen) > SEEN_MAX:
                    table.seen = {k: v for k, v in table.seen.items() if v >= horizon}
        ids = [rid for rid, _ in dicts]
        kept = [row for _, row in dicts]
        records: list[Record] = []
        rejects: list[Reject] = []
        for rid, row, result in zip(ids, kept, self._records(stream, source.table, ids, kept), strict=True):
            if isinstance(result, MappingError):
                rejects.append(
                    Reject(stream, rid, result.path or result.field, result.reason, _jsonable(row))
                )
            else:
                records.append(result)
        return records, rejects

    @staticmethod
    def _remote_id(stream: Stream, row: dict[str, Any]) -> str:
        if stream is Stream.CUSTOMERS:
            return str(row["CUSTNMBR"])
        return doc_id(row["RMDTYPAL"], row["DOCNUMBR"])

    def _records(
        self, stream: Stream, table: str, ids: Sequence[str], rows: Sequence[dict[str, Any]]
    ) -> list[Record | MappingError]:
        """The page's rows as validated records (or the error of each row that is not one)."""
        if not rows:
            return []
        allocations = self._allocations(stream, rows)
        computed = (
            self._customer_fields(ids, rows)
            if stream is Stream.CUSTOMERS
            else self._document_fields(stream, table, ids, rows, allocations)
        )
        return self.mappers[stream].records(rows, computed)

    @staticmethod
    def _common_fields(ids: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
        # One time for the page's records: read together, and the store formats one time, not each.
        seen_at = datetime.now(UTC)
        return {
            "remote_id": list(ids),
            "remote_modified_at": [utc(row["DEX_ROW_TS"]) for row in rows],
            "seen_at": [seen_at] * len(rows),
            "version": [version_of(row) for row in rows],
            "raw": list(rows),
        }

    def _customer_fields(self, ids: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
        computed = self._common_fields(ids, rows)
        # CRLMTTYP: 0 no credit, 1 unlimited, 2 an amount.
        computed["credit_limit"] = [
            row["CRLMTAMT"] if row.get("CRLMTTYP") == 2 else _NO_CREDIT if row.get("CRLMTTYP") == 0 else OMIT
            for row in rows
        ]
        computed["raw_status"] = [
            ("inactive" if row.get("INACTIVE") else "active") + (", on hold" if row.get("HOLD") else "")
            for row in rows
        ]
        # GP's hold stops new sales to the customer; collections go on.
        computed["tags"] = [["on hold"] if row.get("HOLD") else OMIT for row in rows]
        return computed

    def _document_fields(
        self,
        stream: Stream,
        table: str,
        ids: Sequence[str],
        rows: Sequence[dict[str, Any]],
        allocations: dict[str, list[Allocation]],
    ) -> dict[str, list[Any]]:
        computed = self._common_fields(ids, rows)
        history = " (history)" if table == "RM30101" else ""
        voided = [bool(row.get("VOIDSTTS")) for row in rows]
        names: dict[tuple[Any, bool], str] = {}
        raw_status = []
        for row, void in zip(rows, voided, strict=True):
            kind = (row["RMDTYPAL"], void)
            text = names.get(kind)
            if text is None:
                doc_type = int(kind[0])
                name = gp.TYPE_NAMES.get(doc_type, str(doc_type))
                text = names[kind] = f"{name}{history}{', voided' if void else ''}"
            raw_status.append(text)
        computed["deleted"] = voided
        computed["raw_status"] = raw_status
        states: tuple[Any, ...] = _PAYMENT_STATES if stream is Stream.PAYMENTS else _DOCUMENT_STATES
        gone, done, part, untouched = states
        computed["status"] = [
            gone
            if is_void
            else done
            if (remaining := row["CURTRXAM"]) == 0
            else part
            if remaining < row["ORTRXAMT"]
            else untouched
            for row, is_void in zip(rows, voided, strict=True)
        ]
        if stream in (Stream.PAYMENTS, Stream.CREDIT_MEMOS):
            computed["allocations"] = [allocations.get(rid, []) for rid in ids]
        if stream is Stream.PAYMENTS:
            computed["payer_name"] = [None] * len(rows)
        return computed

    def _allocations(self, stream: Stream, rows: Sequence[dict[str, Any]]) -> dict[str, list[Allocation]]:
        """The applications of a page's payments or credit memos, from the open and history apply tables."""
        if stream not in (Stream.PAYMENTS, Stream.CREDIT_MEMOS) or not rows:
            return {}
        dialect = self.db.dialect
        q = dialect.quote
        by_type: dict[int, list[str]] = {}
        for row in rows:
            by_type.setdefault(int(row["RMDTYPAL"]), []).append(str(row["DOCNUMBR"]))
        out: dict[str, list[Allocation]] = {}
        for table in gp.APPLY_TABLES:
            for doc_type, numbers in by_type.items():
                for i in range(0, len(numbers), 500):
                    chunk = numbers[i : i + 500]
                    sql = dialect.select(
                        gp.APPLY_COLUMNS,
                        dialect.table(self.schema, table),
                        where=[
                            f"{q('APFRDCTY')} = ?",
                            f"{q('APFRDCNM')} IN ({', '.join('?' for _ in chunk)})",
                        ],
                        order_by=gp.KEYS[table],
                    )
                    for values in self.db.query(sql, [doc_type, *chunk], what=f"reading {table}"):
                        apply = dict(zip(gp.APPLY_COLUMNS, values, strict=True))
                        to_type = int(apply["APTODCTY"])
                        if to_type not in gp.DOC_TYPES[Stream.INVOICES]:
                            continue
                        discount, writeoff = apply["DISTKNAM"], apply["WROFAMNT"]
                        out.setdefault(doc_id(doc_type, str(apply["APFRDCNM"])), []).append(
                            Allocation(
                                target_type=TargetType.INVOICE,
                                target_id=doc_id(to_type, str(apply["APTODCNM"])),
                                amount=apply["APPTOAMT"],
                                discount=discount or None,
                                writeoff=writeoff or None,
                                applied_date=gp_date(apply["DATE1"]),
                            )
                        )
        return out


def version_of(row: dict[str, Any]) -> str:
    """A row's version: a digest of the columns read, so any change to them is a new version.

    ``DEX_ROW_TS`` alone would miss a change made while GP's trigger is missing. The row's columns
    come in the order of the statement that read them (the same lists for reads and writes).
    """
    return hashlib.blake2b("\x1f".join(map(str, row.values())).encode(), digest_size=10).hexdigest()


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime | date):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal):
            out[key] = str(value)
        else:
            out[key] = value
    return out
