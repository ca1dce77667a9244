"""One QuickBooks company: its records and the bookkeeping rules QuickBooks applies on every write.

Records are kept in Intuit's JSON shape (money as ``Decimal``). Every write goes through this
class so that SyncToken, ``MetaData.LastUpdatedTime``, balances, the ordering index, CDC
tombstones and change notifications stay consistent.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Callable, Iterator, MutableMapping
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from sandboxes.quickbooks import query as q
from sandboxes.quickbooks import schema
from sandboxes.quickbooks.faults import (
    QboFault,
    business_rule,
    invalid_reference,
    object_not_found,
    required_param,
    stale_object,
    unsupported_operation,
)

CENT = Decimal("0.01")
CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_OBJECTS = 1000

# The company's custom-field settings: the legacy API exposes at most three String fields.
DEFAULT_CUSTOM_FIELDS: dict[str, str] = {
    "1": "Collections Status",
    "2": "Dunning Level",
    "3": "Promise To Pay",
}

ChangeListener = Callable[[str, str, str, str], None]
Record = dict[str, Any]


def money(value: Any) -> Decimal:
    """A money amount rounded to cents."""
    return Decimal(str(value)).quantize(CENT)


class Table(MutableMapping[str, Record]):
    """Records of one entity by Id; optionally backed by a generator for large seeds.

    A generated record is built on each read until it is written, so 100k invoices cost only
    their index entries. Callers that change a record must store it back (``table[id] = rec``).
    """

    def __init__(self, base: range = range(0), factory: Callable[[int], Record] | None = None) -> None:
        self._base = base
        self._factory = factory
        self._stored: dict[str, Record] = {}
        self._removed: set[str] = set()

    def _in_base(self, key: str) -> bool:
        return key.isdigit() and int(key) in self._base and key not in self._removed

    def __getitem__(self, key: str) -> Record:
        if key in self._stored:
            return self._stored[key]
        if self._factory is not None and self._in_base(key):
            return self._factory(int(key))
        raise KeyError(key)

    def __setitem__(self, key: str, value: Record) -> None:
        self._stored[key] = value

    def __delitem__(self, key: str) -> None:
        found = key in self._stored or self._in_base(key)
        self._stored.pop(key, None)
        if not found:
            raise KeyError(key)
        if key.isdigit() and int(key) in self._base:
            self._removed.add(key)

    def __iter__(self) -> Iterator[str]:
        for number in self._base:
            key = str(number)
            if key not in self._removed:
                yield key
        for key in self._stored:
            if not (key.isdigit() and int(key) in self._base):
                yield key

    def __len__(self) -> int:
        extra = sum(1 for key in self._stored if not (key.isdigit() and int(key) in self._base))
        return len(self._base) - len(self._removed) + extra

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (
            key in self._stored or (self._factory is not None and self._in_base(key))
        )


class Company:
    """The state of one realm and the QuickBooks rules for changing it.

    Args:
        clock: returns the current time (timezone-aware); injected so tests control aging and expiry.
        tz: the company's time zone; QuickBooks stamps ``MetaData`` in company-local time.
        realm_id: the company id.
        intuit: Intuit's schema, which every written body must follow.
    """

    def __init__(
        self, clock: Callable[[], datetime], tz: tzinfo, realm_id: str, intuit: schema.IntuitSchema
    ) -> None:
        self.clock = clock
        self.intuit = intuit
        self.tz = tz
        self.realm_id = realm_id
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {name: Table() for name in schema.ENTITIES}
        # Per entity, (LastUpdatedTime as epoch seconds, numeric Id) kept sorted: incremental
        # queries and CDC slice it instead of scanning every record.
        self.order: dict[str, list[tuple[float, int]]] = {name: [] for name in schema.ENTITIES}
        self.tombstones: dict[str, dict[str, str]] = {name: {} for name in schema.TRANSACTIONS}
        self.custom_fields = dict(DEFAULT_CUSTOM_FIELDS)
        self.next_txn_id = 1
        self.next_list_id: dict[str, int] = {"Customer": 1, "Term": 1}
        self.next_doc_number = 1001
        self.listeners: list[ChangeListener] = []

    # ----------------------------------------------------------------- time and bookkeeping

    def now(self) -> datetime:
        """The clock's current time in the company's time zone."""
        return self.clock().astimezone(self.tz)

    def stamp(self, when: datetime | None = None) -> str:
        """A ``MetaData`` timestamp the way QuickBooks writes it (company-local, whole seconds)."""
        return (when or self.now()).astimezone(self.tz).replace(microsecond=0).isoformat()

    def today(self) -> str:
        """Today's date in the company's time zone."""
        return self.now().date().isoformat()

    def new_id(self, entity: str) -> str:
        """Allocate an Id: transactions share one sequence, each list has its own (as in QuickBooks)."""
        if entity in schema.TRANSACTIONS:
            value = self.next_txn_id
            self.next_txn_id += 1
        else:
            value = self.next_list_id.get(entity, 1)
            self.next_list_id[entity] = value + 1
        return str(value)

    @staticmethod
    def _epoch(stamp: str) -> float:
        return datetime.fromisoformat(stamp).timestamp()

    def index_add(self, entity: str, ident: str, stamp: str) -> None:
        """Enter a record in the LastUpdatedTime index."""
        bisect.insort(self.order[entity], (self._epoch(stamp), int(ident)))

    def _index_remove(self, entity: str, ident: str, stamp: str) -> None:
        entries = self.order[entity]
        key = (self._epoch(stamp), int(ident))
        pos = bisect.bisect_left(entries, key)
        if pos < len(entries) and entries[pos] == key:
            del entries[pos]

    def put(self, entity: str, record: Record, *, old_stamp: str | None = None) -> None:
        """Store a record and keep the index in step (``old_stamp``: its LastUpdatedTime before the write)."""
        ident = record["Id"]
        if old_stamp is not None:
            self._index_remove(entity, ident, old_stamp)
        self.tables[entity][ident] = record
        self.index_add(entity, ident, record["MetaData"]["LastUpdatedTime"])

    def _bump(self, entity: str, record: Record, operation: str = "Update") -> None:
        """A change QuickBooks records: next SyncToken, new LastUpdatedTime, a notification."""
        old = record["MetaData"]["LastUpdatedTime"]
        record["SyncToken"] = str(int(record.get("SyncToken") or 0) + 1)
        record["MetaData"]["LastUpdatedTime"] = self.stamp()
        self.put(entity, record, old_stamp=old)
        self._notify(entity, record["Id"], operation, record["MetaData"]["LastUpdatedTime"])

    def _notify(self, entity: str, ident: str, operation: str, stamp: str) -> None:
        for listener in self.listeners:
            listener(entity, ident, operation, stamp)

    def get(self, entity: str, ident: str) -> Record:
        """A stored record (not a copy).

        Raises:
            QboFault: 610 Object Not Found.
        """
        table = self.tables[entity]
        if ident not in table:
            deleted = entity in self.tombstones and ident in self.tombstones[entity]
            raise object_not_found(entity, ident, deleted=deleted)
        return table[ident]

    def touch(self, entity: str, ident: str) -> Record:
        """Change a record the way a user editing it in QuickBooks would (new SyncToken and time)."""
        with self.lock:
            record = copy.deepcopy(self.get(entity, ident))
            self._bump(entity, record)
            return copy.deepcopy(record)

    # ----------------------------------------------------------------- reads

    def run_query(self, query: q.Query) -> tuple[list[Record], int]:
        """Records matching a parsed query, one page of them, and the count of all matches.

        The count is only computed for ``COUNT(*)``; for ``SELECT *`` it is the page length.
        """
        with self.lock:
            entity = query.entity
            conditions = list(query.conditions)
            if entity in schema.LIST_ENTITIES and not query.mentions("Active"):
                # QuickBooks hides inactive list entries unless the query asks about Active.
                conditions.append(q.Condition("Active", "=", (True,), "boolean"))
            if entity not in schema.LIST_ENTITIES:
                conditions = [c for c in conditions if c.field != "Active"]
            keys = self._candidate_ids(query, conditions)
            rest = [c for c in conditions if not self._indexed(query, c)]
            table = self.tables[entity]

            def matching() -> Iterator[Record]:
                for ident in keys:
                    if ident not in table:
                        continue
                    record = table[ident]
                    if all(q.matches(record, c, self.tz) for c in rest):
                        yield record

            if query.count:
                return [], sum(1 for _ in matching())
            page: list[Record] = []
            skip = query.start_position - 1
            for record in matching():
                if skip:
                    skip -= 1
                    continue
                page.append(copy.deepcopy(record))
                if len(page) >= query.max_results:
                    break
            return page, len(page)

    @staticmethod
    def _indexed(query: q.Query, cond: q.Condition) -> bool:
        return (
            query.order_by in (None, "MetaData.LastUpdatedTime")
            and cond.field == "MetaData.LastUpdatedTime"
            and cond.op in (">", ">=", "<", "<=")
        )

    def _candidate_ids(self, query: q.Query, conditions: list[q.Condition]) -> list[str]:
        """Ids in result order, narrowed by the LastUpdatedTime index when the query allows it."""
        entity = query.entity
        if query.order_by is None and not any(self._indexed(query, c) for c in conditions):
            ids = list(self.tables[entity])  # insertion order is Id order: Ids only grow
            return ids[::-1] if query.descending else ids
        if query.order_by in (None, "MetaData.LastUpdatedTime"):
            entries = self.order[entity]
            lo, hi = 0, len(entries)
            for cond in conditions:
                if not self._indexed(query, cond):
                    continue
                bound = q.parse_datetime(str(cond.values[0]), self.tz).timestamp()
                if cond.op == ">":
                    lo = max(lo, bisect.bisect_right(entries, (bound, float("inf"))))
                elif cond.op == ">=":
                    lo = max(lo, bisect.bisect_left(entries, (bound, -1)))
                elif cond.op == "<":
                    hi = min(hi, bisect.bisect_left(entries, (bound, -1)))
                else:
                    hi = min(hi, bisect.bisect_right(entries, (bound, float("inf"))))
            selected = [str(ident) for _, ident in entries[lo:hi]] if lo < hi else []
            return selected[::-1] if query.descending else selected
        # Any other ORDERBY: sort the full table (small lists; large seeds order by time or Id).
        table = self.tables[entity]
        kind = query.order_family
        records = [(ident, table[ident]) for ident in table]

        def sort_key(item: tuple[str, Record]) -> tuple[int, Any, int]:
            value = q.resolve(item[1], query.order_by or "Id")
            if value is None:
                return (1, "", int(item[0]))
            if kind in ("decimal", "integer"):
                return (0, Decimal(str(value)), int(item[0]))
            return (0, str(value), int(item[0]))

        records.sort(key=sort_key, reverse=query.descending)
        return [ident for ident, _ in records]

    def change_data_capture(self, entities: list[str], since: datetime) -> list[tuple[str, list[Record]]]:
        """Changed and deleted records per entity since a time, oldest first, 1,000 objects at most.

        Raises:
            QboFault: the look-back is older than 30 days, or an entity is unknown.
        """
        with self.lock:
            if since < self.now() - CDC_LOOKBACK:
                raise QboFault(
                    "4001",
                    "Invalid query",
                    "QueryValidationError: changedSince is more than 30 days ago; "
                    "CDC looks back 30 days at most",
                    element="changedSince",
                )
            changes: list[tuple[float, int, str, Record]] = []
            bound = since.timestamp()
            for entity in entities:
                entries = self.order[entity]
                start = bisect.bisect_left(entries, (bound, -1))
                table = self.tables[entity]
                for stamp, ident in entries[start:]:
                    changes.append((stamp, int(ident), entity, copy.deepcopy(table[str(ident)])))
                for ident_s, deleted_at in self.tombstones.get(entity, {}).items():
                    stamp = self._epoch(deleted_at)
                    if stamp >= bound:
                        tomb = {
                            "domain": "QBO",
                            "status": "Deleted",
                            "Id": ident_s,
                            "MetaData": {"LastUpdatedTime": deleted_at},
                        }
                        changes.append((stamp, int(ident_s), entity, tomb))
            changes.sort(key=lambda change: (change[0], change[1]))
            changes = changes[:CDC_MAX_OBJECTS]
            out: list[tuple[str, list[Record]]] = []
            for entity in entities:
                out.append((entity, [c[3] for c in changes if c[2] == entity]))
            return out

    # ----------------------------------------------------------------- writes

    def save(
        self, entity: str, body: Record, *, operation: str | None = None, include: str | None = None
    ) -> Record:
        """Create, update, delete or void one record from a request body, as ``POST /{entity}`` does.

        Args:
            entity: the entity name (``"Invoice"``).
            body: the decoded JSON body (already unwrapped from ``{"Invoice": ...}`` if it was).
            operation: the ``operation`` query parameter (``delete``, ``void``, ``update``) if any.
            include: the ``include`` query parameter (``void`` for Payment voids).

        Returns:
            The record as QuickBooks answers with it.

        Raises:
            QboFault: whatever QuickBooks would refuse.
        """
        if entity not in schema.WRITABLE:
            raise unsupported_operation(f"Create/Update {entity}")
        self.intuit.validate(entity, body, entity=True)
        with self.lock:
            if operation == "delete":
                return self._delete(entity, body)
            if operation == "void" or include == "void":
                return self._void(entity, body)
            ident = body.get("Id")
            if ident in (None, ""):
                return self._create(entity, body)
            return self._update(entity, body)

    def _writable(self, entity: str, body: Record) -> Record:
        """The body without the attributes and the read-only fields QuickBooks ignores on input."""
        ignored = schema.READ_ONLY.get(entity, frozenset()) | {
            "Id",
            "SyncToken",
            "domain",
            "sparse",
            "status",
        }
        return {k: v for k, v in body.items() if k not in ignored and v not in (None, "")}

    def _meta(self) -> Record:
        stamp = self.stamp()
        return {"CreateTime": stamp, "LastUpdatedTime": stamp}

    def _create(self, entity: str, body: Record) -> Record:
        data = self._writable(entity, body)
        record: Record
        if entity == "Customer":
            record = self._new_customer(data)
        elif entity in ("Invoice", "CreditMemo"):
            record = self._new_sales_doc(entity, data)
        else:
            record = self._new_payment(data)
        self.put(entity, record)
        self._notify(entity, record["Id"], "Create", record["MetaData"]["LastUpdatedTime"])
        return copy.deepcopy(record)

    def _check_sync_token(self, entity: str, body: Record, current: Record) -> None:
        token = body.get("SyncToken")
        if token in (None, ""):
            raise required_param("SyncToken")
        if str(token) != str(current.get("SyncToken")):
            raise stale_object(entity)

    def _update(self, entity: str, body: Record) -> Record:
        current = self.get(entity, str(body["Id"]))
        self._check_sync_token(entity, body, current)
        old_stamp = current["MetaData"]["LastUpdatedTime"]
        record = copy.deepcopy(current)
        data = self._writable(entity, body)
        sparse = body.get("sparse") in (True, "true")
        if entity == "Customer":
            self._update_customer(record, data, sparse)
        elif entity in ("Invoice", "CreditMemo"):
            self._update_sales_doc(entity, record, data, sparse)
        else:
            self._update_payment(record, data, sparse)
        record["SyncToken"] = str(int(record["SyncToken"]) + 1)
        record["MetaData"]["LastUpdatedTime"] = self.stamp()
        self.put(entity, record, old_stamp=old_stamp)
        self._notify(entity, record["Id"], "Update", record["MetaData"]["LastUpdatedTime"])
        return copy.deepcopy(record)

    def _delete(self, entity: str, body: Record) -> Record:
        if entity not in schema.TRANSACTIONS:
            raise unsupported_operation(f"Delete {entity}")  # lists are only made inactive
        ident = str(body.get("Id") or "")
        if not ident:
            raise required_param("Id")
        current = self.get(entity, ident)
        self._check_sync_token(entity, body, current)
        if entity == "Payment":
            self._unapply_payment(current)
        else:
            self._unlink_from_payments(entity, current)
            current = self.get(entity, ident)
            sign = 1 if entity == "Invoice" else -1
            self._adjust_customer(current["CustomerRef"]["value"], -sign * money(current.get("Balance", 0)))
        self._index_remove(entity, ident, current["MetaData"]["LastUpdatedTime"])
        del self.tables[entity][ident]
        stamp = self.stamp()
        self.tombstones[entity][ident] = stamp
        self._notify(entity, ident, "Delete", stamp)
        return {"domain": "QBO", "status": "Deleted", "Id": ident}

    def _void(self, entity: str, body: Record) -> Record:
        if entity not in ("Invoice", "Payment"):
            raise unsupported_operation(f"Void {entity}")
        ident = str(body.get("Id") or "")
        if not ident:
            raise required_param("Id")
        current = self.get(entity, ident)
        self._check_sync_token(entity, body, current)
        record = copy.deepcopy(current)
        if entity == "Payment":
            self._unapply_payment(record)
            record["Line"] = []
            record["TotalAmt"] = Decimal("0.00")
            record["UnappliedAmt"] = Decimal("0.00")
        else:
            self._unlink_from_payments(entity, record)
            record = copy.deepcopy(self.get(entity, ident))  # unlinking changed its balance and links
            self._adjust_customer(record["CustomerRef"]["value"], -money(record.get("Balance", 0)))
            for line in record.get("Line", []):
                line["Amount"] = Decimal("0.00")
            record["TotalAmt"] = Decimal("0.00")
            record["Balance"] = Decimal("0.00")
        record["PrivateNote"] = "Voided"
        self._bump(entity, record, "Void")
        return copy.deepcopy(record)

    # ----------------------------------------------------------------- customers

    def _check_name_unique(self, name: str, ident: str | None) -> None:
        for other_id in self.tables["Customer"]:
            other = self.tables["Customer"][other_id]
            if other_id != ident and str(other.get("DisplayName", "")).lower() == name.lower():
                raise QboFault(
                    "6240",
                    "Duplicate Name Exists Error",
                    "The name supplied already exists. : Another customer, vendor or employee is already "
                    "using this name. Please use a different name.",
                )

    def _check_term(self, data: Record) -> None:
        ref = data.get("SalesTermRef")
        if ref and str(ref.get("value")) not in self.tables["Term"]:
            raise invalid_reference("SalesTermRef", str(ref.get("value")))

    def _new_customer(self, data: Record) -> Record:
        names = [str(data.get(k, "")) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
        display = str(data.get("DisplayName") or " ".join(n for n in names if n)).strip()
        if not display:
            raise QboFault(
                "6080",
                "No Name Provided",
                "Title, GivenName, MiddleName, FamilyName, DisplayName, Suffix - "
                "one of these must be non-empty",
            )
        self._check_name_unique(display, None)
        self._check_term(data)
        record: Record = {
            "domain": "QBO",
            "sparse": False,
            "Id": self.new_id("Customer"),
            "SyncToken": "0",
            "MetaData": self._meta(),
        }
        record.update(data)
        record["DisplayName"] = display
        record.setdefault("FullyQualifiedName", display)
        record.setdefault("PrintOnCheckName", data.get("CompanyName", display))
        record.setdefault("Active", True)
        record.setdefault("Taxable", False)
        record.setdefault("Job", False)
        record.setdefault("BillWithParent", False)
        record["Balance"] = Decimal("0.00")
        record["BalanceWithJobs"] = Decimal("0.00")
        record.setdefault("CurrencyRef", {"value": "USD", "name": "United States Dollar"})
        record.setdefault("PreferredDeliveryMethod", "Email")
        record.setdefault("IsProject", False)
        return record

    def _update_customer(self, record: Record, data: Record, sparse: bool) -> None:
        if "DisplayName" in data:
            self._check_name_unique(str(data["DisplayName"]), record["Id"])
        self._check_term(data)
        if not sparse:
            keep = {
                "domain",
                "sparse",
                "Id",
                "SyncToken",
                "MetaData",
                "Balance",
                "BalanceWithJobs",
                "DisplayName",
                "FullyQualifiedName",
                "Active",
                "CurrencyRef",
            }
            for key in [k for k in record if k not in keep]:
                del record[key]
        record.update(data)
        if "DisplayName" in data:
            record["FullyQualifiedName"] = data["DisplayName"]

    def _adjust_customer(self, ident: str, delta: Decimal) -> None:
        """Keep Customer.Balance (open invoices minus credits and unapplied payments) in step.

        QuickBooks changes the balance without a new SyncToken or LastUpdatedTime on the customer.
        """
        if not delta or ident not in self.tables["Customer"]:
            return
        customer = self.tables["Customer"][ident]
        customer["Balance"] = money(customer.get("Balance", 0)) + delta
        customer["BalanceWithJobs"] = customer["Balance"]
        self.tables["Customer"][ident] = customer

    def _customer_for(self, data: Record) -> Record:
        ref = data.get("CustomerRef")
        if not ref or not ref.get("value"):
            raise required_param("CustomerRef")
        ident = str(ref["value"])
        if ident not in self.tables["Customer"]:
            raise invalid_reference("CustomerRef", ident)
        customer = self.tables["Customer"][ident]
        if not customer.get("Active", True):
            raise object_not_found("Customer", ident)
        return customer

    # ----------------------------------------------------------------- invoices and credit memos

    def _custom_fields(self, current: list[Record] | None, incoming: list[Record] | None) -> list[Record]:
        values = {
            str(cf["DefinitionId"]): cf.get("StringValue") for cf in current or [] if cf.get("StringValue")
        }
        for index, cf in enumerate(incoming or []):
            definition = str(cf.get("DefinitionId") or "")
            if definition not in self.custom_fields:
                raise QboFault(
                    "2010",
                    "Request has invalid or unsupported property",
                    f"Property Name:CustomField DefinitionId {definition!r} is not defined in the company's "
                    "sales form settings specified is unsupported or invalid",
                    element=f"CustomField[{index}].DefinitionId",
                )
            if cf.get("Type") not in (None, "", "StringType"):
                raise QboFault(
                    "2010",
                    "Request has invalid or unsupported property",
                    f"Property Name:CustomField {definition} is a StringType field, got {cf.get('Type')} "
                    "specified is unsupported or invalid",
                    element=f"CustomField[{index}].Type",
                )
            if cf.get("StringValue") in (None, ""):
                values.pop(definition, None)
            else:
                values[definition] = str(cf["StringValue"])
        out: list[Record] = []
        for definition, name in self.custom_fields.items():
            entry: Record = {"DefinitionId": definition, "Name": name, "Type": "StringType"}
            if definition in values:
                entry["StringValue"] = values[definition]
            out.append(entry)
        return out

    def _lines(self, lines: Any) -> tuple[list[Record], Decimal]:
        """Number the lines and compute the document total the way QuickBooks does."""
        if not lines:
            raise required_param("Line")
        out: list[Record] = []
        subtotal = Decimal("0.00")
        discount = Decimal("0.00")
        for index, raw in enumerate(lines):
            line = copy.deepcopy(raw)
            detail = line.get("DetailType")
            where = f"Line[{index}]"
            if not detail:
                raise required_param(f"{where}.DetailType")
            if detail == "SubTotalLineDetail":
                continue  # recomputed below
            if detail not in ("SalesItemLineDetail", "DiscountLineDetail", "DescriptionOnly"):
                raise business_rule(f"{detail} lines are not supported on this transaction", where)
            if detail != "DescriptionOnly" and not isinstance(line.get(detail), dict):
                raise required_param(f"{where}.{detail}")
            if detail == "SalesItemLineDetail":
                if line.get("Amount") in (None, ""):
                    raise required_param(f"{where}.Amount")
                amount = money(line["Amount"])
                item = line[detail]
                # python-quickbooks sends Qty 0 and UnitPrice 0 when they are not set; QuickBooks
                # checks the product only when both are given.
                if _given(item.get("Qty")) and _given(item.get("UnitPrice")):
                    expected = money(Decimal(str(item["Qty"])) * Decimal(str(item["UnitPrice"])))
                    if expected != amount:
                        raise QboFault(
                            "6070",
                            "Amount calculation incorrect in the request",
                            f"Amount is not equal to Qty * UnitPrice. Supplied value:{amount}",
                            element=f"{where}.Amount",
                        )
                line["Amount"] = amount
                subtotal += amount
            elif detail == "DiscountLineDetail":
                disc = line[detail]
                if disc.get("PercentBased") in (True, "true"):
                    if disc.get("DiscountPercent") in (None, ""):
                        raise QboFault(
                            "6090",
                            "Discount Line missing required info.",
                            "Discount amount or percent should be provided.",
                            element=where,
                        )
                    line["Amount"] = money(subtotal * Decimal(str(disc["DiscountPercent"])) / 100)
                elif line.get("Amount") in (None, ""):
                    raise QboFault(
                        "6090",
                        "Discount Line missing required info.",
                        "Discount amount or percent should be provided.",
                        element=where,
                    )
                else:
                    line["Amount"] = money(line["Amount"])
                discount += line["Amount"]
            else:
                line["Amount"] = money(line.get("Amount") or 0)
            out.append(line)
        if not any(line["DetailType"] == "SalesItemLineDetail" for line in out):
            raise business_rule(
                "You must add at least one line with an amount (SalesItemLineDetail).", "Line"
            )
        numbered: list[Record] = []
        for number, line in enumerate(out, start=1):
            line["Id"] = str(number)
            line["LineNum"] = number
            numbered.append(line)
        numbered.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        for line in numbered:
            if line["DetailType"] == "SubTotalLineDetail":
                line.pop("Id", None)
                line.pop("LineNum", None)
        return numbered, subtotal - discount

    def _due_date(self, txn_date: str, term_ref: Record | None) -> str:
        days = 30
        if term_ref and str(term_ref.get("value")) in self.tables["Term"]:
            days = int(self.tables["Term"][str(term_ref["value"])].get("DueDays") or 0)
        return (datetime.fromisoformat(txn_date) + timedelta(days=days)).date().isoformat()

    def _new_sales_doc(self, entity: str, data: Record) -> Record:
        customer = self._customer_for(data)
        lines, total = self._lines(data.get("Line"))
        tax = money((data.get("TxnTaxDetail") or {}).get("TotalTax") or 0)
        total = total + tax
        if total < 0:
            raise business_rule("The transaction total can't be negative.", "Line")
        self._check_term(data)
        ident = self.new_id(entity)
        record: Record = {
            "domain": "QBO",
            "sparse": False,
            "Id": ident,
            "SyncToken": "0",
            "MetaData": self._meta(),
        }
        record.update(data)
        record["CustomField"] = self._custom_fields(None, data.get("CustomField"))
        if not record.get("DocNumber"):
            record["DocNumber"] = str(self.next_doc_number)
            self.next_doc_number += 1
        record.setdefault("TxnDate", self.today())
        record.setdefault("CurrencyRef", {"value": "USD", "name": "United States Dollar"})
        record["LinkedTxn"] = []
        record["Line"] = lines
        record["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        if "BillEmail" not in record and customer.get("PrimaryEmailAddr"):
            record["BillEmail"] = copy.deepcopy(customer["PrimaryEmailAddr"])
        record["TotalAmt"] = total
        record["Balance"] = total
        record.setdefault("PrintStatus", "NotSet")
        record.setdefault("EmailStatus", "NotSet")
        if entity == "Invoice":
            term = record.get("SalesTermRef") or customer.get("SalesTermRef")
            if term:
                record["SalesTermRef"] = copy.deepcopy(term)
            record.setdefault("DueDate", self._due_date(record["TxnDate"], term))
            record.setdefault("Deposit", Decimal("0"))
            record.setdefault("AllowIPNPayment", False)
            record.setdefault("AllowOnlinePayment", False)
            record.setdefault("AllowOnlineCreditCardPayment", False)
            record.setdefault("AllowOnlineACHPayment", False)
            self._adjust_customer(customer["Id"], total)
        else:
            record["RemainingCredit"] = total
            self._adjust_customer(customer["Id"], -total)
        return record

    def _update_sales_doc(self, entity: str, record: Record, data: Record, sparse: bool) -> None:
        customer_id = record["CustomerRef"]["value"]
        if "CustomerRef" in data and str(data["CustomerRef"].get("value")) != customer_id:
            if record["TotalAmt"] != record["Balance"]:
                raise business_rule(
                    "You can't change the customer of a transaction that has payments applied."
                )
            self._customer_for(data)
        self._check_term(data)
        if not sparse:
            for name in ("CustomerRef", "Line"):
                if name not in data:
                    raise required_param(name)
            keep = {
                "domain",
                "sparse",
                "Id",
                "SyncToken",
                "MetaData",
                "TotalAmt",
                "Balance",
                "RemainingCredit",
                "LinkedTxn",
                "CustomField",
                "DocNumber",
                "TxnDate",
                "CurrencyRef",
                "CustomerRef",
                "Line",
            }
            for key in [k for k in record if k not in keep]:
                del record[key]
        old_total = money(record["TotalAmt"])
        old_balance = money(record["Balance"])
        custom = data.pop("CustomField", None)
        if custom is not None or not sparse:
            record["CustomField"] = self._custom_fields(record.get("CustomField") if sparse else None, custom)
        new_customer = str(data.get("CustomerRef", {}).get("value", customer_id))
        if "Line" in data or "TxnTaxDetail" in data:
            lines, total = self._lines(
                data.get(
                    "Line", [ln for ln in record["Line"] if ln.get("DetailType") != "SubTotalLineDetail"]
                )
            )
            tax_detail = data.get("TxnTaxDetail", record.get("TxnTaxDetail")) or {}
            total += money(tax_detail.get("TotalTax") or 0)
            settled = old_total - old_balance
            if total < settled:
                raise business_rule(
                    f"The transaction total {total} is less than the {settled} already applied to it.", "Line"
                )
            data["Line"] = lines
            data["TotalAmt"] = total
            data["Balance"] = total - settled
            if entity == "CreditMemo":
                data["RemainingCredit"] = data["Balance"]
        record.update(data)
        if "CustomerRef" in data:
            record["CustomerRef"] = {
                "value": new_customer,
                "name": self.tables["Customer"][new_customer]["DisplayName"],
            }
        sign = 1 if entity == "Invoice" else -1
        self._adjust_customer(customer_id, -sign * old_balance)
        self._adjust_customer(new_customer, sign * money(record["Balance"]))

    def _unlink_from_payments(self, entity: str, doc: Record) -> None:
        """Deleting or voiding a document leaves the payments that were applied to it unapplied."""
        sign = 1 if entity == "Invoice" else -1
        for link in list(doc.get("LinkedTxn", [])):
            if link.get("TxnType") != "Payment" or link["TxnId"] not in self.tables["Payment"]:
                continue
            payment = copy.deepcopy(self.tables["Payment"][link["TxnId"]])
            kept, released = [], Decimal("0.00")
            for line in payment.get("Line", []):
                if any(t.get("TxnId") == doc["Id"] for t in line.get("LinkedTxn", [])):
                    released += sign * money(line["Amount"])
                    self._release_line(entity, doc["Id"], payment["Id"], money(line["Amount"]))
                else:
                    kept.append(line)
            payment["Line"] = kept
            payment["UnappliedAmt"] = money(payment["UnappliedAmt"]) + released
            self._adjust_customer(payment["CustomerRef"]["value"], -released)
            self._bump("Payment", payment)

    def _release_line(self, entity: str, doc_id: str, payment_id: str, amount: Decimal) -> None:
        """Give a payment line's amount back to the document it was applied to."""
        current = copy.deepcopy(self.tables[entity][doc_id])
        current["Balance"] = money(current["Balance"]) + amount
        if entity == "CreditMemo":
            current["RemainingCredit"] = current["Balance"]
        current["LinkedTxn"] = [t for t in current.get("LinkedTxn", []) if t.get("TxnId") != payment_id]
        self.tables[entity][doc_id] = current
        self._adjust_customer(current["CustomerRef"]["value"], (1 if entity == "Invoice" else -1) * amount)

    # ----------------------------------------------------------------- payments

    def _applications(self, customer_id: str, lines: Any) -> list[tuple[str, str, Decimal]]:
        """Check payment lines: (TxnType, TxnId, amount) per line, each against an open document."""
        applications: list[tuple[str, str, Decimal]] = []
        for index, line in enumerate(lines or []):
            where = f"Line[{index}]"
            links = line.get("LinkedTxn") or []
            if len(links) != 1:
                raise business_rule("Each payment line must link exactly one Invoice or CreditMemo.", where)
            link = links[0]
            txn_type, txn_id = str(link.get("TxnType") or ""), str(link.get("TxnId") or "")
            if txn_type not in ("Invoice", "CreditMemo"):
                raise business_rule(f"A payment can't be linked to a {txn_type or 'missing type'}.", where)
            if line.get("Amount") in (None, ""):
                raise required_param(f"{where}.Amount")
            amount = money(line["Amount"])
            if amount <= 0:
                raise business_rule("A payment line amount must be greater than zero.", f"{where}.Amount")
            doc = self.get(txn_type, txn_id)
            if doc["CustomerRef"]["value"] != customer_id:
                raise business_rule(f"{txn_type} {txn_id} belongs to another customer.", where)
            applications.append((txn_type, txn_id, amount))
        return applications

    def _apply(self, payment_id: str, customer_id: str, applications: list[tuple[str, str, Decimal]]) -> None:
        totals: dict[tuple[str, str], Decimal] = {}
        for txn_type, txn_id, amount in applications:
            totals[(txn_type, txn_id)] = totals.get((txn_type, txn_id), Decimal("0")) + amount
        for (txn_type, txn_id), amount in totals.items():
            doc = self.get(txn_type, txn_id)
            open_amount = money(doc["Balance"])
            if amount > open_amount:
                raise business_rule(
                    f"The amount applied to {txn_type} {doc.get('DocNumber', txn_id)} ({amount}) "
                    "is more than "
                    f"its open balance ({open_amount}).",
                    "Line",
                )
        for (txn_type, txn_id), amount in totals.items():
            doc = copy.deepcopy(self.get(txn_type, txn_id))
            doc["Balance"] = money(doc["Balance"]) - amount
            if txn_type == "CreditMemo":
                doc["RemainingCredit"] = doc["Balance"]
            links = doc.setdefault("LinkedTxn", [])
            if not any(link.get("TxnId") == payment_id for link in links):
                links.append({"TxnId": payment_id, "TxnType": "Payment"})
            self._bump(txn_type, doc)

    def _unapply_payment(self, payment: Record) -> None:
        """Reverse a payment's applications (before deleting, voiding or re-applying it)."""
        for line in payment.get("Line", []):
            for link in line.get("LinkedTxn", []):
                txn_type, txn_id = link.get("TxnType"), str(link.get("TxnId"))
                if txn_type not in ("Invoice", "CreditMemo") or txn_id not in self.tables[txn_type]:
                    continue
                doc = copy.deepcopy(self.tables[txn_type][txn_id])
                doc["Balance"] = money(doc["Balance"]) + money(line["Amount"])
                if txn_type == "CreditMemo":
                    doc["RemainingCredit"] = doc["Balance"]
                doc["LinkedTxn"] = [t for t in doc.get("LinkedTxn", []) if t.get("TxnId") != payment["Id"]]
                self._bump(txn_type, doc)
        self._adjust_customer(payment["CustomerRef"]["value"], money(payment.get("TotalAmt") or 0))

    @staticmethod
    def _unapplied(total: Decimal, applications: list[tuple[str, str, Decimal]]) -> Decimal:
        applied = sum((a for t, _, a in applications if t == "Invoice"), Decimal("0"))
        credits = sum((a for t, _, a in applications if t == "CreditMemo"), Decimal("0"))
        return total - applied + credits

    def _payment_lines(self, applications: list[tuple[str, str, Decimal]]) -> list[Record]:
        return [
            {"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": txn_type}]}
            for txn_type, txn_id, amount in applications
        ]

    def _new_payment(self, data: Record) -> Record:
        customer = self._customer_for(data)
        if data.get("TotalAmt") in (None, ""):
            raise business_rule("You must set a transaction amount.", "TotalAmt")
        total = money(data["TotalAmt"])
        if total < 0:
            raise business_rule("The payment amount can't be negative.", "TotalAmt")
        applications = self._applications(customer["Id"], data.get("Line"))
        unapplied = self._unapplied(total, applications)
        if unapplied < 0:
            raise business_rule("The amounts applied are more than the payment amount.", "Line")
        ident = self.new_id("Payment")
        self._apply(ident, customer["Id"], applications)
        record: Record = {
            "domain": "QBO",
            "sparse": False,
            "Id": ident,
            "SyncToken": "0",
            "MetaData": self._meta(),
        }
        record.update(data)
        record.setdefault("TxnDate", self.today())
        record.setdefault("CurrencyRef", {"value": "USD", "name": "United States Dollar"})
        record["Line"] = self._payment_lines(applications)
        record["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        record["TotalAmt"] = total
        record["UnappliedAmt"] = unapplied
        record.setdefault("ProcessPayment", False)
        self._adjust_customer(customer["Id"], -total)
        return record

    def _update_payment(self, record: Record, data: Record, sparse: bool) -> None:
        if not sparse and "CustomerRef" not in data:
            raise required_param("CustomerRef")
        customer_id = str((data.get("CustomerRef") or record["CustomerRef"]).get("value"))
        if customer_id != record["CustomerRef"]["value"]:
            self._customer_for(data)
        total = money(data.get("TotalAmt", record["TotalAmt"]))
        lines_given = "Line" in data or not sparse
        if lines_given or total != money(record["TotalAmt"]) or customer_id != record["CustomerRef"]["value"]:
            # "Lines can be updated only ALL or NONE": re-apply from scratch.
            self._unapply_payment(record)
            try:
                applications = self._applications(customer_id, data.get("Line", record["Line"]))
                unapplied = self._unapplied(total, applications)
                if unapplied < 0:
                    raise business_rule("The amounts applied are more than the payment amount.", "Line")
                self._apply(record["Id"], customer_id, applications)
            except QboFault:
                old_apps = self._applications(record["CustomerRef"]["value"], record["Line"])
                self._apply(record["Id"], record["CustomerRef"]["value"], old_apps)
                self._adjust_customer(record["CustomerRef"]["value"], -money(record["TotalAmt"]))
                raise
            data["Line"] = self._payment_lines(applications)
            data["UnappliedAmt"] = unapplied
            data["TotalAmt"] = total
            self._adjust_customer(customer_id, -total)
        if not sparse:
            keep = {
                "domain",
                "sparse",
                "Id",
                "SyncToken",
                "MetaData",
                "TotalAmt",
                "UnappliedAmt",
                "Line",
                "CustomerRef",
                "TxnDate",
                "CurrencyRef",
            }
            for key in [k for k in record if k not in keep]:
                del record[key]
        record.update(data)
        if "CustomerRef" in data:
            record["CustomerRef"] = {
                "value": customer_id,
                "name": self.tables["Customer"][customer_id]["DisplayName"],
            }


def _given(value: Any) -> bool:
    return value not in (None, "") and Decimal(str(value)) != 0


def utc_clock() -> datetime:
    """The default clock: the real time in UTC."""
    return datetime.now(UTC)
