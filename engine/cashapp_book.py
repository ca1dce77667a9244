"""The matcher's open documents and customers, kept in the process from one run to the next.

A run that matches what changed needs every open document (a payment that names no customer may
take any customer's) and every customer; reading and indexing them from the store costs more than
matching a thousand payments. So they are kept here after a run, with the mark that run left in the
store, and the next run in this process brings them up to date with the records it finds changed,
exactly as it brings the store's ``cashapp_open_documents`` up to date. They are used only while the
store's mark is the one they were kept with: after another process's run, a full run or a run that
did not finish, they are read from the store again.
"""

from __future__ import annotations

import gc
import threading
from bisect import insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from rules.cashapp import CustomerIndex, DocumentIndex
from rules.cashapp.index import CustomerView
from rules.cashapp.model import OpenDocument, PaymentInput
from rules.cashapp.normalize import number_keys

STREAMS = ("invoices", "credit_memos")
# How many open documents make a book big enough to be kept out of the cycle collector's walk.
FREEZE_AT = 100_000


def _rank(doc: OpenDocument) -> tuple[bool, str]:
    """Where a full read meets a document: invoices, then credit memos, each in id order."""
    return doc.kind != "invoice", doc.doc_id


Probe = tuple[str, str, Decimal, frozenset[str]]
"""A look for one open document of a customer: ``(customer, currency, amount, number keys)``."""

State = tuple[str, str, str, set[Decimal]]
"""A document the ERP changed, before or after: ``(customer, currency, number key, open amounts)``."""

Reads = tuple[frozenset[str], frozenset[str], frozenset[Probe]]
"""What one payment's decision looked at: the customers whose documents it read, the document
numbers (as number keys) it looked up across customers, and the customers it only asked whether
they have an open document of an amount or number (``DocumentIndex.has_open``)."""


@dataclass(slots=True)
class Decided:
    """A payment's last decision, kept while it waits: its next run's pass decides it again only
    when what it read changed (``Reads``), and otherwise takes what it took again."""

    item: PaymentInput
    record: Any
    customer: str | None
    # What its sure application settled on each document ``(document, amount)``, as the matcher
    # consumed it: a pass that does not decide it again consumes the same.
    takes: tuple[tuple[str, Decimal], ...]

    @classmethod
    def of(cls, result: Any, item: PaymentInput, record: Any) -> Decided:
        takes = tuple(
            (a.doc_id, abs(a.amount) + a.discount + a.writeoff)
            for a in (result.applications if result.status == "auto" else ())
        )
        return cls(item, record, result.customer_id, takes)


class WatchedIndex(DocumentIndex):
    """The matcher's open documents, noting what each decision reads and which documents it consumes.

    A waiting payment whose decision read none of what changed since (documents, or what another
    payment took) would be decided the same way again: only the others are matched again.
    """

    def __init__(self, documents: Iterable[OpenDocument] = ()) -> None:
        self._read_customers: set[str] = set()
        self._read_keys: set[str] = set()
        self._probes: set[Probe] = set()
        self._consumed: set[str] = set()
        # The open amounts each document consumed in this run had, from the ERP's on.
        self.amounts: dict[str, set[Decimal]] = {}
        super().__init__(documents)

    def reading(self) -> Reads:
        """What was read since the last call (and forget it)."""
        out = (frozenset(self._read_customers), frozenset(self._read_keys), frozenset(self._probes))
        self._read_customers.clear()
        self._read_keys.clear()
        self._probes.clear()
        return out

    def fresh(self) -> WatchedIndex:
        """This index with every document as open as the ERP says again (what runs consumed undone)."""
        for doc_id in self._consumed:
            doc = self.get(doc_id)
            if doc is not None:
                doc.remaining = doc.open_amount
        self._consumed.clear()
        self.amounts.clear()
        # The views keep which documents are still open: built again from the documents.
        self._customer_views.clear()
        self.reading()
        return self

    def put(self, doc: OpenDocument) -> None:
        """Index a document now open (replacing the one of its id), where a fresh index of all of
        them would have it: its customer's documents and those of its number stay in stream and
        id order, the order the matcher meets them in."""
        self.drop(doc.doc_id)
        self._by_id[doc.doc_id] = doc
        insort(self._by_customer.setdefault(doc.customer_id, []), doc, key=_rank)
        by_key = self._key_index()
        if doc.key:
            found = by_key.get(doc.key)
            if found is None:
                by_key[doc.key] = doc
            elif isinstance(found, list):
                insort(found, doc, key=_rank)
            else:
                by_key[doc.key] = sorted((found, doc), key=_rank)

    def drop(self, doc_id: str) -> None:
        """Forget a document no longer open."""
        by_key = self._key_index()
        doc = self._by_id.pop(doc_id, None)
        if doc is None:
            return
        self._consumed.discard(doc_id)
        bucket = self._by_customer.get(doc.customer_id, [])
        bucket[:] = [d for d in bucket if d is not doc]
        if not bucket:
            self._by_customer.pop(doc.customer_id, None)
        found = by_key.get(doc.key)
        if found is doc:
            del by_key[doc.key]
        elif isinstance(found, list):
            rest = [d for d in found if d is not doc]
            by_key[doc.key] = rest[0] if len(rest) == 1 else rest

    def for_customer(self, customer_id: str) -> list[OpenDocument]:
        self._read_customers.add(customer_id)
        return super().for_customer(customer_id)

    def view(self, customer_id: str, currency: str, as_of: date) -> CustomerView:
        self._read_customers.add(customer_id)
        return super().view(customer_id, currency, as_of)

    def has_open(
        self, customer_id: str, currency: str, amount: Decimal, keys: Iterable[str] = ()
    ) -> OpenDocument | None:
        keys = frozenset(keys)
        self._probes.add((customer_id, currency, amount, keys))
        return super().has_open(customer_id, currency, amount, keys)

    def first_open(
        self, customer_ids: Sequence[str], currency: str, amount: Decimal, keys: Iterable[str] = ()
    ) -> tuple[str, OpenDocument] | None:
        keys = frozenset(keys)
        found = super().first_open(customer_ids, currency, amount, keys)
        # Each customer asked, as has_open of each in turn would note them: up to the first that has one.
        for customer_id in customer_ids:
            self._probes.add((customer_id, currency, amount, keys))
            if found is not None and customer_id == found[0]:
                break
        return found

    def by_key(self, key: str) -> list[OpenDocument]:
        self._read_keys.add(key)
        return super().by_key(key)

    def by_keys(self, keys: Iterable[str]) -> list[OpenDocument]:
        keys = list(keys)
        self._read_keys.update(keys)
        return super().by_keys(keys)

    def consume(self, doc_id: str, settled: Decimal) -> None:
        self._consumed.add(doc_id)
        doc = self.get(doc_id)
        if doc is not None:
            self.amounts.setdefault(doc_id, {doc.open_amount}).add(doc.remaining)
        super().consume(doc_id, settled)
        if doc is not None:
            self.amounts[doc_id].add(doc.remaining)


@dataclass
class KeptBook:
    """The open documents (by stream and id, ids in the order a full read sees them) and customers."""

    mark: dict[str, Any]
    documents: dict[str, dict[str, OpenDocument]]
    order: dict[str, list[str]]
    customers: CustomerIndex | None = None
    # The learned aliases' digest ``customers`` was built with.
    aliases: str | None = None
    # What the decision of each payment or statement line still waiting read (see ``WatchedIndex``).
    reads: dict[str, Reads] = field(default_factory=dict)
    # The last decision of each ERP payment still waiting that has its ``reads``.
    decided: dict[str, Decided] = field(default_factory=dict)
    # The matcher's index of the documents, once built: kept up to date from then on.
    _index: WatchedIndex | None = None
    _added: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, mark: dict[str, Any], documents: Iterable[tuple[str, OpenDocument]]) -> KeptBook:
        """A book of these ``(stream, document)``, in step with ``mark``."""
        by: dict[str, dict[str, OpenDocument]] = {s: {} for s in STREAMS}
        for stream, doc in documents:
            by[stream][doc.doc_id] = doc
        return cls(mark, by, {s: sorted(docs) for s, docs in by.items()})

    def apply(
        self, opened: Iterable[tuple[str, OpenDocument]], closed: Iterable[tuple[str, str]]
    ) -> list[State]:
        """Bring the documents up to date: those now open replace what was kept, the closed go.

        Returns each changed document as it was kept and as it is now, with every open amount it
        had in the last run.
        """
        states: list[State] = []
        opened = list(opened)
        fresh = [doc for _, doc in opened if not doc.key]
        for doc, key in zip(fresh, number_keys([d.number for d in fresh]), strict=True):
            doc.key = key
        for stream, doc in opened:
            docs = self.documents[stream]
            old = docs.get(doc.doc_id)
            if old is not None:
                states.append(self._state(old))
            elif self._index is None:
                self._added.setdefault(stream, []).append(doc.doc_id)
            states.append(self._state(doc))
            docs[doc.doc_id] = doc
            if self._index is not None:
                self._index.put(doc)
        gone: dict[str, set[str]] = {}
        for stream, rid in closed:
            old = self.documents.get(stream, {}).pop(rid, None)
            if old is not None:
                gone.setdefault(stream, set()).add(rid)
                states.append(self._state(old))
                if self._index is not None:
                    self._index.drop(rid)
        for stream, ids in gone.items():
            if self._index is not None:
                break
            self.order[stream] = [i for i in self.order[stream] if i not in ids]
            self._added[stream] = [i for i in self._added.get(stream, []) if i not in ids]
        return states

    def _state(self, doc: OpenDocument) -> State:
        # The last run's applications may have consumed it: every amount it was open for counts.
        amounts = {doc.open_amount, doc.remaining}
        if self._index is not None:
            amounts |= self._index.amounts.get(doc.doc_id, set())
        return doc.customer_id, doc.currency, doc.key, amounts

    def get(self, doc_id: str) -> OpenDocument | None:
        """The open document with this id, of either stream."""
        for docs in self.documents.values():
            if doc_id in docs:
                return docs[doc_id]
        return None

    def index(self) -> WatchedIndex:
        """A fresh index of the open documents, each with all of its open amount (the last run's
        applications consumed some) and in the order a full read gives them.

        Built once; later runs find it brought up to date with the documents that changed."""
        if self._index is not None:
            return self._index.fresh()
        for stream, added in self._added.items():
            # A sorted list and a short tail: the sort merges them in one pass.
            self.order[stream].extend(added)
            self.order[stream].sort()
        self._added.clear()
        docs = [self.documents[s][i] for s in STREAMS for i in self.order[s]]
        for doc in docs:
            doc.remaining = doc.open_amount
        self._index = WatchedIndex(docs)
        # Kept in order from now on by the index itself.
        self.order = {s: [] for s in STREAMS}
        if len(docs) >= FREEZE_AT:
            # A big book lives as long as the process: out of the cycle collector's sight, a full
            # collection (due every so many cycles) walks what the cycles make, not a second's
            # worth of documents. Garbage is collected first, so only what is alive is set aside;
            # what is set aside is still freed as soon as nothing refers to it.
            gc.collect()
            gc.freeze()
        return self._index


class _Shelf:
    """The books kept in this process, one per store and connection."""

    def __init__(self) -> None:
        self._books: dict[tuple[str, str], KeptBook] = {}
        self._lock = threading.Lock()

    def take(self, store_url: str, connection: str, mark: dict[str, Any] | None) -> KeptBook | None:
        """The connection's book if it is in step with ``mark``; it is no longer kept either way
        (a run that stops half-way must not leave a book half brought up to date)."""
        with self._lock:
            book = self._books.pop((store_url, connection), None)
        return book if book is not None and mark is not None and book.mark == mark else None

    def keep(self, store_url: str, connection: str, book: KeptBook) -> None:
        with self._lock:
            self._books[(store_url, connection)] = book


BOOKS = _Shelf()
