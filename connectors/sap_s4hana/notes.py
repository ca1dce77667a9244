"""Notes in SAP: lines appended to the customer's long text in API_BUSINESS_PARTNER.

A note on a customer goes into ``A_CustomerText`` (the customer's general texts), a note on an
invoice or credit memo into ``A_CustomerCompanyText`` of the item's company code: the texts an AR
user reads on the customer master. SAP keeps one text per customer, language and text ID, so each
note is a line appended to it, starting with a marker derived from the outbox key: a resend reads
the text first and finds the marker instead of adding the line twice. A text that does not exist
yet is created through the parent's navigation property (``A_Customer('…')/to_CustomerText``),
since its ``Customer`` is not creatable in the body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.base import BadRecordError, OutboundOp, PermanentError, TransientError, WriteResult
from connectors.errors import ConnectorError
from connectors.sap_s4hana import items as it
from connectors.sap_s4hana.odata import ODataServices, or_terms, quote
from connectors.sap_s4hana.settings import SapS4HanaSettings
from mapping.models import Note, TargetType

__all__ = ["CustomerNotes", "TextKey", "marker_for"]

BP = "API_BUSINESS_PARTNER"
# Texts read per call: each adds a clause of four key comparisons to the URL's $filter.
READ_CHUNK = 20


def marker_for(key: str) -> str:
    """The tag a note's line starts with, so a write can be found again after a lost answer."""
    return f"[arbridge {hashlib.sha256(key.encode()).hexdigest()[:12]}]"


@dataclass(frozen=True)
class TextKey:
    """Which long text a note goes to."""

    entity_set: str
    customer: str
    company_code: str | None
    language: str
    text_id: str

    def keys(self) -> dict[str, str]:
        out = {"Customer": self.customer}
        if self.company_code is not None:
            out["CompanyCode"] = self.company_code
        out.update(Language=self.language, LongTextID=self.text_id)
        return out

    def filter(self) -> str:
        return " and ".join(f"{k} eq {quote(v)}" for k, v in self.keys().items())

    @property
    def remote_id(self) -> str:
        return f"{self.entity_set}/" + "/".join(self.keys().values())


class CustomerNotes:
    """Writes notes into the customers' long texts and finds them again."""

    def __init__(self, odata: ODataServices, settings: SapS4HanaSettings) -> None:
        self.odata = odata
        self.sap = settings

    def text_key(self, op: Note) -> TextKey:
        """The text a note goes to.

        Raises:
            PermanentError: notes are off for this connection.
            BadRecordError: the target is neither a customer nor an item of this connection.
        """
        if self.sap.note_mode == "off":
            raise PermanentError("note write-back is off for this connection (note_mode: off)")
        language, text_id = self.sap.note_language, self.sap.note_text_id
        if op.target_type is TargetType.CUSTOMER:
            return TextKey("A_CustomerText", op.target_id, None, language, text_id)
        if op.target_type in (TargetType.INVOICE, TargetType.CREDIT_MEMO):
            key = it.parse_item_id(op.target_id)
            customer = it.customer_of(op.target_id)
            if key is None or not customer:
                raise BadRecordError(
                    f"{op.target_id!r} is not an SAP item id (CompanyCode/FiscalYear/Document/Item/Customer)"
                )
            if key[0] not in self.sap.company_codes:
                raise BadRecordError(f"company code {key[0]} is not one of this connection's company codes")
            return TextKey("A_CustomerCompanyText", customer, key[0], language, text_id)
        raise BadRecordError(
            f"notes are written to customers, invoices and credit memos, not {op.target_type.value}"
        )

    def current(self, key: TextKey) -> str | None:
        """The text as SAP holds it now; None when the customer has no such text yet."""
        return self.texts([key]).get(key)

    def texts(self, keys: Sequence[TextKey]) -> dict[TextKey, str]:
        """The texts SAP holds of ``keys`` (absent: none yet), read ``READ_CHUNK`` to a call."""
        out: dict[TextKey, str] = {}
        for entity_set in sorted({k.entity_set for k in keys}):
            wanted = [k for k in keys if k.entity_set == entity_set]
            for i in range(0, len(wanted), READ_CHUNK):
                chunk = wanted[i : i + READ_CHUNK]
                flt = or_terms(f"({k.filter()})" for k in chunk)
                rows, _ = self.odata.query(BP, entity_set, filter=flt, top=len(chunk))
                for row in rows:
                    found = TextKey(
                        entity_set,
                        str(row.Customer),
                        str(row.CompanyCode) if chunk[0].company_code is not None else None,
                        str(row.Language),
                        str(row.LongTextID),
                    )
                    out[found] = str(row.LongText or "")
        return out

    def write(self, outs: Sequence[OutboundOp]) -> dict[str, WriteResult]:
        """The texts read in one call (per ``READ_CHUNK``), each one's new lines appended, one change
        set per text in one ``$batch``."""
        results: dict[str, WriteResult] = {}
        groups: dict[TextKey, list[OutboundOp]] = {}
        for out in outs:
            assert isinstance(out.op, Note)
            try:
                groups.setdefault(self.text_key(out.op), []).append(out)
            except ConnectorError as exc:
                results[out.key] = WriteResult(out.key, False, error=exc)
        svc = self.odata.service(BP) if groups else None
        changesets: list[list[Any]] = []
        planned: list[tuple[TextKey, list[OutboundOp]]] = []
        held = self.texts(list(groups))
        for key, members in groups.items():
            current = held.get(key)
            text = current or ""
            fresh: list[OutboundOp] = []
            for out in members:
                marker = marker_for(out.key)
                if marker in text:
                    # Written before (a resend after a lost answer): the line is there once.
                    results[out.key] = WriteResult(out.key, True, remote_id=key.remote_id, duplicate=True)
                    continue
                assert isinstance(out.op, Note)
                text = f"{text}\n{marker} {out.op.text}" if text else f"{marker} {out.op.text}"
                fresh.append(out)
            if not fresh:
                continue
            assert svc is not None
            if current is None:
                parent = (
                    svc.entity_sets.A_Customer.get_entity(Customer=key.customer).nav("to_CustomerText")
                    if key.company_code is None
                    else svc.entity_sets.A_CustomerCompany.get_entity(
                        Customer=key.customer, CompanyCode=key.company_code
                    ).nav("to_CompanyText")
                )
                req = parent.create_entity().set(Language=key.language, LongTextID=key.text_id, LongText=text)
            else:
                proxy = getattr(svc.entity_sets, key.entity_set)
                req = proxy.update_entity(**key.keys()).set(LongText=text)
            changesets.append([req])
            planned.append((key, fresh))
        if changesets:
            answers = self.odata.send_changesets(BP, changesets)
            for (key, fresh), answer in zip(planned, answers, strict=True):
                for out in fresh:
                    if answer.ok:
                        results[out.key] = WriteResult(out.key, True, remote_id=key.remote_id)
                    else:
                        error = answer.error or TransientError("SAP did not answer this change set")
                        results[out.key] = WriteResult(out.key, False, error=error)
        return results

    def find_written(self, out: OutboundOp) -> WriteResult | None:
        """Whether the note's line is in its text: its marker is there, or certainly not."""
        assert isinstance(out.op, Note)
        try:
            key = self.text_key(out.op)
        except ConnectorError:
            return None
        text = self.current(key)
        if text is not None and marker_for(out.key) in text:
            return WriteResult(out.key, True, remote_id=key.remote_id, duplicate=True)
        return WriteResult(out.key, False)
