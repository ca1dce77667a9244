"""In-memory indexes over open documents, built once per run.

Documents are indexed by customer and by normalised number, so looking a payment up costs the
same against a thousand documents as against a million. The customers' index lives in
:mod:`rules.cashapp.payers` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from functools import cache
from itertools import compress, groupby, repeat
from operator import attrgetter, eq, is_not, lt, not_
from typing import TypeVar

from mapping.models import CreditMemo, Invoice
from rules.cashapp.model import (
    ZERO,
    OpenDocument,
    age_key,
    document_from_credit_memo,
    document_from_invoice,
)
from rules.cashapp.normalize import number_keys, one_typo_apart
from rules.cashapp.payers import CustomerIndex

__all__ = ["CustomerIndex", "CustomerView", "DocumentIndex"]


class DocumentIndex:
    """Open documents by customer and by number key, with what is still open within this run."""

    __slots__ = ("_by_customer", "_by_id", "_by_key", "_customer_views", "_ids_repeat", "_keys")

    def __init__(self, documents: Iterable[OpenDocument] = ()) -> None:
        self._by_customer: dict[str, list[OpenDocument]] = {}
        # Built on the first look-up by number across customers (only an unknown payer needs it).
        self._by_key: dict[str, OpenDocument | list[OpenDocument]] | None = None
        self._by_id: dict[str, OpenDocument] = _text_keyed()
        # Each customer's views, one per currency and day asked about.
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
            # The index by id's own view of its documents, not a list of them: a list of a million
            # would touch each document twice more (made, then freed), a tenth of the build.
            docs = self._by_id.values()
            keys = self._keys if self._keys is not None else list(map(_key_of, docs))
            self._keys = None
            # Numbers are unique in most ledgers: one C-speed dict build, then lists where they repeat
            # (the documents of a repeated number picked out by a C-speed filter, not a loop over all).
            by_key: dict[str, OpenDocument | list[OpenDocument]] = _text_keyed(zip(keys, docs, strict=True))
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

        Made the first time a payment of that customer is looked at and kept for the run; what a
        payment consumes is filtered out when the view is read, so it never goes stale.
        """
        # Found among the customer's views (most customers have one), by a look-up of the customer's
        # id alone: no key of three to make, hash and compare on each of a hundred thousand payments.
        views = self._customer_views.get(customer_id)
        if views is not None:
            for view in views:
                if view._currency == currency and view._as_of == as_of:
                    return view
        view = CustomerView(self._by_customer.get(customer_id, []), currency, as_of, self, customer_id)
        if views is None:
            self._customer_views[customer_id] = [view]
        else:
            views.append(view)
        return view

    def has_open(self, customer_id: str, currency: str, amount: Decimal, keys: Iterable[str] = ()) -> \
            OpenDocument | None:
        """An open document of the customer in ``currency`` whose number is a key, or whose open amount is
        ``amount``; read straight from the ledger, without building the customer's view."""
        return self._open_of(customer_id, currency, amount, set(keys), None)

    def first_open(self, customer_ids: Sequence[str], currency: str, amount: Decimal,
                   keys: Iterable[str] = ()) -> tuple[str, OpenDocument] | None:
        """The first of the customers that :meth:`has_open` finds a document of, and that document."""
        wanted = set(keys)
        by_key = self._by_key
        owners: set[str] | None = None
        if wanted and by_key is not None and not self._ids_repeat and "" not in wanted:
            # Whose documents (open or not) have one of the numbers, looked up once for all customers
            # (several namesakes are asked about the same numbers).
            owners = set()
            for key in wanted:
                found = by_key.get(key)
                if isinstance(found, list):
                    owners.update(map(_customer_of, found))
                elif found is not None:
                    owners.add(found.customer_id)
            if not amount > ZERO:
                # No amount to match: only an owner of one of the numbers can have the document (most
                # namesakes asked are not, and are passed over without looking up their documents).
                customer_ids = [c for c in customer_ids if c in owners]
        for customer_id in customer_ids:
            doc = self._open_of(customer_id, currency, amount, wanted, owners)
            if doc is not None:
                return customer_id, doc
        return None

    def _open_of(self, customer_id: str, currency: str, amount: Decimal, wanted: set[str],
                 owners: set[str] | None) -> OpenDocument | None:
        """:meth:`has_open`; ``owners``, when given, are all customers with a document of a ``wanted`` key."""
        # Most customers have none: proven by C-speed scans before looking at any document in Python
        # (no open document has an open amount of zero or less), or by whose numbers the keys are.
        docs: list[OpenDocument] | None = None
        if amount > ZERO:
            docs = self._by_customer.get(customer_id, [])
            by_amount = amount in map(_remaining_of, docs)
        else:
            by_amount = False
        if not by_amount:
            if not wanted:
                return None
            if owners is not None:
                if customer_id not in owners:
                    return None
            else:
                if docs is None:
                    docs = self._by_customer.get(customer_id, [])
                if not self._may_have_key(customer_id, docs, wanted):
                    return None
        if docs is None:
            docs = self._by_customer.get(customer_id, [])
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
        if doc is None:
            return
        left = doc.remaining - abs(settled)
        if left > ZERO:
            doc.remaining = left
            return
        doc.remaining = ZERO
        # Only a document closed changes what a view holds open: each of the customer's views that
        # listed its open documents drops it, kept in their order (here, not in a method call a view).
        views = self._customer_views.get(doc.customer_id)
        if views:
            is_memo = doc.kind == "credit_memo"
            for view in views:
                open_docs = view._open
                if open_docs is None:
                    continue
                # A bare try costs nothing when the document is the view's; suppress() is an object each time.
                try:  # noqa: SIM105
                    open_docs.remove(doc)
                except ValueError:  # not one of this view's (another currency or issued later)
                    pass
                memos = view._memos
                if memos and is_memo:
                    try:  # noqa: SIM105
                        memos.remove(doc)
                    except ValueError:
                        pass

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
        index._by_id.update(zip(ids, documents, strict=True))
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


_V = TypeVar("_V")


def _text_keyed(pairs: Iterable[tuple[str, _V]] = ()) -> dict[str, _V]:
    """A dict of ``pairs`` (text keys), laid out to hold each key's hash beside it.

    In CPython (3.11 on), a dict whose keys have all been ``str`` keeps only key and value per slot
    and reads a key's hash from the key itself, so each collision while a million keys go in (or
    are looked up) is one more read of a string somewhere in memory. A dict that once held another
    kind of key keeps the hash in the slot, and goes on doing so as it grows: a first key that is
    not text, removed at once, makes the build of a million entries a third cheaper and the
    look-ups a quarter. The dict behaves as any other; only its memory grows, by about a third.
    """
    table: dict[str | None, _V | None] = {None: None}
    del table[None]
    table.update(pairs)
    return table  # type: ignore[return-value]


_customer_of = attrgetter("customer_id")
_key_of = attrgetter("key")
_id_of = attrgetter("doc_id")
_currency_of = attrgetter("currency")
_issue_of = attrgetter("issue_date")
_remaining_of = attrgetter("remaining")
_due_of = attrgetter("due_date")
_number_of = attrgetter("number")
_due_and_number = attrgetter("due_date", "number")
_kind_of = attrgetter("kind")


class CustomerView:
    """One customer's documents in one currency issued by a day, oldest due first, and those each
    number key names.

    Each part is made when a payment first needs it: the documents by number for a payment that
    quotes one, those still open for one that the quoted numbers do not settle.
    """

    __slots__ = ("_as_of", "_by_key", "_currency", "_customer", "_digit_keys", "_docs", "_index", "_memos",
                 "_mine", "_open", "_repeats", "_sorted")

    def __init__(self, docs: list[OpenDocument], currency: str | None = None,
                 as_of: date | None = None, index: DocumentIndex | None = None,
                 customer_id: str | None = None) -> None:
        """``docs`` are the view's documents; or, with a ``currency`` or ``as_of``, a customer's
        documents, of which the view holds those in ``currency`` issued by ``as_of``.

        With the ``index`` the customer's documents (``customer_id``'s) come from, a number is looked
        up in the index by number once that is built, not in an index of the view's own.
        """
        self._mine = docs
        self._currency = currency
        self._as_of = as_of
        self._index = index if customer_id is not None else None
        self._customer = customer_id
        self._docs: list[OpenDocument] | None = None if currency is not None or as_of is not None else docs
        # A number's one document; the numbers of several documents (rare) are in _repeats too.
        self._by_key: dict[str, OpenDocument] | None = None
        self._repeats: dict[str, list[OpenDocument]] = {}
        # Sorted by age only when a payment needs the order (a search by amount), once for the run.
        self._sorted = False
        self._open: list[OpenDocument] | None = None
        self._memos: list[OpenDocument] | None = None
        self._digit_keys: bool | None = None

    def _all(self) -> list[OpenDocument]:
        """The view's documents, open or not, in the customer's order."""
        docs = self._docs
        if docs is None:
            docs = self._mine
            currency, as_of = self._currency, self._as_of
            # C-speed filters first: most of a customer's documents are in one currency, all issued
            # (the documents are then the customer's list itself, which a view only reads).
            if currency is not None:
                currencies = list(map(_currency_of, docs))
                if currencies.count(currency) < len(docs):
                    docs = list(compress(docs, map(eq, currencies, repeat(currency))))
            if as_of is not None:
                try:
                    # A missing issue date cannot be compared, so one pass also tells whether one is missing.
                    late = max(map(_issue_of, docs), default=as_of) > as_of
                except TypeError:
                    late = True
                if late:
                    docs = [d for d in docs if d.issue_date is None or d.issue_date <= as_of]
            self._docs = docs
        return docs

    def _keys(self) -> dict[str, OpenDocument]:
        """The view's documents by number key (a repeated number: see ``_repeats``)."""
        by_key = self._by_key
        if by_key is None:
            docs = self._all()
            keys = list(map(_key_of, docs))
            by_key = dict(zip(keys, docs, strict=True))
            if len(by_key) < len(docs):  # a number that repeats: gather its documents in order
                repeats: dict[str, list[OpenDocument]] = {}
                for key, d in zip(keys, docs, strict=True):
                    found = repeats.get(key)
                    if found is None:
                        repeats[key] = [d]
                    else:
                        found.append(d)
                self._repeats = {k: found for k, found in repeats.items() if len(found) > 1}
            by_key.pop("", None)
            self._by_key = by_key
        return by_key

    def _named(self, key: str) -> Sequence[OpenDocument]:
        """The view's documents, open or not, whose number normalises to ``key``."""
        shared = self._shared()
        if shared is not None:
            found = shared.get(key)
            if found is None:
                return ()
            if isinstance(found, list):
                return [d for d in found if self._holds(d)]
            return (found,) if self._holds(found) else ()
        doc = self._keys().get(key)
        if doc is None:
            return ()
        if self._repeats:
            return self._repeats.get(key, (doc,))
        return (doc,)

    def _shared(self) -> dict[str, OpenDocument | list[OpenDocument]] | None:
        """The index by number of all customers' documents, when it is built and holds each of them.

        Most customers are asked for a number or two in a run: a look-up there and a check of whose
        the documents are costs less than an index of the view's own documents. Its documents of one
        number are in the index's order, which among one customer's is the customer's order.
        """
        index = self._index
        if index is None or index._ids_repeat:
            return None
        return index._by_key

    def _holds(self, doc: OpenDocument) -> bool:
        """Whether ``doc`` (of any customer) is one of this view's documents."""
        if doc.customer_id != self._customer:
            return False
        currency, as_of = self._currency, self._as_of
        return ((currency is None or doc.currency == currency)
                and (as_of is None or doc.issue_date is None or doc.issue_date <= as_of))

    def open_documents(self) -> list[OpenDocument]:
        """The documents with something still open, oldest due first (see :func:`age_key`).

        Kept between payments (a customer with 800 open items pays many times) until
        :meth:`DocumentIndex.consume` changes one of them; the list is shared, not to be changed.
        """
        if not self._sorted:
            self._open = _by_age(self.any_open())
            # Memos listed in the order before stay listed, in the order after, when there are not two
            # to reorder (as for most customers: none).
            if self._memos is not None and len(self._memos) > 1:
                self._memos = None
            self._sorted = True
        return self.any_open()

    def any_open(self) -> list[OpenDocument]:
        """The documents with something still open, in no particular order (cheaper than by age)."""
        if self._open is None:
            currency, as_of = self._currency, self._as_of
            if self._docs is None and currency is not None and as_of is not None:
                # Read first (as for most views): the customer's documents in the currency, issued by
                # the day and still open, in one pass. A test of a document's own field in a
                # comprehension reads its slot directly, three times quicker than the passes of
                # _all() and a filter of them; the view's documents open or not are made if needed.
                self._open = [d for d in self._mine if d.currency == currency
                              and (d.issue_date is None or d.issue_date <= as_of) and d.remaining > ZERO]
            else:
                docs = self._all()
                # The operator module's function over a repeated operand: a bound method such as
                # ZERO.__lt__ packs its argument into a tuple on each call.
                self._open = list(compress(docs, map(lt, repeat(ZERO), map(_remaining_of, docs))))
        return self._open

    def open_memos(self) -> list[OpenDocument]:
        """The credit memos among :meth:`any_open`, in its order; the list is shared, not to be changed."""
        if self._memos is None:
            # A comprehension reads each document's slot directly: three times quicker than compress()
            # over an attrgetter's map.
            self._memos = [d for d in self.any_open() if d.kind == "credit_memo"]
        return self._memos

    def by_key(self, key: str) -> list[OpenDocument]:
        """Open documents whose number normalises to ``key``."""
        # What _shared() and _holds() tell, written out: most payments quote a number or two, each
        # read here.
        index = self._index
        shared = None if index is None or index._ids_repeat else index._by_key
        if shared is not None:
            found = shared.get(key)
            if found is None:
                return []
            if isinstance(found, list):
                return [d for d in found if d.remaining > ZERO and self._holds(d)]
            if not found.remaining > ZERO or found.customer_id != self._customer:
                return []
            currency, as_of = self._currency, self._as_of
            if ((currency is None or found.currency == currency)
                    and (as_of is None or found.issue_date is None or found.issue_date <= as_of)):
                return [found]
            return []
        doc = self._keys().get(key)
        if doc is None:
            return []
        if not self._repeats or key not in self._repeats:  # most numbers name one document
            return [doc] if doc.remaining > ZERO else []
        return [d for d in self._repeats[key] if d.remaining > ZERO]

    def one_typo_from(self, key: str) -> list[OpenDocument] | None:
        """Open documents whose number key is ``key`` with one wrong digit or two adjacent digits
        swapped, in the order of :meth:`any_open`; None when a number key holds other characters than
        ASCII digits (a wrong character is then not only a wrong digit)."""
        if self._digit_keys is None:
            # Read from the documents, so that a view asked only this needs no index by number. The
            # customer's documents of every currency and day hold the view's: when all their numbers
            # are digits (most often), so are the view's, which need not be picked out for this.
            joined = "".join(map(_key_of, self._mine))
            if not (joined.isascii() and joined.isdigit()) and self._docs is not self._mine:
                joined = "".join(map(_key_of, self._all())) if self._by_key is None else "".join(self._by_key)
            self._digit_keys = joined.isascii() and (not joined or joined.isdigit())
        if not self._digit_keys:
            return None
        docs = self.any_open()
        if len(docs) < _SCAN_PER_DIGIT * len(key):
            return _one_typo_scan(docs, key)
        return self._one_typo_looked_up(key)

    def _one_typo_looked_up(self, key: str) -> list[OpenDocument]:
        """:meth:`one_typo_from` by looking each variant of ``key`` up among the view's numbers."""
        found: dict[OpenDocument, None] = {}
        for variant in filter(self._keys().__contains__, _one_typo_variants(key)):
            for d in self._named(variant):
                if d.remaining > ZERO:
                    found[d] = None
        if len(found) < 2:
            return list(found)
        return [d for d in self.any_open() if d in found]

    def has_number(self, key: str) -> bool:
        """Whether one of the view's documents, open or settled in this run, has the number key ``key``."""
        return bool(self._named(key))

    def settled_by_key(self, key: str) -> list[OpenDocument]:
        """Documents whose number normalises to ``key`` that payments earlier in this run settled."""
        return [d for d in self._named(key) if d.remaining <= ZERO]


def _by_age(docs: list[OpenDocument]) -> list[OpenDocument]:
    """``docs`` sorted by :func:`age_key` (stable, so a sort of some of them is the order of all less
    the others)."""
    # Told by an identity test of each: ``None in`` compares each date with None both ways first.
    if [d for d in docs if d.due_date is None]:
        return sorted(docs, key=age_key)
    # With every due date given, age_key is the due date and number: sorted by number, then (stable)
    # by due date, each key read in C, is the same order.
    try:
        ordered = sorted(docs, key=_number_of)
        ordered.sort(key=_due_of)
    except TypeError:  # numbers that do not compare with each other, which only ties of due dates may reach
        return sorted(docs, key=_due_and_number)
    return ordered


# A number of n digits has 11n - 1 variants of one typo; comparing it with a document's number costs
# about what 1.4 variants made and looked up do. Below this many open documents per digit, comparing
# is cheaper (and needs no index by number of the view's own).
_SCAN_PER_DIGIT = 8


def _one_typo_scan(docs: list[OpenDocument], key: str) -> list[OpenDocument]:
    """The documents of ``docs`` (number keys of ASCII digits) whose number key is one wrong digit or
    one adjacent swap from ``key``."""
    size = len(key)
    if not key.isascii() or not key.isdigit() or size > _STEPPED_DIGITS:
        return [d for d in docs if len(d.key) == size and one_typo_apart(d.key, key)]
    # One typo moves the number by a digit times a power of ten (a swap, by a multiple of nine times
    # one): a set look-up of the difference passes over nearly every other number of that length.
    value, steps = int(key), _typo_steps(size)
    return [d for d in docs
            if len(d.key) == size and abs(int(d.key) - value) in steps and one_typo_apart(d.key, key)]


# Longer numbers (a run of digits in a memo) are compared digit by digit: their differences would be
# large integers, and their steps a large set.
_STEPPED_DIGITS = 30


@cache
def _typo_steps(size: int) -> frozenset[int]:
    """Every difference one wrong digit or one adjacent swap can make to a number of ``size`` digits."""
    wrong = [m * 10**p for m in range(1, 10) for p in range(size)]
    swapped = [9 * m * 10**p for m in range(1, 10) for p in range(size - 1)]
    return frozenset(wrong + swapped)


def _one_typo_variants(key: str) -> Iterator[str]:
    """``key`` with each digit replaced by each other one, and each two different neighbours swapped."""
    for i, c in enumerate(key):
        head, tail = key[:i], key[i + 1:]
        for digit in "0123456789":
            if digit != c:
                yield head + digit + tail
        if tail and tail[0] != c:
            yield head + tail[0] + c + tail[1:]
