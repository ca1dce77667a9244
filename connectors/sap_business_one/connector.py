"""The SAP Business One connector: reads A/R through the Service Layer (OData v4) and writes only there.

Reading
    Customers (BusinessPartners of CardType ``cCustomer``), A/R invoices (Invoices), credit notes
    (CreditNotes) are read in (UpdateDate, UpdateTime, key) order from a watermark with an
    overlap (``watermark.py``), a keyset filter per page, ``Prefer: odata.maxpagesize``.
    Incoming payments have no update stamp in the Service Layer: new ones are read by DocEntry,
    and each read ends with the list of cancelled payments (``Cancelled eq 'tYES'``), of which the
    ones not seen cancelled before arrive ``deleted=True``. With ``read_via: odbc`` the same
    reads go to B1's tables through a read-only SQL login (``sql_source.py``), each row turned
    into the entity the Service Layer would answer, so one translation serves both.

Writing
    SAP forbids writing B1's database directly, so every write goes through the Service Layer.
    Collection status, dunning level and next action date: a PATCH of the invoice's (or business
    partner's) user-defined fields with ``If-Match``, the dunning block where the connection asks
    for it, many per multipart ``$batch``. Payment applications: an incoming payment with its
    invoice lines (PaymentInvoices), the outbox key in a user-defined field; B1 has no
    idempotency key, so the keys of a batch are looked up before it is sent (and by
    ``find_written``). Notes (a call logged in the workspace): an activity of the business
    partner (``Activities``, the object B1 users log calls and notes in), linked to the document
    when the note is about one, with the outbox key in the activity's user-defined field, looked
    up the same way. ``arbridge setup sap-business-one`` creates the fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from connectors.base import (
    AuthError,
    BadRecordError,
    Capabilities,
    CheckResult,
    ConflictError,
    Connector,
    ConnectorContext,
    ConnectorError,
    ConnectorSettings,
    Cursor,
    OutboundOp,
    Page,
    PermanentError,
    Reject,
    TransientError,
    WriteResult,
)
from connectors.odata import BatchRequest, BatchResponse, any_of, literal
from connectors.odbc import Database, RowMapper
from connectors.rest import Backoff, Paged, session_for
from connectors.sap_business_one.client import ServiceLayer
from connectors.sap_business_one.fields import missing_fields
from connectors.sap_business_one.settings import SapBusinessOneSettings
from connectors.sap_business_one.sql_source import SqlSource
from connectors.sap_business_one.tables import ROW_DIGEST
from connectors.sap_business_one.watermark import Mark, Watermark, after, local_time, since, stamp_of
from mapping.fieldmap import FieldMap, MappingError, register_transform
from mapping.models import (
    CollectionStatus,
    CollectionStatusUpdate,
    CustomerStatus,
    DocumentStatus,
    Note,
    OpType,
    PaymentApplication,
    PaymentStatus,
    Record,
    Stream,
    TargetType,
)

__all__ = ["SapBusinessOneConnector", "SapBusinessOneSettings"]

MAPPING_FILE = Path(__file__).with_name("mapping.yaml")
#: Stream → (entity set, key property, filter every read carries).
SETS: dict[Stream, tuple[str, str, str | None]] = {
    Stream.CUSTOMERS: ("BusinessPartners", "CardCode", "CardType eq 'cCustomer'"),
    Stream.INVOICES: ("Invoices", "DocEntry", None),
    Stream.CREDIT_MEMOS: ("CreditNotes", "DocEntry", None),
    Stream.PAYMENTS: ("IncomingPayments", "DocEntry", None),
}
TARGET_SETS = {
    TargetType.CUSTOMER: "BusinessPartners",
    TargetType.INVOICE: "Invoices",
    TargetType.CREDIT_MEMO: "CreditNotes",
    TargetType.PAYMENT: "IncomingPayments",
}
#: B1's object type of a document an activity is linked to (``BoObjectTypes``: oInvoices, oCreditNotes).
ACTIVITY_DOC_TYPES = {TargetType.INVOICE: "13", TargetType.CREDIT_MEMO: "14"}
#: How much of a note goes in the activity's one-line remarks (``Details``); all of it goes in ``Notes``.
DETAILS_MAX = 100


def _b1_date(value: Any) -> Any:
    """``2026-11-02T00:00:00Z`` (B1's DateTimeOffset of a day) → the day; anything else unchanged."""
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value


register_transform("sap_b1_date", _b1_date)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _key_path(entity_set: str, key: Any) -> str:
    return f"{entity_set}({literal(key) if isinstance(key, str) else key})"


class SapBusinessOneConnector(Connector):
    """SAP Business One (9.3 and later, SQL Server or HANA) through its Service Layer, OData v4."""

    name = "sap-business-one"
    version = "0.1.0"
    capabilities = Capabilities(
        streams=frozenset(Stream),
        write_ops=frozenset({OpType.COLLECTION_STATUS, OpType.PAYMENT_APPLICATION, OpType.NOTE}),
        page_max=5000,
        batch_max=100,
        # SAP publishes no request quota; one Service Layer node serves a handful of requests
        # at once, and its balancer answers 503 beyond.
        requests_per_minute=3000,
        max_concurrency=8,
        sorted_streams=frozenset(Stream),
    )
    settings_model = SapBusinessOneSettings

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, SapBusinessOneSettings)
        self.b1: SapBusinessOneSettings = settings
        self.zone = ZoneInfo(settings.time_zone)
        self.overlap = timedelta(minutes=settings.overlap_minutes)
        self.session = session_for(self)
        options: dict[str, Any] = {
            "what": "SAP Business One",
            "timeout": settings.timeout,
            "backoff": Backoff(),
        }
        if sleep is not None:
            options["sleep"] = sleep
        self.client = ServiceLayer(
            settings.service_url,
            self.session,
            company_db=settings.company_db,
            username=settings.username,
            password=settings.password.get_secret_value(),
            **options,
        )
        self.fieldmap = FieldMap.load(MAPPING_FILE, context.mapping_overrides)
        self.sql: SqlSource | None = None
        self.row_mappers: dict[Stream, RowMapper] = {}
        if settings.read_via == "odbc":
            self.row_mappers = {stream: RowMapper(self.fieldmap, stream) for stream in Stream}
            assert settings.odbc is not None
            self.sql = SqlSource(
                Database(
                    settings.odbc.connection_string,
                    settings.odbc.password,
                    dialect=settings.odbc.dialect,
                    login_timeout=settings.odbc.login_timeout,
                    query_timeout=settings.odbc.query_timeout,
                ),
                settings.odbc.schema_name,
                self._sql_user_fields(),
            )

    def budget_key(self) -> str:
        return f"sap-business-one|{self.b1.service_url}|{self.b1.company_db}"

    @property
    def batch_max(self) -> int:
        return self.b1.batch_max

    def close(self) -> None:
        """Log out, so the session does not hold a B1 licence until it times out."""
        self.client.logout()
        self.session.close()
        if self.sql is not None:
            self.sql.close()

    def _sql_user_fields(self) -> dict[str, list[str]]:
        names = (self.b1.status_field, self.b1.level_field, self.b1.next_action_field)
        collection = [self._udf(f) for f in names]
        payment = [self._udf(self.b1.key_field)]
        # OCLG (activities) is not read: the fast read covers the four streams only.
        return {"OCRD": collection, "OINV": collection, "ORIN": collection, "ORCT": payment}

    def _udf(self, name: str) -> str:
        return f"U_{name}"

    # -- check ------------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Log in, read one customer, and say which user-defined fields are missing."""
        try:
            self.client.login()
            self.client.json("GET", "BusinessPartners", params={"$select": "CardCode", "$top": "1"})
            missing = missing_fields(self.client, self.b1)
        except AuthError as exc:
            return CheckResult(
                False,
                f"SAP Business One refused the login to {self.b1.company_db!r} as {self.b1.username!r}: "
                f"{exc.message}",
                {"kind": "auth"},
            )
        except ConnectorError as exc:
            return CheckResult(False, f"SAP Business One: {exc}", {"kind": exc.kind.value})
        if self.sql is not None:
            try:
                self.sql.probe()
            except ConnectorError as exc:
                return CheckResult(
                    False,
                    f"the Service Layer answers, but the fast read's SQL login does not: {exc}",
                    {"kind": exc.kind.value},
                )
        details = {"version": self.client.version, "session_timeout_minutes": self.client.session_timeout}
        message = (
            f"connected to SAP Business One company {self.b1.company_db!r} "
            f"(Service Layer {self.client.version})"
        )
        if missing:
            names = ", ".join(f"{f.table}.U_{f.name}" for f in missing)
            return CheckResult(
                False,
                f"{message}, but the user-defined fields {names} are missing: run "
                "`arbridge setup sap-business-one -c FILE` to create them",
                {**details, "missing_fields": names},
            )
        if not self.b1.transfer_account:
            message += "; no transfer_account set, so payments cannot be written"
        if self.b1.note_mode == "off":
            message += "; notes are not written (note_mode: off)"
        return CheckResult(True, message, details)

    # -- read -------------------------------------------------------------------------------------

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of ``stream`` changed since ``cursor`` (everything when None); each page's cursor resumes."""
        state = _state(cursor)
        if stream is Stream.PAYMENTS:
            yield from self._read_payments(state)
            return
        entity_set, key_field, base = SETS[stream]
        mark = Watermark.from_json(state)
        start = tuple(state["start"]) if state.get("start") else mark.start(self.overlap, self.zone)
        position = Mark.from_json(state.get("pos"))
        while True:
            conditions = [c for c in (base, since(start) if start else None) if c]
            if position is not None:
                conditions.append(after(position, key_field))
            params = {"$orderby": f"UpdateDate,UpdateTime,{key_field}"}
            if conditions:
                params["$filter"] = " and ".join(conditions)
            chunk: _Chunk | Paged[dict[str, Any]]
            if self.sql is not None:
                items = self.sql.changed(stream, start, position, self.b1.page_size)
                chunk = _sql_chunk(items, self.b1.page_size)
            else:
                chunk = next(self.client.pages(entity_set, params, page_size=self.b1.page_size))
            fresh = []
            for raw in chunk.items:
                stamp = stamp_of(raw, key_field)
                position = stamp
                version = _version(raw)
                if mark.is_new(raw.get(key_field), f"{stamp.day}|{stamp.time}|{version}"):
                    fresh.append(raw)
                    mark.delivered(stamp, version)
            records, rejects = self._translate(stream, fresh)
            more = chunk.next is not None and bool(chunk.items)
            if more:
                assert position is not None
                mark.passed(position, self.overlap, self.zone)
                value = {**mark.as_json(), "start": list(start) if start else None, "pos": position.as_json()}
            else:
                mark.prune(self.overlap, self.zone)
                value = mark.as_json()
            yield Page(stream, records, Cursor(json.dumps(value)), rejects, api_calls=chunk.api_calls)
            if not more:
                return

    def _read_payments(self, state: dict[str, Any]) -> Iterator[Page]:
        """New payments by DocEntry, then the payments cancelled since the last read."""
        last = int(state.get("last") or 0)
        cancelled = set(int(x) for x in state.get("cancelled") or [])
        phase = state.get("phase") or "new"
        position = int(state.get("pos") or 0)
        while True:
            if phase == "new":
                params = {"$filter": f"DocEntry gt {last}", "$orderby": "DocEntry"}
            else:
                params = {
                    "$filter": f"Cancelled eq 'tYES' and DocEntry gt {position} and DocEntry le {last}",
                    "$orderby": "DocEntry",
                }
            chunk: _Chunk | Paged[dict[str, Any]]
            if self.sql is not None:
                items = (
                    self.sql.payments(last, None, self.b1.page_size)
                    if phase == "new"
                    else self.sql.payments(position, last, self.b1.page_size)
                )
                chunk = _sql_chunk(items, self.b1.page_size)
            else:
                chunk = next(self.client.pages("IncomingPayments", params, page_size=self.b1.page_size))
            fresh = []
            for raw in chunk.items:
                entry = int(raw.get("DocEntry") or 0)
                is_cancelled = raw.get("Cancelled") == "tYES"
                if phase == "new":
                    last = max(last, entry)
                    fresh.append(raw)
                    if is_cancelled:
                        cancelled.add(entry)
                else:
                    position = max(position, entry)
                    if entry not in cancelled:
                        cancelled.add(entry)
                        fresh.append(raw)
            records, rejects = self._translate(Stream.PAYMENTS, fresh)
            more = chunk.next is not None and bool(chunk.items)
            if not more and phase == "new":
                phase, position, more = "cancel", 0, True
            elif not more:
                phase = "new"
            value = {"last": last, "cancelled": sorted(cancelled), "phase": phase, "pos": position}
            yield Page(
                Stream.PAYMENTS, records, Cursor(json.dumps(value)), rejects, api_calls=chunk.api_calls
            )
            if not more:
                return

    # -- translation ------------------------------------------------------------------------------

    def _translate(self, stream: Stream, items: list[dict[str, Any]]) -> tuple[list[Record], list[Reject]]:
        records: list[Record] = []
        rejects: list[Reject] = []
        for raw in items:
            try:
                records.append(self.to_record(stream, raw))
            except MappingError as exc:
                rejects.append(Reject(stream, exc.remote_id, exc.path or exc.field, exc.reason, raw))
        return records, rejects

    def to_record(self, stream: Stream, raw: dict[str, Any]) -> Record:
        """One Service Layer entity (v2 JSON) as a canonical record.

        Raises:
            MappingError: a field the canonical record needs is missing or unreadable.
        """
        key_field = SETS[stream][1]
        rid = str(raw.get(key_field) or "") or None
        extra: dict[str, Any] = {"version": raw.get("@odata.etag")}
        if extra["version"] is None and stream is not Stream.PAYMENTS and raw.get("UpdateDate"):
            # Read from B1's tables, which hold no ETag: the update stamp and a digest of the values
            # stand in (see _etags_for_db_stamps).
            extra["version"] = f"{db_stamp(stamp_of(raw, key_field))}|{_version(raw)}"
        try:
            if stream is Stream.PAYMENTS:
                extra.update(self._payment_extras(raw))
            else:
                stamp = stamp_of(raw, key_field)
                if not stamp.day:
                    raise MappingError(
                        stream, rid, "remote_modified_at", "UpdateDate", "required value is missing"
                    )
                try:
                    extra["remote_modified_at"] = local_time(stamp, self.zone)
                except ValueError as exc:
                    raise MappingError(
                        stream, rid, "remote_modified_at", "UpdateDate|UpdateTime", str(exc)
                    ) from None
                if stream is Stream.CUSTOMERS:
                    extra.update(self._customer_extras(raw))
                else:
                    extra.update(self._document_extras(stream, raw))
        except (ArithmeticError, TypeError) as exc:
            raise MappingError(stream, rid, None, None, str(exc)) from exc
        if ROW_DIGEST in raw and self.row_mappers:
            # A row of B1's tables is flat: the map compiled for rows translates it the same way.
            return self.row_mappers[stream].record(raw, **extra)
        return self.fieldmap.to_record(stream, raw, **extra)

    @staticmethod
    def _customer_extras(raw: dict[str, Any]) -> dict[str, Any]:
        inactive = raw.get("Valid") == "tNO" or raw.get("Frozen") == "tYES"
        currency = raw.get("Currency")
        return {
            "status": CustomerStatus.INACTIVE if inactive else CustomerStatus.ACTIVE,
            "currency": None if currency in (None, "", "##") else currency,  # "##": all currencies
            "dunning_block": raw.get("BlockDunning") == "tYES",
        }

    def _document_extras(self, stream: Stream, raw: dict[str, Any]) -> dict[str, Any]:
        total = _dec(raw.get("DocTotal"))
        paid = _dec(raw.get("PaidToDate"))
        open_amount = max(total - paid, Decimal(0))
        cancelled = raw.get("Cancelled") == "tYES"
        if cancelled:
            status = DocumentStatus.VOID
        elif raw.get("DocumentStatus") == "bost_Close" or (open_amount == 0 and total != 0):
            status = DocumentStatus.PAID
        elif paid > 0:
            status = DocumentStatus.PARTIALLY_PAID
        else:
            status = DocumentStatus.OPEN
        extra: dict[str, Any] = {
            "total": total,
            "open_amount": Decimal(0) if cancelled or status is DocumentStatus.PAID else open_amount,
            "status": status,
            "raw_status": str(raw.get("DocumentStatus") or ""),
            "deleted": cancelled,
        }
        if stream is Stream.INVOICES:
            level = raw.get(self._udf(self.b1.level_field))
            status_text = raw.get(self._udf(self.b1.status_field))
            try:
                extra["collection_status"] = CollectionStatus(status_text) if status_text else None
            except ValueError:
                extra["collection_status"] = None
            extra["dunning_level"] = int(level) if level not in (None, "") else None
            extra["dunning_block"] = raw.get("BlockDunning") == "tYES"
        return extra

    def _payment_extras(self, raw: dict[str, Any]) -> dict[str, Any]:
        day = _b1_date(raw.get("DocDate"))
        if not isinstance(day, date):
            rid = str(raw.get("DocEntry") or "") or None
            raise MappingError(Stream.PAYMENTS, rid, "date", "DocDate", f"not a date: {raw.get('DocDate')!r}")
        amount = _dec(raw.get("CashSum")) + _dec(raw.get("TransferSum"))
        amount += sum((_dec(c.get("CheckSum")) for c in raw.get("PaymentChecks") or []), Decimal(0))
        amount += sum((_dec(c.get("CreditSum")) for c in raw.get("PaymentCreditCards") or []), Decimal(0))
        allocations = []
        applied = Decimal(0)
        for line in raw.get("PaymentInvoices") or []:
            kind = line.get("InvoiceType")
            if kind not in ("it_Invoice", "it_CredItnote"):
                continue
            sign = Decimal(-1) if kind == "it_CredItnote" else Decimal(1)
            value = sign * _dec(line.get("SumApplied"))
            applied += value
            allocations.append(
                {
                    "target_type": TargetType.INVOICE if sign > 0 else TargetType.CREDIT_MEMO,
                    "target_id": str(line.get("DocEntry")),
                    "amount": value,
                    "discount": _dec(line.get("TotalDiscount")) or None,
                }
            )
        unapplied = max(amount - applied, Decimal(0))
        cancelled = raw.get("Cancelled") == "tYES"
        if cancelled:
            status = PaymentStatus.VOID
        elif unapplied == 0:
            status = PaymentStatus.APPLIED
        elif applied > 0:
            status = PaymentStatus.PARTIALLY_APPLIED
        else:
            status = PaymentStatus.UNAPPLIED
        return {
            "remote_modified_at": local_time(Mark(day.isoformat(), None, None), self.zone),
            "date": day,
            "amount": amount,
            "unapplied_amount": unapplied,
            "status": status,
            "raw_status": "cancelled" if cancelled else "posted",
            "allocations": allocations,
            "deleted": cancelled,
        }

    # -- fetch ------------------------------------------------------------------------------------

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """Re-read one record; None when B1 no longer has it."""
        entity_set = TARGET_SETS[target_type]
        key: Any = remote_id if target_type is TargetType.CUSTOMER else int(remote_id)
        raw = self.client.entity(_key_path(entity_set, key))
        if raw is None:
            return None
        stream = {v[0]: k for k, v in SETS.items()}[entity_set]
        return self.to_record(stream, raw)

    # -- write ------------------------------------------------------------------------------------

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Collection-status updates, payment applications and notes, one result per operation, in order."""
        results: dict[str, WriteResult] = {}
        statuses: list[OutboundOp] = []
        payments: list[OutboundOp] = []
        notes: list[OutboundOp] = []
        for out in ops:
            if out.key in results or any(o.key == out.key for o in (*statuses, *payments, *notes)):
                continue
            if isinstance(out.op, CollectionStatusUpdate):
                statuses.append(out)
            elif isinstance(out.op, PaymentApplication):
                payments.append(out)
            elif isinstance(out.op, Note):
                notes.append(out)
            else:
                results[out.key] = _failed(
                    out, PermanentError(f"SAP Business One takes no {out.op.op_type} writes")
                )
        for i in range(0, len(statuses), self.b1.batch_max):
            results.update(self._write_statuses(statuses[i : i + self.b1.batch_max]))
        for i in range(0, len(payments), self.b1.batch_max):
            results.update(self._write_payments(payments[i : i + self.b1.batch_max]))
        for i in range(0, len(notes), self.b1.batch_max):
            results.update(self._write_notes(notes[i : i + self.b1.batch_max]))
        return [results[out.key] for out in ops]

    def _status_path(self, op: CollectionStatusUpdate) -> str:
        if op.target_type is TargetType.PAYMENT:
            raise BadRecordError("SAP Business One keeps no collection status on an incoming payment")
        entity_set = TARGET_SETS[op.target_type]
        if op.target_type is TargetType.CUSTOMER:
            return _key_path(entity_set, op.target_id)
        if not op.target_id.isdigit():
            raise BadRecordError(f"{op.target_id!r} is no DocEntry of a B1 document")
        return _key_path(entity_set, int(op.target_id))

    def _status_body(self, op: CollectionStatusUpdate) -> dict[str, Any]:
        body: dict[str, Any] = {
            self._udf(self.b1.status_field): op.collection_status.value,
            self._udf(self.b1.level_field): op.dunning_level or 0,
            self._udf(self.b1.next_action_field): op.next_action_date.isoformat()
            if op.next_action_date
            else None,
        }
        if op.collection_status in self.b1.block_dunning_statuses:
            body["BlockDunning"] = "tYES"
        return body

    def _send(self, requests: list[BatchRequest]) -> dict[str, BatchResponse]:
        """Send ``requests`` in multipart ``$batch`` calls until each has an answer.

        The Service Layer stops a ``$batch`` at the first refused request; the ones after it were
        never run and go out again in the next call.
        """
        answers: dict[str, BatchResponse] = {}
        waiting = list(requests)
        while waiting:
            got = self.client.multipart_batch(waiting)
            ran = [r for r in waiting if got[r.id].status != 503 or got[r.id].headers]
            for r in ran:
                answers[r.id] = got[r.id]
            if not ran:  # the service answered none: report them as not run
                for r in waiting:
                    answers[r.id] = got[r.id]
                break
            waiting = [r for r in waiting if r.id not in answers]
        return answers

    def _write_statuses(self, outs: list[OutboundOp]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        requests: list[BatchRequest] = []
        owners: dict[str, OutboundOp] = {}
        for n, out in enumerate(outs):
            op = out.op
            assert isinstance(op, CollectionStatusUpdate)
            try:
                path = self._status_path(op)
            except BadRecordError as exc:
                results[out.key] = _failed(out, exc)
                continue
            rid = str(n + 1)
            owners[rid] = out
            headers = {"If-Match": op.base_version} if op.base_version else {}
            requests.append(BatchRequest(rid, "PATCH", path, body=self._status_body(op), headers=headers))
        requests = self._etags_for_db_stamps(requests, owners, results)
        if not requests:
            return results
        answers = self._send(requests)
        for rid, out in owners.items():
            if out.key in results:
                continue
            answer = answers[rid]
            if answer.ok:
                results[out.key] = WriteResult(
                    out.key, True, remote_id=out.op.target_id, version=answer.headers.get("etag")
                )
                continue
            error = self._answer_error(answer)
            if isinstance(error, ConflictError):
                # A replay of a write that landed finds its values in place: that is no conflict.
                done = self.find_written(out)
                if done is not None and done.ok:
                    results[out.key] = done
                    continue
            results[out.key] = _failed(out, error)
        return results

    def _etags_for_db_stamps(
        self, requests: list[BatchRequest], owners: dict[str, OutboundOp], results: dict[str, WriteResult]
    ) -> list[BatchRequest]:
        """Turn versions read from B1's tables (update stamps, no ETag) into If-Match ETags.

        The fast read sees no ETag, so a decision made on it carries the record's update day and
        time. One ``$batch`` of GETs reads each record's stamp and ETag: an unchanged stamp sends
        the PATCH with that ETag (B1 still refuses it if the record changes in between); a moved
        stamp is a conflict unless the values are already in place (a replay of this write).
        """
        stamped = [r for r in requests if r.headers.get("If-Match", "").startswith(DB_STAMP)]
        if not stamped:
            return requests
        etags: dict[str, str] = {}
        lookups = [
            BatchRequest(r.id, "GET", f"{r.url}?$select=UpdateDate,UpdateTime", headers={}) for r in stamped
        ]
        got = self.client.multipart_batch(lookups)
        for request in stamped:
            out, answer = owners[request.id], got[request.id]
            if not answer.ok or not isinstance(answer.body, dict):
                results[out.key] = _failed(out, self._answer_error(answer))
                continue
            key_field = "CardCode" if request.url.startswith("BusinessPartners") else "DocEntry"
            now = db_stamp(stamp_of(answer.body, key_field))
            read = request.headers["If-Match"].rsplit("|", 1)[0]  # the day and time, not the digest
            if now == read and answer.body.get("@odata.etag"):
                etags[request.id] = str(answer.body["@odata.etag"])
                continue
            done = self.find_written(out)
            if done is not None and done.ok:
                results[out.key] = done
            else:
                results[out.key] = _failed(
                    out, ConflictError(f"{request.url} changed in SAP Business One since it was read")
                )
        return [
            replace(r, headers={**r.headers, "If-Match": etags[r.id]}) if r.id in etags else r
            for r in requests
            if owners[r.id].key not in results
        ]

    def _answer_error(self, answer: BatchResponse) -> ConnectorError:
        error = answer.error() or TransientError(f"HTTP {answer.status} without an error body")
        if error.erp_code == "-1000" and "'U_" in error.message:
            return self._field_missing(error)
        if error.erp_code == "301":
            return AuthError(error.message, erp_code=error.erp_code)
        return error

    @staticmethod
    def _field_missing(error: ConnectorError) -> ConnectorError:
        """B1's refusal of an unknown user-defined field, with what to do about it."""
        if error.erp_code != "-1000" or "'U_" not in error.message:
            return error
        return PermanentError(
            f"{error.message}: run `arbridge setup sap-business-one -c FILE` to create arbridge's fields",
            erp_code=error.erp_code,
        )

    # -- payments ---------------------------------------------------------------------------------

    def _written_payments(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Incoming payments carrying any of ``keys`` in the key field, by key (cancelled ones too)."""
        return self._written("IncomingPayments", "DocEntry", keys)

    def _written(self, entity_set: str, key_property: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The records of ``entity_set`` carrying any of ``keys`` in the key field, by key.

        One look-up of 20 keys keeps each URL under the Service Layer's request-line limit; more
        keys go as several look-ups inside one multipart ``$batch``, so any batch costs one call.
        """
        field = self._udf(self.b1.key_field)
        chunks = [keys[i : i + 20] for i in range(0, len(keys), 20)]
        lookups = [
            BatchRequest(
                f"q{n}",
                "GET",
                f"{entity_set}?"
                + urlencode(
                    {"$filter": any_of(field, chunk), "$select": f"{key_property},{field}"}, quote_via=quote
                ),
                headers={"Prefer": "odata.maxpagesize=0"},
            )
            for n, chunk in enumerate(chunks)
        ]
        if len(lookups) == 1:
            try:
                answers = {"q0": self.client.json("GET", lookups[0].url, headers=dict(lookups[0].headers))}
            except ConnectorError as exc:
                fixed = self._field_missing(exc)
                if fixed is exc:
                    raise
                raise fixed from exc
        else:
            got = self.client.multipart_batch(lookups)
            answers = {}
            for rid, answer in got.items():
                if not answer.ok:
                    raise self._answer_error(answer)
                answers[rid] = answer.body
        found: dict[str, dict[str, Any]] = {}
        for data in answers.values():
            for row in (data or {}).get("value") or []:
                found.setdefault(str(row.get(field)), row)
        return found

    def _payment_body(self, out: OutboundOp, op: PaymentApplication) -> dict[str, Any]:
        if op.payment_id:
            raise BadRecordError(
                "B1 cannot add invoice lines to a posted incoming payment; only new payments"
            )
        if not self.b1.transfer_account:
            raise PermanentError("set transfer_account (the bank's G/L account) to write payments to B1")
        lines = []
        for allocation in op.allocations:
            if allocation.target_type is not TargetType.INVOICE or not allocation.target_id.isdigit():
                raise BadRecordError("incoming payments written by arbridge apply to A/R invoices only")
            if allocation.writeoff:
                raise BadRecordError("write-offs are not written to B1 incoming payments")
            line: dict[str, Any] = {
                "DocEntry": int(allocation.target_id),
                "SumApplied": float(allocation.amount),
                "InvoiceType": "it_Invoice",
            }
            if allocation.discount:
                line["TotalDiscount"] = float(allocation.discount)
            lines.append(line)
        remark = (op.reference or op.reason or "applied by arbridge")[:254]
        return {
            "CardCode": op.customer_remote_id,
            "DocDate": op.date.isoformat(),
            "DocCurrency": op.currency,
            "TransferAccount": self.b1.transfer_account,
            "TransferSum": float(op.amount),
            "TransferDate": op.date.isoformat(),
            "TransferReference": (op.reference or "")[:27] or None,
            "Remarks": remark,
            self._udf(self.b1.key_field): _stored_key(out.key),
            "PaymentInvoices": lines,
        }

    def _write_payments(self, outs: list[OutboundOp]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        written = self._written_payments([_stored_key(o.key) for o in outs])
        requests: list[BatchRequest] = []
        owners: dict[str, OutboundOp] = {}
        for n, out in enumerate(outs):
            op = out.op
            assert isinstance(op, PaymentApplication)
            landed = written.get(_stored_key(out.key))
            if landed is not None:
                results[out.key] = WriteResult(
                    out.key, True, remote_id=str(landed.get("DocEntry")), duplicate=True
                )
                continue
            try:
                body = self._payment_body(out, op)
            except ConnectorError as exc:
                results[out.key] = _failed(out, exc)
                continue
            rid = f"p{n + 1}"
            owners[rid] = out
            requests.append(BatchRequest(rid, "POST", "IncomingPayments", body=body))
        if not requests:
            return results
        answers = self._send(requests)
        for rid, out in owners.items():
            answer = answers[rid]
            if answer.ok and isinstance(answer.body, dict):
                results[out.key] = WriteResult(out.key, True, remote_id=str(answer.body.get("DocEntry")))
            else:
                results[out.key] = _failed(out, self._answer_error(answer))
        return results

    # -- notes ------------------------------------------------------------------------------------

    def _card_codes(self, outs: list[OutboundOp], results: dict[str, WriteResult]) -> dict[str, str]:
        """The business partner of each note about a document, by outbox key (one ``$batch`` of GETs)."""
        lookups: list[BatchRequest] = []
        owners: dict[str, OutboundOp] = {}
        for n, out in enumerate(outs):
            op = out.op
            if op.target_type not in ACTIVITY_DOC_TYPES:
                continue
            if not op.target_id.isdigit():
                error = BadRecordError(f"{op.target_id!r} is no DocEntry of a B1 document")
                results[out.key] = _failed(out, error)
                continue
            rid = f"d{n + 1}"
            owners[rid] = out
            path = _key_path(TARGET_SETS[op.target_type], int(op.target_id))
            lookups.append(BatchRequest(rid, "GET", f"{path}?$select=CardCode", headers={}))
        if not lookups:
            return {}
        cards: dict[str, str] = {}
        for rid, answer in self.client.multipart_batch(lookups).items():
            out = owners[rid]
            if answer.ok and isinstance(answer.body, dict) and answer.body.get("CardCode"):
                cards[out.key] = str(answer.body["CardCode"])
            elif answer.status == 404:
                results[out.key] = _failed(out, BadRecordError(f"B1 has no {_document_path(out)}"))
            else:
                results[out.key] = _failed(out, self._answer_error(answer))
        return cards

    def _activity_body(self, out: OutboundOp, op: Note, card_code: str) -> dict[str, Any]:
        """The activity B1 users would log for the note: a note-kind activity of the partner."""
        body: dict[str, Any] = {
            "CardCode": card_code,
            "ActivityProperty": "cn_Note",
            "ActivityDate": (op.decided_on or date.today()).isoformat(),
            "Details": " ".join(op.text.split())[:DETAILS_MAX],
            "Notes": op.text,
            self._udf(self.b1.key_field): _stored_key(out.key),
        }
        if op.target_type in ACTIVITY_DOC_TYPES:
            body["DocType"] = ACTIVITY_DOC_TYPES[op.target_type]
            body["DocEntry"] = op.target_id
        return body

    def _write_notes(self, outs: list[OutboundOp]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        if self.b1.note_mode == "off":
            for out in outs:
                results[out.key] = _failed(
                    out, PermanentError("note write-back is off for this connection (note_mode: off)")
                )
            return results
        for out in outs:
            if out.op.target_type is TargetType.PAYMENT:
                results[out.key] = _failed(
                    out, BadRecordError("notes go on a business partner or a document, not a payment")
                )
        pending = [o for o in outs if o.key not in results]
        if not pending:
            return results
        try:
            written = self._written("Activities", "ActivityCode", [_stored_key(o.key) for o in pending])
        except (PermanentError, BadRecordError) as exc:  # e.g. the activity's key field is missing
            results.update({out.key: _failed(out, exc) for out in pending})
            return results
        cards = self._card_codes([o for o in pending if _stored_key(o.key) not in written], results)
        requests: list[BatchRequest] = []
        owners: dict[str, OutboundOp] = {}
        for n, out in enumerate(pending):
            op = out.op
            assert isinstance(op, Note)
            landed = written.get(_stored_key(out.key))
            if landed is not None:
                results[out.key] = WriteResult(
                    out.key, True, remote_id=str(landed.get("ActivityCode")), duplicate=True
                )
                continue
            if out.key in results:
                continue
            card = op.target_id if op.target_type is TargetType.CUSTOMER else cards[out.key]
            rid = f"n{n + 1}"
            owners[rid] = out
            requests.append(BatchRequest(rid, "POST", "Activities", body=self._activity_body(out, op, card)))
        if not requests:
            return results
        answers = self._send(requests)
        for rid, out in owners.items():
            answer = answers[rid]
            if answer.ok and isinstance(answer.body, dict):
                results[out.key] = WriteResult(out.key, True, remote_id=str(answer.body.get("ActivityCode")))
            else:
                results[out.key] = _failed(out, self._answer_error(answer))
        return results

    # -- reconciliation ---------------------------------------------------------------------------

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """Whether ``op`` already reached B1: its values in place, or a payment carrying its key."""
        o = op.op
        if isinstance(o, CollectionStatusUpdate):
            raw = self.client.entity(self._status_path(o))
            if raw is None:
                return None
            want = self._status_body(o)
            have = {k: raw.get(k) for k in want}
            if self._udf(self.b1.next_action_field) in have and have[self._udf(self.b1.next_action_field)]:
                have[self._udf(self.b1.next_action_field)] = str(have[self._udf(self.b1.next_action_field)])[
                    :10
                ]
            if have == want:
                return WriteResult(
                    op.key, True, remote_id=o.target_id, version=raw.get("@odata.etag"), duplicate=True
                )
            return WriteResult(op.key, False)
        if isinstance(o, PaymentApplication):
            found = self._written_payments([_stored_key(op.key)])
            if found:
                row = next(iter(found.values()))
                return WriteResult(op.key, True, remote_id=str(row.get("DocEntry")), duplicate=True)
            return WriteResult(op.key, False)
        if isinstance(o, Note):
            found = self._written("Activities", "ActivityCode", [_stored_key(op.key)])
            if found:
                row = next(iter(found.values()))
                return WriteResult(op.key, True, remote_id=str(row.get("ActivityCode")), duplicate=True)
            return WriteResult(op.key, False)
        return None


@dataclass
class _Chunk:
    items: list[dict[str, Any]]
    next: str | None
    api_calls: int = 1


def _sql_chunk(items: list[dict[str, Any]], page_size: int) -> _Chunk:
    """A page read from B1's tables, shaped like the Service Layer's: a full page may have more."""
    return _Chunk(items, "more" if len(items) >= page_size else None)


DB_STAMP = "db:"


def db_stamp(mark: Mark) -> str:
    """Where the version of a record read from B1's tables starts: its update day and time
    (the digest of its values follows)."""
    return f"{DB_STAMP}{mark.day}|{mark.time or ''}"


def _stored_key(key: str) -> str:
    """The outbox key as the 64-character field holds it."""
    if len(key) <= 64:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _version(raw: dict[str, Any]) -> str:
    """The entity's ETag; for a row read from B1's tables (which hold none), a digest of its values.

    B1 stamps a change to the second: a record changed twice within one second keeps its stamp, and
    only its values tell the second change from the first.
    """
    etag = raw.get("@odata.etag") or raw.get(ROW_DIGEST)
    if etag:
        return str(etag)
    blob = json.dumps(raw, sort_keys=True, default=str, separators=(",", ":"))
    return "row:" + hashlib.sha1(blob.encode(), usedforsecurity=False).hexdigest()[:20]


def _state(cursor: Cursor | None) -> dict[str, Any]:
    if cursor is None or not cursor.value:
        return {}
    try:
        data = json.loads(cursor.value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _document_path(out: OutboundOp) -> str:
    """The document a note is about, as the Service Layer names it."""
    return f"{TARGET_SETS[out.op.target_type]}({out.op.target_id})"


def _failed(out: OutboundOp, error: ConnectorError) -> WriteResult:
    return WriteResult(out.key, False, error=error)
