"""A folder of CSV exports acting as the ERP: the reference connector of the SDK.

Reading streams each file row by row, so a million-row export never sits in memory. Writing
appends to one write-back CSV that the ERP (or a person) imports; the idempotency key is its first
column, which makes a retried or replayed write land at most once, across restarts too.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError

from connectors.base import (
    BadRecordError,
    Capabilities,
    CheckResult,
    ConflictError,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    OutboundOp,
    Page,
    PermanentError,
    Reject,
    WriteResult,
)
from mapping.fieldmap import FieldMap, MapFileError, MappingError, error_location, register_transform
from mapping.models import (
    RECORD_TYPES,
    DocumentStatus,
    OpType,
    PaymentStatus,
    Record,
    Stream,
    TargetType,
    utcnow,
)

try:  # POSIX only; elsewhere the connection lease is the only guard against two writers.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MAPPING_FILE = Path(__file__).with_name("mapping.yaml")

DEFAULT_FILES: dict[Stream, str] = {
    Stream.CUSTOMERS: "customers.csv",
    Stream.INVOICES: "invoices.csv",
    Stream.CREDIT_MEMOS: "credit_memos.csv",
    Stream.PAYMENTS: "payments.csv",
}

TARGET_STREAMS: dict[TargetType, Stream] = {
    TargetType.CUSTOMER: Stream.CUSTOMERS,
    TargetType.INVOICE: Stream.INVOICES,
    TargetType.CREDIT_MEMO: Stream.CREDIT_MEMOS,
    TargetType.PAYMENT: Stream.PAYMENTS,
}

WRITEBACK_COLUMNS = [
    "idempotency_key",
    "written_at",
    "op_type",
    "target_type",
    "target_id",
    "base_version",
    "reason",
    "payload",
]


# --------------------------------------------------------------------------------------------------
# Value parsing shared by the mapping file and the cursor.
# --------------------------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> datetime:
    """Parse an ISO 8601 date or datetime; a date-only or naive value is taken as UTC.

    Args:
        value: text such as ``2024-03-05T14:30:00+01:00``, ``2024-03-05 14:30:00Z`` or ``2024-03-05``.

    Raises:
        ValueError: the text is not an ISO 8601 date or datetime.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        if not text:
            raise ValueError("empty timestamp")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or datetime: {text!r}") from None
    if parsed.tzinfo is None or parsed.tzinfo.utcoffset(parsed) is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


_TARGET_PREFIXES = {"invoice": "invoice", "inv": "invoice", "credit_memo": "credit_memo", "cm": "credit_memo"}


def parse_allocations(value: Any) -> list[dict[str, Any]]:
    """Parse an ``allocations`` cell: ``[type:]target_id=amount[@YYYY-MM-DD]`` entries separated by ``;``.

    ``type`` is ``invoice`` (the default) or ``credit_memo``. Example:
    ``1001=450.00; credit_memo:CM-7=25.00@2024-03-02``.

    Raises:
        ValueError: an entry lacks ``=`` or its amount is not a number.
    """
    if value is None or isinstance(value, list):
        return value or []
    out: list[dict[str, Any]] = []
    for entry in str(value).split(";"):
        entry = entry.strip()
        if not entry:
            continue
        target, sep, rest = entry.partition("=")
        if not sep:
            raise ValueError(f"allocation {entry!r} is not 'target_id=amount'")
        target_type = "invoice"
        prefix, colon, ident = target.partition(":")
        if colon and prefix.strip().lower() in _TARGET_PREFIXES:
            target_type, target = _TARGET_PREFIXES[prefix.strip().lower()], ident
        amount_text, at, applied = rest.partition("@")
        try:
            amount = Decimal(amount_text.strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(
                f"allocation {entry!r}: amount {amount_text.strip()!r} is not a number"
            ) from None
        alloc: dict[str, Any] = {"target_type": target_type, "target_id": target.strip(), "amount": amount}
        if at:
            alloc["applied_date"] = date.fromisoformat(applied.strip())
        out.append(alloc)
    return out


def parse_decimal_comma(value: Any) -> Decimal | None:
    """Parse a number written with a decimal comma, as European exports do: ``1.234,50`` → 1234.50.

    Raises:
        ValueError: the text is not such a number.
    """
    if value is None or isinstance(value, Decimal):
        return value
    text = str(value).strip().replace(" ", "").replace("\u00a0", "").replace(".", "").replace(",", ".")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


register_transform("csv_timestamp", parse_timestamp)
register_transform("csv_decimal_comma", parse_decimal_comma)
register_transform("csv_allocations", parse_allocations)


def _id_order(remote_id: str) -> tuple[int, int, str]:
    # Numeric ids sort as numbers ("999" before "1001"), as ERP exports list them.
    return (0, int(remote_id), remote_id) if remote_id.isdigit() else (1, 0, remote_id)


SortKey = tuple[datetime, tuple[int, int, str]]


def _column(spec: Any) -> str | None:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping) and isinstance(spec.get("path"), str):
        return str(spec["path"])
    return None


# --------------------------------------------------------------------------------------------------
# Settings and the connector.
# --------------------------------------------------------------------------------------------------


class CsvSettings(ConnectorSettings):
    """Settings of a CSV connection.

    Attributes:
        folder: the folder holding the exports.
        writeback_file: where operations are appended (default ``<folder>/writeback.csv``).
        delimiter: the field separator of every file.
        encoding: the exports' text encoding; ``utf-8-sig`` also reads UTF-8 with a byte-order mark.
        page_size: rows per page.
        files: file name per stream when an export is not called ``<stream>.csv``.
    """

    folder: Path
    writeback_file: Path | None = None
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    page_size: int = Field(default=1000, ge=1, le=100_000)
    files: dict[Stream, str] = Field(default_factory=dict)


@dataclass
class _Row:
    line: int
    cells: dict[str, str]
    overflow: bool


class CsvConnector(Connector):
    """Reads the four exports of a folder; appends write-back operations to ``writeback.csv``."""

    name: ClassVar[str] = "csv"
    version: ClassVar[str] = "1.0.0"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset(Stream),
        write_ops=frozenset(OpType),
        page_max=100_000,
        batch_max=500,
        sorted_streams=frozenset(),
    )
    settings_model: ClassVar[type[ConnectorSettings]] = CsvSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, CsvSettings)
        self.config: CsvSettings = settings
        self.fieldmap = FieldMap.load(MAPPING_FILE, context.mapping_overrides)
        self._key_columns: dict[Stream, tuple[str, str, str | None]] = {}
        for stream in Stream:
            fields = self.fieldmap.fields(stream)
            id_col, ts_col = _column(fields.get("remote_id")), _column(fields.get("remote_modified_at"))
            if id_col is None or ts_col is None:
                raise MapFileError(
                    f"streams.{stream.value}: remote_id and remote_modified_at must each name one CSV column"
                )
            self._key_columns[stream] = (id_col, ts_col, _column(fields.get("version")))
        self._sorted_cache: dict[Path, tuple[tuple[int, int], bool]] = {}
        self._written_cache: tuple[tuple[int, int, int], dict[str, dict[str, str]]] | None = None

    # -- files -------------------------------------------------------------------------------

    @property
    def writeback_path(self) -> Path:
        """The write-back file this connection appends to."""
        return self.config.writeback_file or self.config.folder / "writeback.csv"

    def file_for(self, stream: Stream) -> Path:
        """The export file of ``stream``."""
        return self.config.folder / self.config.files.get(stream, DEFAULT_FILES[stream])

    def _rows(self, path: Path) -> Iterator[_Row]:
        try:
            fh = open(path, encoding=self.config.encoding, newline="")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise PermanentError(f"{path.name} is missing from {self.config.folder}") from None
        except OSError as exc:
            raise PermanentError(f"cannot open {path}: {exc.strerror}") from None
        with fh:
            reader = csv.DictReader(fh, delimiter=self.config.delimiter, restkey="\0overflow")
            try:
                for row in reader:
                    overflow = "\0overflow" in row
                    cells = {
                        k.strip(): v.strip()
                        for k, v in row.items()
                        if isinstance(k, str) and k != "\0overflow" and isinstance(v, str) and v.strip() != ""
                    }
                    yield _Row(reader.line_num, cells, overflow)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise PermanentError(f"{path.name} line {reader.line_num}: unreadable CSV: {exc}") from None

    # -- check -------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Verify the folder and every export exist, are readable and have their key columns."""
        folder = self.config.folder
        if not folder.is_dir():
            return CheckResult(
                False, f"folder {folder} does not exist or is not a folder", {"missing": [str(folder)]}
            )
        missing: list[str] = []
        problems: list[str] = []
        for stream in Stream:
            path = self.file_for(stream)
            if not path.is_file():
                missing.append(path.name)
                continue
            try:
                with open(path, encoding=self.config.encoding, newline="") as fh:
                    header = next(csv.reader(fh, delimiter=self.config.delimiter), [])
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                problems.append(f"{path.name} is not readable: {exc}")
                continue
            id_col, ts_col, _ = self._key_columns[stream]
            absent = [c for c in (id_col, ts_col) if c not in {h.strip() for h in header}]
            if absent:
                problems.append(f"{path.name} lacks the column(s) {', '.join(absent)}")
        target_dir = self.writeback_path.parent
        if not os.access(target_dir, os.W_OK):
            problems.append(f"cannot write the write-back file in {target_dir}")
        if missing:
            problems.insert(0, f"missing in {folder}: {', '.join(missing)}")
        if problems:
            return CheckResult(False, "; ".join(problems), {"missing": missing, "problems": problems})
        return CheckResult(True, f"all four exports found in {folder}", {"folder": str(folder)})

    # -- read --------------------------------------------------------------------------------

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Yield rows changed after ``cursor`` in pages of ``page_size`` rows.

        A file sorted by (modified_at, id) gives resumable cursors page by page; any other file is
        read in file order and only its last page carries a resumable cursor.
        """
        path = self.file_for(stream)
        after = self._parse_cursor(cursor)
        in_order = self._is_sorted(stream, path)
        pending: tuple[list[Record], list[Reject], SortKey | None] | None = None
        high = after
        for records, rejects, last in self._chunks(stream, path, after):
            if last is not None and (high is None or last > high):
                high = last
            if pending is not None:
                yield self._page(stream, pending, high if not in_order else pending[2], resumable=in_order)
            pending = (records, rejects, last if in_order else high)
        if pending is not None:
            yield self._page(stream, pending, high, resumable=True)

    def _page(
        self,
        stream: Stream,
        chunk: tuple[list[Record], list[Reject], SortKey | None],
        key: SortKey | None,
        *,
        resumable: bool,
    ) -> Page:
        records, rejects, _ = chunk
        return Page(stream, records, self._cursor(key, resumable) if key is not None else None, rejects)

    @staticmethod
    def _cursor(key: SortKey, resumable: bool) -> Cursor:
        when, (_, _, remote_id) = key
        return Cursor(json.dumps({"modified_at": when.isoformat(), "id": remote_id}), resumable=resumable)

    def _parse_cursor(self, cursor: Cursor | None) -> SortKey | None:
        if cursor is None:
            return None
        try:
            data = json.loads(cursor.value)
            return (parse_timestamp(data["modified_at"]), _id_order(str(data["id"])))
        except (ValueError, KeyError, TypeError):
            raise PermanentError(
                f"cursor {cursor.value[:80]!r} was not written by the csv connector"
            ) from None

    def _chunks(
        self, stream: Stream, path: Path, after: SortKey | None
    ) -> Iterator[tuple[list[Record], list[Reject], SortKey | None]]:
        id_col, ts_col, _ = self._key_columns[stream]
        records: list[Record] = []
        rejects: list[Reject] = []
        last: SortKey | None = None
        size = self.config.page_size
        for row in self._rows(path):
            remote_id = row.cells.get(id_col)
            key: SortKey | None = None
            reject: Reject | None = None
            if remote_id is None:
                reject = self._reject(stream, None, id_col, "the row has no id", path, row)
            else:
                try:
                    key = (parse_timestamp(row.cells.get(ts_col, "")), _id_order(remote_id))
                except ValueError as exc:
                    # Without a time the row cannot be placed after any cursor: it is reported on
                    # every read until the export is fixed.
                    reject = self._reject(stream, remote_id, ts_col, str(exc), path, row)
            if key is not None:
                if after is not None and key <= after:
                    continue
                if row.overflow:
                    reject = self._reject(
                        stream, remote_id, None, "the row has more cells than the header", path, row
                    )
                else:
                    try:
                        records.append(self._to_record(stream, row.cells, key[0]))
                    except MappingError as exc:
                        reject = self._reject(
                            stream, remote_id, exc.path or exc.field, self._why(exc), path, row
                        )
                if last is None or key > last:
                    last = key
            if reject is not None:
                rejects.append(reject)
            if len(records) + len(rejects) >= size:
                yield records, rejects, last
                records, rejects, last = [], [], None
        if records or rejects:
            yield records, rejects, last

    @staticmethod
    def _why(exc: MappingError) -> str:
        if exc.field and exc.path and exc.field != exc.path:
            return f"{exc.reason} (canonical field {exc.field})"
        return exc.reason

    @staticmethod
    def _reject(
        stream: Stream, remote_id: str | None, column: str | None, reason: str, path: Path, row: _Row
    ) -> Reject:
        return Reject(stream, remote_id, column, f"{reason} ({path.name} line {row.line})", dict(row.cells))

    def _to_record(self, stream: Stream, cells: Mapping[str, str], modified_at: datetime) -> Record:
        values = self.fieldmap.extract(stream, cells)
        values["remote_modified_at"] = modified_at
        if "status" not in values:
            values["status"] = _derived_status(stream, values)
        values["raw"] = dict(cells)
        try:
            return RECORD_TYPES[stream].model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = error_location(err)
            field = ".".join(str(p) for p in loc) or None
            top = str(loc[0]) if loc else None
            column = _column(self.fieldmap.fields(stream).get(top)) if top else None
            reason = "required value is missing" if err.get("type") == "missing" else err["msg"]
            raise MappingError(stream, values.get("remote_id"), field, column, reason) from exc

    def _is_sorted(self, stream: Stream, path: Path) -> bool:
        """Whether the file lists rows in (modified_at, id) order; cached while the file is unchanged."""
        try:
            st = path.stat()
        except FileNotFoundError:
            raise PermanentError(f"{path.name} is missing from {self.config.folder}") from None
        stamp = (st.st_size, st.st_mtime_ns)
        cached = self._sorted_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        id_col, ts_col, _ = self._key_columns[stream]
        previous: SortKey | None = None
        in_order = True
        for row in self._rows(path):
            remote_id = row.cells.get(id_col)
            if remote_id is None:
                continue
            try:
                key = (parse_timestamp(row.cells.get(ts_col, "")), _id_order(remote_id))
            except ValueError:
                continue
            if previous is not None and key < previous:
                in_order = False
                break
            previous = key
        self._sorted_cache[path] = (stamp, in_order)
        return in_order

    # -- fetch -------------------------------------------------------------------------------

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """Re-read one row of an export by its id; None when no row has that id.

        Raises:
            BadRecordError: the row exists but cannot be translated.
        """
        stream = TARGET_STREAMS[target_type]
        id_col, ts_col, _ = self._key_columns[stream]
        for row in self._rows(self.file_for(stream)):
            if row.cells.get(id_col) != remote_id:
                continue
            try:
                return self._to_record(stream, row.cells, parse_timestamp(row.cells.get(ts_col, "")))
            except ValueError as exc:  # MappingError is a ValueError too
                raise BadRecordError(f"{target_type.value} {remote_id}: {exc}") from None
        return None

    # -- write -------------------------------------------------------------------------------

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Append the operations to the write-back file, each at most once per idempotency key."""
        if len(ops) > self.capabilities.batch_max:
            raise PermanentError(f"at most {self.capabilities.batch_max} operations per call, got {len(ops)}")
        versions = self._current_versions(ops)
        results: list[WriteResult] = []
        path = self.writeback_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+", encoding="utf-8", newline="") as fh, _locked(fh):
            written = self._written_keys(fh, path)
            lines = io.StringIO()
            writer = csv.writer(lines, lineterminator="\n")
            if fh.tell() == 0:
                writer.writerow(WRITEBACK_COLUMNS)
            elif not _ends_with_newline(path):
                # A crash mid-append left half a row: end it so the next row starts cleanly.
                lines.write("\n")
            now = utcnow().isoformat()
            for item in ops:
                op = item.op
                target = (op.target_type, op.target_id)
                if item.key in written:
                    results.append(WriteResult(item.key, True, remote_id=op.target_id, duplicate=True))
                    continue
                if op.op_type not in self.capabilities.write_ops:
                    results.append(
                        WriteResult(
                            item.key, False, error=PermanentError(f"{op.op_type.value} is not supported")
                        )
                    )
                    continue
                if target not in versions:
                    stream = TARGET_STREAMS[op.target_type]
                    missing = BadRecordError(
                        f"{op.target_type.value} {op.target_id} is not in {self.file_for(stream).name}"
                    )
                    results.append(WriteResult(item.key, False, error=missing))
                    continue
                current = versions[target]
                if op.base_version is not None and op.base_version != current:
                    stale = ConflictError(
                        f"{op.target_type.value} {op.target_id} changed in the ERP: version is {current!r}, "
                        f"the decision was based on {op.base_version!r}",
                        erp_code="stale_version",
                    )
                    results.append(
                        WriteResult(item.key, False, remote_id=op.target_id, version=current, error=stale)
                    )
                    continue
                payload = json.dumps(op.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
                row = [
                    item.key,
                    now,
                    op.op_type.value,
                    op.target_type.value,
                    op.target_id,
                    op.base_version or "",
                    op.reason or "",
                    payload,
                ]
                writer.writerow(row)
                written[item.key] = dict(zip(WRITEBACK_COLUMNS, row, strict=True))
                results.append(WriteResult(item.key, True, remote_id=op.target_id, version=current))
            if lines.tell():
                fh.write(lines.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
                self._remember(path, written)
        return results

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """Look the idempotency key up in the write-back file.

        Returns:
            an ``ok`` result when the key is in the file, or None when it is not (the file is the
            whole truth, so "not there" means "never written").
        """
        path = self.writeback_path
        if not path.exists():
            return None
        with open(path, encoding="utf-8", newline="") as fh:
            row = self._written_keys(fh, path).get(op.key)
        if row is None:
            return None
        return WriteResult(op.key, True, remote_id=row.get("target_id") or None, duplicate=True)

    def written_rows(self) -> list[dict[str, str]]:
        """Every complete row of the write-back file, oldest first."""
        path = self.writeback_path
        if not path.exists():
            return []
        with open(path, encoding="utf-8", newline="") as fh:
            return list(_parse_writeback(fh))

    def _written_keys(self, fh: Any, path: Path) -> dict[str, dict[str, str]]:
        st = os.fstat(fh.fileno())
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._written_cache is not None and self._written_cache[0] == stamp:
            return self._written_cache[1]
        fh.seek(0)
        keys = {row["idempotency_key"]: row for row in _parse_writeback(fh)}
        fh.seek(0, os.SEEK_END)
        self._written_cache = (stamp, keys)
        return keys

    def _remember(self, path: Path, written: dict[str, dict[str, str]]) -> None:
        st = path.stat()
        self._written_cache = ((st.st_ino, st.st_size, st.st_mtime_ns), written)

    def _current_versions(self, ops: Iterable[OutboundOp]) -> dict[tuple[TargetType, str], str | None]:
        """The ``version`` cell of every target row, one pass per export involved."""
        wanted: dict[TargetType, set[str]] = {}
        for item in ops:
            wanted.setdefault(item.op.target_type, set()).add(item.op.target_id)
        found: dict[tuple[TargetType, str], str | None] = {}
        for target_type, ids in wanted.items():
            stream = TARGET_STREAMS[target_type]
            id_col, _, version_col = self._key_columns[stream]
            for row in self._rows(self.file_for(stream)):
                remote_id = row.cells.get(id_col)
                if remote_id in ids:
                    found[(target_type, remote_id)] = row.cells.get(version_col) if version_col else None
        return found


def _derived_status(stream: Stream, values: Mapping[str, Any]) -> Any:
    """A status from the amounts when the export has no status column (or the cell is empty)."""
    try:
        if stream in (Stream.INVOICES, Stream.CREDIT_MEMOS):
            total, open_amount = Decimal(values["total"]), Decimal(values["open_amount"])
            if open_amount == 0:
                return DocumentStatus.PAID
            return DocumentStatus.PARTIALLY_PAID if open_amount < total else DocumentStatus.OPEN
        if stream is Stream.PAYMENTS:
            amount, unapplied = Decimal(values["amount"]), Decimal(values["unapplied_amount"])
            if unapplied == 0:
                return PaymentStatus.APPLIED
            return PaymentStatus.PARTIALLY_APPLIED if unapplied < amount else PaymentStatus.UNAPPLIED
    except (KeyError, TypeError, InvalidOperation):
        pass  # the missing amount is reported by validation, naming its column
    return RECORD_TYPES[stream].model_fields["status"].default


def _parse_writeback(fh: Any) -> Iterator[dict[str, str]]:
    reader = csv.reader(fh)
    header = next(reader, None)
    if header is None:
        return
    width = len(header)
    for cells in reader:
        # A row cut short by a crash is not a write: it is neither counted nor trusted.
        if len(cells) == width and cells[0]:
            yield dict(zip(header, cells, strict=True))


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as raw:
        raw.seek(-1, os.SEEK_END)
        return raw.read(1) in (b"\n", b"\r")


@contextlib.contextmanager
def _locked(fh: Any) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
