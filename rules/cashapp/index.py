"""In-memory indexes over open documents, built once per run.

Documents are indexed by customer and by normalised number, so looking a payment up costs the
same against a thousand documents as against a million. The customers' index lives in
:mod:`rules.cashapp.payers` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from itertools import compress, groupby
from operator import attrgetter, is_not, not_

from mapping.models import CreditMemo, Invoice
from rules.cashapp.model import (
    ZERO,
    OpenDocument,
    age_key,
    document_from_credit_memo,
    document_from_invoice,
)
from rules.cashapp.normalize import number_keys
from rules.cashapp.payers import CustomerIndex

__all__ = ["CustomerIndex", "CustomerView", "DocumentIndex"]


class DocumentIndex:
    """Open documents by customer and by number key, with what is still open within this run."""

    __slots__ = ("_by_customer", "_by_id", "_by_key", "_customer_views", "_ids_repeat", "_keys", "_views")

    def __init__(self, documents: Iterable[OpenDocument] = ()) -> None:
        self._by_customer: dict[str, list[OpenDocument]] = {}
        # Built on the first look-up by number across customers (only an unknown payer needs it).
        self._by_key: dict[str, OpenDocument | list[OpenDocument]] | None = None
        self._by_id: dict[str, OpenDocument] = {}
        self._views: dict[tuple[str, str, date], CustomerView] = {}
        self._customer_views: dict[str, list[CustomerView]] = {}
        # Two documents of one id: the index by id (and by number) then holds only the later one.
        self._ids_repeat = False
        # The number key of each document of the index by id, in its order, when a column reader gave
        # them: the index by number is then built without reading a million documents' keys.
        self._keys: list[str] | None = None
        self.extend(documents)

    @classmethod
    def from_models(
        cls, invoices: Iterable[Invoice], credit_memos: Iterable[CreditMemo] = ()
    ) -> DocumentIndex:
        """Index canonical invoices and credit memos, skipping those not open."""
        index = cls()
        index.extend(d for d in map(document_from_invoice, invoices) if d is not None)
        index.extend(d for d in map(document_from_credit_memo, credit_memos) if d is not None)
        return index

    def add(self, doc: OpenDocument) -> None:
        """Index one document (its number key is computed here if not given)."""
        self.extend((doc,))

    def extend(self, documents: Iterable[OpenDocument]) -> None:
        """Index many documents at once (number keys computed for all of them in one pass)."""
        docs = documents if isinstance(documents, list) else list(documents)
        if not docs:
            return
        missing = list(compress(docs, map(not_, map(_key_of, docs))))
        for doc, key in zip(missing, number_keys([d.number for d in missing]), strict=True):
            doc.key = key
        self._views.clear()
        self._customer_views.clear()
        self._by_key = None
        self._keys = None
        known = len(self._by_id)
        self._by_id.update(zip(map(_id_of, docs), docs, strict=True))
        if len(self._by_id) - known < len(docs):
            self._ids_repeat = True
        by_customer = self._by_customer
        # Exports list a customer's documents together: take each run of them in one step.
        for customer_id, run in groupby(docs, _customer_of):
            bucket = by_customer.get(customer_id)
            if bucket is None:
                by_customer[customer_id] = list(run)
            else:
                bucket.extend(run)

    def _key_index(self) -> dict[str, OpenDocument | list[OpenDocument]]:
        if self._by_key is None:
            docs = list(self._by_id.values())
            keys = self._keys if self._keys is not None else list(map(_key_of, docs))
            self._keys = None
            # Numbers are unique in most ledgers: one C-speed dict build, then lists where they repeat
            # (the documents of a repeated number picked out by a C-speed filter, not a loop over all).
            by_key: dict[str, OpenDocument | list[OpenDocument]] = dict(zip(keys, docs, strict=True))
            if len(by_key) < len(docs):
                # A document is not its key's last one only when the key repeats.
                repeated = set(compress(keys, map(is_not, map(by_key.__getitem__, keys), docs)))
                for k in repeated:
                    by_key[k] = []
                for doc, key in compress(zip(docs, keys, strict=True), map(repeated.__contains__, keys)):
                    found = by_key[key]
                    assert isinstance(found, list)
                    found.append(doc)
            by_key.pop("", None)
            self._by_key = by_key
        return self._by_key

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[OpenDocument]:
        return iter(self._by_id.values())

    def get(self, doc_id: str) -> OpenDocument | None:
        """The document with this id, open or not."""
        return self._by_id.get(doc_id)

    def for_customer(self, customer_id: str) -> list[OpenDocument]:
        """All of a customer's documents still open in this run."""
        return [d for d in self._by_customer.get(customer_id, ()) if d.remaining > ZERO]

    def view(self, customer_id: str, currency: str, as_of: date) -> CustomerView:
        """A customer's documents in one currency issued by ``as_of``, indexed by number key.

        Built the first time a payment of that customer is looked at and kept for the run; what a
        payment consumes is filtered out when the view is read, so it never goes stale.
        """
        slot = (customer_id, currency, as_of)
        view = self._views.get(slot)
        if view is None:
            mine = self._by_customer.get(customer_id, [])
            # C-speed filters first: most of a customer's documents are in one currency, all issued.
            docs = list(compress(mine, map(currency.__eq__, map(_currency_of, mine))))
            try:
                # A missing issue date cannot be compared, so one pass also tells whether one is missing.
                late = max(map(_issue_of, docs), default=as_of) > as_of
            except TypeError:
                late = True
            if late:
                docs = [d for d in docs if d.issue_date is None or d.issue_date <= as_of]
            view = self._views[slot] = CustomerView(docs)
            self._customer_views.setdefault(customer_id, []).append(view)
        return view

    def has_open(self, customer_id: str, currency: str, amount: Decimal, keys: Iterable[str] = ()) -> \
            OpenDocument | None:
        """An open document of the customer in ``currency`` whose number is a key, or whose open amount is
        ``amount``; read straight from the ledger, without building the customer's view."""
        wanted = set(keys)
        docs = self._by_customer.get(customer_id, [])
        # Most customers have none: proven by C-speed scans before looking at any document in Python
        # (no open document has an open amount of zero or less).
        by_amount = amount > ZERO and amount in map(_remaining_of, docs)
        if not by_amount and (not wanted or not self._may_have_key(customer_id, docs, wanted)):
            return None
        for d in docs:
            if d.currency == currency and d.remaining > ZERO and (d.remaining == amount or d.key in wanted):
                return d
        return None

    def _may_have_key(self, customer_id: str, docs: list[OpenDocument], wanted: set[str]) -> bool:
        """Whether one of the customer's documents (open or not) has one of the keys ``wanted``."""
        by_key = self._by_key
        if by_key is None or self._ids_repeat or len(wanted) * 4 > len(docs):
            return not wanted.isdisjoint(map(_key_of, docs))
        # Once the index by number is built, a few look-ups beat a pass over hundreds of documents.
        for key in wanted:
            found = by_key.get(key)
            if found is None:
                continue
            if isinstance(found, list):
                if any(d.customer_id == customer_id for d in found):
                    return True
            elif found.customer_id == customer_id:
                return True
        return False

    def by_key(self, key: str) -> list[OpenDocument]:
        """Open documents whose number normalises to ``key``, across all customers."""
        found = self._key_index().get(key)
        if found is None:
            return []
        if isinstance(found, list):
            return [d for d in found if d.remaining > ZERO]
        return [found] if found.remaining > ZERO else []

    def by_keys(self, keys: Iterable[str]) -> list[OpenDocument]:
        """:meth:`by_key` of each of ``keys`` in turn, in one list: a few dictionary look-ups at C speed
        for the many variants of a number, of which nearly none names a document."""
        found: list[OpenDocument] = []
        named: Iterator[OpenDocument | list[OpenDocument]] = filter(None, map(self._key_index().get, keys))
        for hit in named:
            if isinstance(hit, list):
                found.extend(d for d in hit if d.remaining > ZERO)
            elif hit.remaining > ZERO:
                found.append(hit)
        return found

    def consume(self, doc_id: str, settled: Decimal) -> None:
        """Reduce what is open on a document by cash, discount and write-off applied to it."""
        doc = self._by_id.get(doc_id)
        if doc is not None:
            left = doc.remaining - abs(settled)
            doc.remaining = left if left > ZERO else ZERO
            # Only a document closed changes what a view holds open.
            if left <= ZERO:
                for view in self._customer_views.get(doc.customer_id, ()):
                    view.changed(doc)

    @classmethod
    def from_runs(
        cls, documents: list[OpenDocument], ids: list[str], runs: Iterable[tuple[str, int, int]],
        keys: list[str] | None = None,
    ) -> DocumentIndex:
        """Index documents whose number keys are set, as a column reader knows them: their ids in order,
        where each run of one customer's documents starts and stops in ``documents``, and (when
        given) their number keys in order.

        The same index :meth:`extend` builds, without reading an attribute of each document.
        """
        index = cls()
        index._by_id = dict(zip(ids, documents, strict=True))
        if len(index._by_id) < len(documents):
            index._ids_repeat = True
        elif keys is not None and len(keys) == len(documents):
            # The index by id holds every document in order: the keys are those of its documents.
            index._keys = keys
        by_customer = index._by_customer
        for customer_id, start, stop in runs:
            bucket = by_customer.get(customer_id)
            if bucket is None:
                by_customer[customer_id] = documents[start:stop]
            else:
                bucket.extend(documents[start:stop])
        return index


_customer_of = attrgetter("customer_id")
_key_of = attrgetter("key")
_id_of = attrgetter("doc_id")
_currency_of = attrgetter("currency")
_issue_of = attrgetter("issue_date")
_remaining_of = attrgetter("remaining")
_due_of = attrgetter("due_date")
_due_and_number = attrgetter("due_date", "number")


class CustomerView:
    """One customer's documents in one currency, oldest due first, and those each number key names."""

    __slots__ = ("_by_key", "_digit_keys", "_docs", "_open", "_sorted")

    def __init__(self, docs: list[OpenDocument]) -> None:
        self._docs = docs
        # Sorted by age only when a payment needs the order (a search by amount), once for the run.
        self._sorted = False
        keys = list(map(_key_of, docs))
        # Each document as a one-item tuple, paired with its key at C speed.
        by_key: dict[str, Sequence[OpenDocument]] = dict(zip(keys, zip(docs), strict=True))
        if len(by_key) < len(docs):  # a number that repeats: gather its documents in order
            lists: dict[str, list[OpenDocument]] = {}
            for key, d in zip(keys, docs, strict=True):
                found = lists.get(key)
                if found is None:
                    lists[key] = [d]
                else:
                    found.append(d)
            by_key = dict(lists)
        by_key.pop("", None)
        self._by_key = by_key
        self._open: list[OpenDocument] | None = None
        self._digit_keys: bool | None = None

    def changed(self, doc: OpenDocument) -> None:
        """A payment consumed ``doc`` (not necessarily one of this view's): a closed one leaves the
        open documents, kept in their order."""
        if self._open is not None and doc.remaining <= ZERO:
            # A bare try costs nothing when the document is this view's; suppress() is an object each time.
            try:  # noqa: SIM105
                self._open.remove(doc)
            except ValueError:  # not one of this view's
                pass

    def open_documents(self) -> list[OpenDocument]:
        """The documents with something still open, oldest due first (see :func:`age_key`).

        Kept between payments (a customer with 800 open items pays many times) until
        :meth:`DocumentIndex.consume` changes one of them; the list is shared, not to be changed.
        """
        if not self._sorted:
            # With every due date given, age_key is the due date and number: read in C, the same order.
            dated = None not in map(_due_of, self._docs)
            self._docs.sort(key=_due_and_number if dated else age_key)
            self._sorted = True
            self._open = None
        if self._open is None:
            self._open = [d for d in self._docs if d.remaining > ZERO]
        return self._open

    def any_open(self) -> list[OpenDocument]:
        """The documents with something still open, in no particular order (cheaper than by age)."""
        if self._open is None:
            self._open = [d for d in self._docs if d.remaining > ZERO]
        return self._open

    def by_key(self, key: str) -> list[OpenDocument]:
        """Open documents whose number normalises to ``key``."""
        found = self._by_key.get(key)
        if found is None:
            return []
        if len(found) == 1:  # most numbers name one document
            return [found[0]] if found[0].remaining > ZERO else []
        return [d for d in found if d.remaining > ZERO]

    def one_typo_from(self, key: str) -> list[OpenDocument] | None:
        """Open documents whose number key is ``key`` with one wrong digit or two adjacent digits
        swapped, in the order of :meth:`any_open`; None when a number key holds other characters than
        ASCII digits (a wrong character is then not only a wrong digit)."""
        if self._digit_keys is None:
            joined = "".join(self._by_key)
            self._digit_keys = joined.isascii() and (not joined or joined.isdigit())
        if not self._digit_keys:
            return None
        by_key = self._by_key
        found: dict[OpenDocument, None] = {}
        for variant in _one_typo_variants(key):
            near = by_key.get(variant)
            if near is not None:
                for d in near:
                    if d.remaining > ZERO:
                        found[d] = None
        if len(found) < 2:
            return list(found)
        return [d for d in self.any_open() if d in found]

    def settled_by_key(self, key: str) -> list[OpenDocument]:
        """Documents whose number normalises to ``key`` that payments earlier in this run settled."""
        found = self._by_key.get(key)
        if found is None:
            return []
        return [d for d in found if d.remaining <= ZERO]


def _one_typo_variants(key: str) -> Iterator[str]:
    """``key`` with each digit replaced by each other one, and each two different neighbours swapped."""
    for i, c in enumerate(key):
        head, tail = key[:i], key[i + 1:]
        for digit in "0123456789":
            if digit != c:
                yield head + digit + tail
        if tail and tail[0] != c:
            yield head + tail[0] + c + tail[1:]
