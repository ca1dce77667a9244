"""The sandbox account's data: records kept as SuiteTalk XML, with NetSuite's write semantics.

Records are stored as the XML a real account returns (``listRel:Customer``, ``tranSales:Invoice`` …),
with fields in schema order, so a response is a copy of stored elements. Writes follow SuiteTalk:
``update`` merges the fields sent (custom fields by ``scriptId``, ``nullFieldList`` clears),
``upsert`` finds the record by ``externalId``, and a customer payment's ``applyList``/``creditList``
reduce the open amounts of the invoices and credit memos it applies.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from sandboxes.netsuite.schema import RECORD_TYPES, XSI, Namespaces, Types, record_qname

TRANSACTION_SEARCH_TYPES = {
    "_invoice": "invoice",
    "_creditMemo": "creditMemo",
    "_customerPayment": "customerPayment",
}
SUBLISTS = {"applyList", "creditList"}
# Fields the account computes; a write that sends them is ignored for them, as with ignoreReadOnlyFields.
READ_ONLY = {
    "createdDate",
    "dateCreated",
    "lastModifiedDate",
    "amountRemaining",
    "amountPaid",
    "applied",
    "unapplied",
    "balance",
    "status",
    "total",
    "currencyName",
    "overdueBalance",
    "daysOverdue",
}
# When a record was created: transactions call it createdDate, entities dateCreated (Oracle's XSDs).
CREATION_FIELDS = ("createdDate", "dateCreated")


def fmt_datetime(value: datetime) -> str:
    """NetSuite's dateTime form: milliseconds and the account's UTC offset."""
    return value.isoformat(timespec="milliseconds")


def fmt_money(value: Decimal | float | int) -> str:
    return format(Decimal(str(value)).quantize(Decimal("0.01")), "f")


@dataclass
class WriteOutcome:
    """The account's answer for one record of a write: a ``baseRef`` or a status detail."""

    ok: bool
    record_type: str
    internal_id: str | None = None
    external_id: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass
class Deleted:
    record_type: str
    internal_id: str
    name: str | None
    deleted_at: datetime


@dataclass
class CustomFieldDef:
    """A custom field defined in the account: its script id, record types and value type."""

    script_id: str
    record_types: frozenset[str]
    ref_type: str = "StringCustomFieldRef"


DEFAULT_CUSTOM_FIELDS = [
    CustomFieldDef("custbody_arb_collection_status", frozenset({"invoice", "creditMemo"})),
    CustomFieldDef("custbody_arb_dunning_level", frozenset({"invoice", "creditMemo"}), "LongCustomFieldRef"),
    CustomFieldDef("custbody_arb_next_action", frozenset({"invoice", "creditMemo"}), "DateCustomFieldRef"),
    CustomFieldDef("custentity_arb_collection_status", frozenset({"customer"})),
    CustomFieldDef("custentity_arb_dunning_level", frozenset({"customer"}), "LongCustomFieldRef"),
    CustomFieldDef("custentity_arb_next_action", frozenset({"customer"}), "DateCustomFieldRef"),
    CustomFieldDef("custentity_arb_dunning_block", frozenset({"customer"}), "BooleanCustomFieldRef"),
]


class RecordError(Exception):
    """One record of a write was refused; becomes that record's ``statusDetail``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Book:
    """All records of one sandbox account."""

    ns: Namespaces
    types: Types
    clock: Callable[[], datetime]
    custom_fields: dict[str, CustomFieldDef] = field(
        default_factory=lambda: {f.script_id: f for f in DEFAULT_CUSTOM_FIELDS}
    )
    records: dict[str, dict[str, etree._Element]] = field(
        default_factory=lambda: {t: {} for t in RECORD_TYPES}
    )
    modified: dict[str, dict[str, datetime]] = field(default_factory=lambda: {t: {} for t in RECORD_TYPES})
    by_external: dict[str, dict[str, str]] = field(default_factory=lambda: {t: {} for t in RECORD_TYPES})
    deleted: list[Deleted] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    # -- building ---------------------------------------------------------------------------------

    def _tag(self, record_type: str, name: str) -> str:
        return f"{{{record_qname(self.ns, record_type)[0]}}}{name}"

    def order(self, record_type: str) -> list[str]:
        """The fields of a record type in Oracle's order."""
        return self.types.order(*record_qname(self.ns, record_type))

    def creation_field(self, record_type: str) -> str | None:
        """The field holding when a record of this type was created (``createdDate`` or
        ``dateCreated``); None for a type without one (a note has only ``noteDate``)."""
        fields = self.order(record_type)
        return next((name for name in CREATION_FIELDS if name in fields), None)

    def new_id(self) -> str:
        return str(next(self._ids))

    def element(self, record_type: str, internal_id: str, external_id: str | None = None) -> etree._Element:
        """An empty record element of ``record_type`` (tag ``platformCore:record``, with ``xsi:type``)."""
        ns_uri, type_name = record_qname(self.ns, record_type)
        prefix = {v: k for k, v in self.ns.nsmap().items()}[ns_uri]
        el = etree.Element(f"{{{self.ns.core}}}record", nsmap=self.ns.nsmap())
        el.set(f"{{{XSI}}}type", f"{prefix}:{type_name}")
        el.set("internalId", internal_id)
        if external_id:
            el.set("externalId", external_id)
        return el

    def ref(
        self, tag: str, internal_id: str, name: str | None = None, ref_type: str | None = None
    ) -> etree._Element:
        el = etree.Element(tag)
        el.set("internalId", internal_id)
        if ref_type:
            el.set("type", ref_type)
        if name is not None:
            etree.SubElement(el, f"{{{self.ns.core}}}name").text = name
        return el

    def build(
        self, record_type: str, internal_id: str, fields: Mapping[str, Any], external_id: str | None = None
    ) -> etree._Element:
        """A record with ``fields`` in schema order; a ``(internalId, name)`` tuple becomes a RecordRef."""
        rec = self.element(record_type, internal_id, external_id)
        order = self.order(record_type)
        unknown = set(fields) - set(order)
        if unknown:
            raise ValueError(f"{record_type} has no fields {sorted(unknown)} in Oracle's schema")
        for name in order:
            if name not in fields or fields[name] is None:
                continue
            value = fields[name]
            if isinstance(value, tuple):
                rec.append(self.ref(self._tag(record_type, name), value[0], value[1]))
            else:
                rec.append(self._value(self._tag(record_type, name), value))
        return rec

    def _value(self, tag: str, value: Any) -> etree._Element:
        new = etree.Element(tag)
        if isinstance(value, bool):
            new.text = "true" if value else "false"
        elif isinstance(value, datetime):
            new.text = fmt_datetime(value)
        elif isinstance(value, Decimal | float):
            new.text = fmt_money(value)
        else:
            new.text = str(value)
        return new

    def set_field(self, rec: etree._Element, record_type: str, name: str, value: Any) -> None:
        """Set a body field from a Python value (str, number, bool, datetime, or a prepared element)."""
        if name not in self.order(record_type):
            raise ValueError(
                f"{record_qname(self.ns, record_type)[1]} has no field {name!r} in Oracle's schema"
            )
        tag = self._tag(record_type, name)
        if isinstance(value, etree._Element):
            new = value
            new.tag = tag
        else:
            new = self._value(tag, value)
        old = rec.find(tag)
        if old is not None:
            rec.replace(old, new)
        else:
            rec.append(new)
        self._reorder(rec, record_type)

    def _reorder(self, parent: etree._Element, record_type: str) -> None:
        rank = {name: i for i, name in enumerate(self.order(record_type))}
        parent[:] = sorted(parent, key=lambda c: rank.get(etree.QName(c).localname, len(rank)))

    def set_custom(self, rec: etree._Element, record_type: str, script_id: str, value: Any) -> None:
        """Set one custom field of a record, typed as the field's definition says."""
        definition = self.custom_fields.get(script_id)
        if definition is None or record_type not in definition.record_types:
            raise RecordError("INVALID_CSTM_FIELD_REF", f"Invalid custom field reference: {script_id}")
        cfl_tag = self._tag(record_type, "customFieldList")
        cfl = rec.find(cfl_tag)
        if cfl is None:
            cfl = etree.Element(cfl_tag)
            rec.append(cfl)
            self._reorder(rec, record_type)
        for old in cfl:
            if old.get("scriptId") == script_id:
                cfl.remove(old)
        cf = etree.SubElement(cfl, f"{{{self.ns.core}}}customField")
        cf.set("scriptId", script_id)
        cf.set(f"{{{XSI}}}type", f"platformCore:{definition.ref_type}")
        etree.SubElement(cf, f"{{{self.ns.core}}}value").text = (
            fmt_datetime(value) if isinstance(value, datetime) else str(value)
        )

    def put(self, record_type: str, rec: etree._Element, modified: datetime | None = None) -> None:
        """Store ``rec`` and stamp its ``lastModifiedDate`` (now unless given)."""
        when = modified or self.clock()
        if "lastModifiedDate" in self.order(record_type):
            self.set_field(rec, record_type, "lastModifiedDate", when)
        rid = rec.get("internalId", "")
        self.records[record_type][rid] = rec
        self.modified[record_type][rid] = when
        ext = rec.get("externalId")
        if ext:
            self.by_external[record_type][ext] = rid

    # -- reading ----------------------------------------------------------------------------------

    def get(
        self, record_type: str, internal_id: str | None = None, external_id: str | None = None
    ) -> etree._Element:
        if record_type not in self.records:
            raise RecordError("INVALID_RCRD_TYPE", f"Invalid record type: {record_type}")
        rid = internal_id
        if rid is None and external_id is not None:
            rid = self.by_external[record_type].get(external_id)
        rec = self.records[record_type].get(rid or "")
        if rec is None:
            raise RecordError("RCRD_DSNT_EXIST", "That record does not exist.")
        return rec

    def text(self, rec: etree._Element, record_type: str, name: str) -> str | None:
        el = rec.find(self._tag(record_type, name))
        return None if el is None else el.text

    def money(self, rec: etree._Element, record_type: str, name: str) -> Decimal:
        return Decimal(self.text(rec, record_type, name) or "0")

    def match(
        self,
        record_types: Iterable[str],
        when: Callable[[datetime], bool] | None,
        internal_ids: set[str] | None = None,
        external_ids: set[str] | None = None,
        inactive: bool | None = None,
    ) -> list[tuple[str, str]]:
        """Ids of the records a basic search selects, in internal id order (not modification order)."""
        out: list[tuple[str, str]] = []
        for rtype in record_types:
            for rid, rec in self.records[rtype].items():
                if when is not None and not when(self.modified[rtype][rid]):
                    continue
                if internal_ids is not None and rid not in internal_ids:
                    continue
                if external_ids is not None and rec.get("externalId") not in external_ids:
                    continue
                if inactive is not None and (self.text(rec, rtype, "isInactive") == "true") != inactive:
                    continue
                out.append((rtype, rid))
        out.sort(key=lambda t: int(t[1]) if t[1].isdigit() else t[1])
        return out

    def delete(self, record_type: str, internal_id: str) -> None:
        rec = self.get(record_type, internal_id)
        name = self.text(rec, record_type, "tranId") or self.text(rec, record_type, "entityId")
        del self.records[record_type][internal_id]
        del self.modified[record_type][internal_id]
        ext = rec.get("externalId")
        if ext:
            self.by_external[record_type].pop(ext, None)
        self.deleted.append(Deleted(record_type, internal_id, name, self.clock()))

    # -- writing ----------------------------------------------------------------------------------

    def record_type_of(self, incoming: etree._Element) -> str:
        xsi_type = incoming.get(f"{{{XSI}}}type") or ""
        prefix, _, local = xsi_type.rpartition(":")
        uri = incoming.nsmap.get(prefix or None, "")
        for rtype in RECORD_TYPES:
            if record_qname(self.ns, rtype) == (uri, local):
                return rtype
        raise RecordError("INVALID_RCRD_TYPE", f"Record type {xsi_type or '?'} is not supported here.")

    def add(self, incoming: etree._Element) -> WriteOutcome:
        rtype = self.record_type_of(incoming)
        ext = incoming.get("externalId")
        try:
            if ext and ext in self.by_external[rtype]:
                raise RecordError("DUP_RCRD", "This record already exists")
            rec = self.element(rtype, self.new_id(), ext)
            created = self.creation_field(rtype)
            if created:
                self.set_field(rec, rtype, created, self.clock())
            self._merge(rec, rtype, incoming, new=True)
        except RecordError as exc:
            return WriteOutcome(False, rtype, None, ext, exc.code, exc.message)
        self.put(rtype, rec)
        return WriteOutcome(True, rtype, rec.get("internalId"), ext)

    def update(self, incoming: etree._Element) -> WriteOutcome:
        rtype = self.record_type_of(incoming)
        iid, ext = incoming.get("internalId"), incoming.get("externalId")
        try:
            if not iid and not ext:
                raise RecordError(
                    "USER_ERROR", "You must specify an internalId or externalId to update a record."
                )
            current = self.get(rtype, iid, None if iid else ext)
            rec = copy.deepcopy(current)
            self._merge(rec, rtype, incoming, new=False)
        except RecordError as exc:
            return WriteOutcome(False, rtype, iid, ext, exc.code, exc.message)
        self.put(rtype, rec)
        return WriteOutcome(True, rtype, rec.get("internalId"), rec.get("externalId"))

    def upsert(self, incoming: etree._Element) -> WriteOutcome:
        rtype = self.record_type_of(incoming)
        ext = incoming.get("externalId")
        if not ext:
            return WriteOutcome(False, rtype, None, None, "USER_ERROR", "upsert requires an externalId.")
        if ext in self.by_external[rtype]:
            sent = copy.copy(incoming)
            sent.attrib.pop("internalId", None)
            return self.update(sent)
        return self.add(incoming)

    def _merge(self, rec: etree._Element, rtype: str, incoming: etree._Element, *, new: bool) -> None:
        """Apply the fields sent in ``incoming`` to ``rec`` (a working copy)."""
        payment_lines: dict[str, etree._Element] = {}
        for child in incoming:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "nullFieldList":
                for null in child:
                    old = rec.find(self._tag(rtype, null.text or ""))
                    if old is not None:
                        rec.remove(old)
            elif name == "customFieldList":
                for cf in child:
                    value = cf.find(f"{{{self.ns.core}}}value")
                    self.set_custom(
                        rec,
                        rtype,
                        cf.get("scriptId") or cf.get("internalId") or "",
                        value.text if value is not None else "",
                    )
            elif name in SUBLISTS and rtype == "customerPayment":
                payment_lines[name] = child
            elif name in READ_ONLY:
                continue
            else:
                self.set_field(rec, rtype, name, copy.deepcopy(child))
        self._check_refs(rec, rtype)
        if rtype == "customerPayment":
            self._apply_payment(rec, payment_lines, new=new)
        elif new and rtype in ("invoice", "creditMemo"):
            total = self.money(rec, rtype, "total")
            self.set_field(rec, rtype, "amountRemaining", total)
            self.set_field(rec, rtype, "status", "Open")

    def _check_refs(self, rec: etree._Element, rtype: str) -> None:
        for field_name, targets in (
            ("entity", ("customer",)),
            ("customer", ("customer",)),
            ("parent", ("customer",)),
            ("transaction", ("invoice", "creditMemo", "customerPayment")),
        ):
            ref = rec.find(self._tag(rtype, field_name))
            if ref is not None and not any(ref.get("internalId") in self.records[t] for t in targets):
                raise RecordError(
                    "INVALID_KEY_OR_REF", f"Invalid {field_name} reference key {ref.get('internalId')}."
                )

    # -- customer payments ------------------------------------------------------------------------

    def _lines(self, rec: etree._Element, list_name: str) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        lst = rec.find(self._tag("customerPayment", list_name))
        if lst is None:
            return out
        for line in lst:
            doc = line.find(self._tag("customerPayment", "doc"))
            amount = line.find(self._tag("customerPayment", "amount"))
            flag = line.find(self._tag("customerPayment", "apply"))
            if doc is None or (flag is not None and flag.text == "false"):
                continue
            out[doc.text or ""] = Decimal(amount.text if amount is not None and amount.text else "0")
        return out

    def _apply_payment(self, rec: etree._Element, sent: Mapping[str, etree._Element], *, new: bool) -> None:
        """Replace the payment's applications: undo the previous ones, check and apply the new ones."""
        old_apply = {} if new else self._lines(rec, "applyList")
        old_credit = {} if new else self._lines(rec, "creditList")
        new_apply = self._sent_lines(sent.get("applyList"), old_apply)
        new_credit = self._sent_lines(sent.get("creditList"), old_credit)
        customer = rec.find(self._tag("customerPayment", "customer"))
        if customer is None:
            raise RecordError("USER_ERROR", "Please enter value(s) for: Customer")
        cust_id = customer.get("internalId")
        if new and rec.find(self._tag("customerPayment", "currency")) is None:
            # NetSuite gives a payment sent without a currency its customer's currency.
            owner = self.records["customer"].get(cust_id or "")
            currency = owner.find(self._tag("customer", "currency")) if owner is not None else None
            if currency is not None:
                self.set_field(rec, "customerPayment", "currency", copy.deepcopy(currency))
        amount = self.money(rec, "customerPayment", "payment")
        if amount < 0:
            raise RecordError("INVALID_TRANS_AMT", "The payment amount cannot be negative.")
        # Check against the documents as they would be once the previous applications are undone.
        for docs, rtype in ((new_apply, "invoice"), (new_credit, "creditMemo")):
            previous = old_apply if rtype == "invoice" else old_credit
            for doc_id, value in docs.items():
                doc = self.records[rtype].get(doc_id)
                if doc is None:
                    raise RecordError("INVALID_KEY_OR_REF", f"Invalid {rtype} reference key {doc_id}.")
                entity = doc.find(self._tag(rtype, "entity"))
                if entity is None or entity.get("internalId") != cust_id:
                    raise RecordError("INVALID_KEY_OR_REF", f"{rtype} {doc_id} belongs to another customer.")
                due = self.money(doc, rtype, "amountRemaining") + previous.get(doc_id, Decimal(0))
                if value <= 0 or value > due:
                    raise RecordError(
                        "INVALID_TRANS_AMT",
                        f"Amount {value} for {rtype} {doc_id} is not between 0 and {due} due.",
                    )
        applied = sum(new_apply.values(), Decimal(0))
        credits = sum(new_credit.values(), Decimal(0))
        if applied - credits > amount:
            raise RecordError(
                "INVALID_TRANS_AMT", "The total applied exceeds the payment amount plus credits."
            )
        self._shift(old_apply, "invoice", +1)
        self._shift(old_credit, "creditMemo", +1)
        self._shift(new_apply, "invoice", -1)
        self._shift(new_credit, "creditMemo", -1)
        self._write_lines(rec, "applyList", "apply", new_apply, "invoice")
        self._write_lines(rec, "creditList", "credit", new_credit, "creditMemo")
        self.set_field(rec, "customerPayment", "total", amount)
        self.set_field(rec, "customerPayment", "applied", applied - credits)
        self.set_field(rec, "customerPayment", "unapplied", amount - (applied - credits))
        self.set_field(rec, "customerPayment", "status", "Not Deposited")

    def _sent_lines(self, lst: etree._Element | None, old: dict[str, Decimal]) -> dict[str, Decimal]:
        """The lines a write asks for: ``replaceAll="false"`` keeps the lines it does not mention."""
        if lst is None:
            return old
        sent = self._lines_from(lst)
        return {**old, **sent} if lst.get("replaceAll") == "false" else sent

    def _lines_from(self, lst: etree._Element | None) -> dict[str, Decimal]:
        holder = etree.Element("holder")
        if lst is not None:
            holder.append(copy.deepcopy(lst))
            holder[0].tag = self._tag("customerPayment", "applyList")
        return self._lines(holder, "applyList")

    def _shift(self, lines: Mapping[str, Decimal], rtype: str, sign: int) -> None:
        """Give back (+1) or take (-1) open amounts of the documents a payment applies."""
        for doc_id, value in lines.items():
            doc = self.records[rtype].get(doc_id)
            if doc is None:
                continue
            doc = copy.deepcopy(doc)
            remaining = self.money(doc, rtype, "amountRemaining") + sign * value
            paid_field = "amountPaid" if rtype == "invoice" else "applied"
            self.set_field(doc, rtype, "amountRemaining", remaining)
            self.set_field(doc, rtype, paid_field, self.money(doc, rtype, paid_field) - sign * value)
            if rtype == "creditMemo":
                self.set_field(doc, rtype, "unapplied", remaining)
            done = "Paid In Full" if rtype == "invoice" else "Fully Applied"
            self.set_field(doc, rtype, "status", done if remaining == 0 else "Open")
            self.put(rtype, doc)

    def _write_lines(
        self, rec: etree._Element, list_name: str, line_name: str, lines: Mapping[str, Decimal], rtype: str
    ) -> None:
        tag = self._tag("customerPayment", list_name)
        old = rec.find(tag)
        if old is not None:
            rec.remove(old)
        if not lines:
            return
        lst = etree.SubElement(rec, tag)
        line_type = "ApplyList" if list_name == "applyList" else "CreditList"
        for doc_id, value in lines.items():
            doc = self.records[rtype][doc_id]
            line = etree.SubElement(lst, self._tag("customerPayment", line_name))
            values: list[tuple[str, str | None]] = [
                ("apply", "true"),
                ("doc", doc_id),
                ("type", "Invoice" if rtype == "invoice" else "Credit Memo"),
                ("refNum", self.text(doc, rtype, "tranId")),
                ("total", self.text(doc, rtype, "total")),
                ("due", fmt_money(self.money(doc, rtype, "amountRemaining") + value)),
                ("currency", self.text(doc, rtype, "currencyName")),
                ("amount", fmt_money(value)),
            ]
            order = self.types.order(
                self.ns.customers, "CustomerPayment" + ("Apply" if line_type == "ApplyList" else "Credit")
            )
            for name, text in sorted(values, key=lambda v: order.index(v[0])):
                if text is not None:
                    etree.SubElement(line, self._tag("customerPayment", name)).text = text
        self._reorder(rec, "customerPayment")
