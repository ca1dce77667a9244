"""In-memory indexes over open documents and customers, built once per run.

Documents are indexed by customer and by normalised number, so looking a payment up costs the
same against a thousand documents as against a million. Customer names are indexed by token so a
fuzzy payer-name search scores a handful of candidates instead of every customer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import suppress
from datetime import date
from decimal import Decimal
from itertools import compress, groupby
from operator import attrgetter, itemgetter, not_

from rapidfuzz import fuzz, process

from mapping.models import CreditMemo, Customer, Invoice
from rules.cashapp.model import (
    ZERO,
    CustomerInfo,
    OpenDocument,
    age_key,
    customer_from_model,
    document_from_credit_memo,
    document_from_invoice,
)
from rules.cashapp.normalize import name_parts, name_tokens, normalize_account, normalize_name, number_keys


class DocumentIndex:
    """Open documents by customer and by number key, with what is still open within this run."""

    __slots__ = ("_by_customer", "_by_id", "_by_key", "_customer_views", "_views")

    def __init__(self, documents: Iterable[OpenDocument] = ()) -> None:
        self._by_customer: dict[str, list[OpenDocument]] = {}
        # Built on the first look-up by number across customers (only an unknown payer needs it).
        self._by_key: dict[str, OpenDocument | list[OpenDocument]] | None = None
        self._by_id: dict[str, OpenDocument] = {}
        self._views: dict[tuple[str, str, date], CustomerView] = {}
        self._customer_views: dict[str, list[CustomerView]] = {}
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
        self._by_id.update(zip(map(_id_of, docs), docs, strict=True))
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
            keys = list(map(_key_of, docs))
            # Numbers are unique in most ledgers: one C-speed dict build, then lists where they repeat
            # (the documents of a repeated number picked out by a C-speed filter, not a loop over all).
            by_key: dict[str, OpenDocument | list[OpenDocument]] = dict(zip(keys, docs, strict=True))
            if len(by_key) < len(docs):
                repeated = {k for k, n in Counter(keys).items() if n > 1}
                for k in repeated:
                    by_key[k] = []
                for doc in compress(docs, map(repeated.__contains__, keys)):
                    found = by_key[doc.key]
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
            issues = list(map(_issue_of, docs))
            if None in issues or max(issues, default=as_of) > as_of:
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
        if not by_amount and (not wanted or wanted.isdisjoint(map(_key_of, docs))):
            return None
        for d in docs:
            if d.currency == currency and d.remaining > ZERO and (d.remaining == amount or d.key in wanted):
                return d
        return None

    def by_key(self, key: str) -> list[OpenDocument]:
        """Open documents whose number normalises to ``key``, across all customers."""
        found = self._key_index().get(key)
        if found is None:
            return []
        if isinstance(found, list):
            return [d for d in found if d.remaining > ZERO]
        return [found] if found.remaining > ZERO else []

    def consume(self, doc_id: str, settled: Decimal) -> None:
        """Reduce what is open on a document by cash, discount and write-off applied to it."""
        doc = self._by_id.get(doc_id)
        if doc is not None:
            doc.remaining = max(ZERO, doc.remaining - abs(settled))
            for view in self._customer_views.get(doc.customer_id, ()):
                view.changed(doc)


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

    __slots__ = ("_by_key", "_docs", "_open", "_sorted")

    def __init__(self, docs: list[OpenDocument]) -> None:
        self._docs = docs
        # Sorted by age only when a payment needs the order (a search by amount), once for the run.
        self._sorted = False
        keys = list(map(_key_of, docs))
        by_key: dict[str, list[OpenDocument]] = {key: [d] for key, d in zip(keys, docs, strict=True)}
        if len(by_key) < len(docs):  # a number that repeats: gather its documents in order
            by_key = {}
            for key, d in zip(keys, docs, strict=True):
                found = by_key.get(key)
                if found is None:
                    by_key[key] = [d]
                else:
                    found.append(d)
        by_key.pop("", None)
        self._by_key = by_key
        self._open: list[OpenDocument] | None = None

    def changed(self, doc: OpenDocument) -> None:
        """A payment consumed ``doc`` (not necessarily one of this view's): a closed one leaves the
        open documents, kept in their order."""
        if self._open is not None and doc.remaining <= ZERO:
            with suppress(ValueError):  # not one of this view's
                self._open.remove(doc)

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
        return [d for d in found if d.remaining > ZERO]

    def settled_by_key(self, key: str) -> list[OpenDocument]:
        """Documents whose number normalises to ``key`` that payments earlier in this run settled."""
        found = self._by_key.get(key)
        if found is None:
            return []
        return [d for d in found if d.remaining <= ZERO]


class CustomerIndex:
    """Customers by id, by normalised bank account and by name token (names and aliases)."""

    __slots__ = ("_by_account", "_by_id", "_by_token", "_by_words", "_known_names", "_name_cache", "_names",
                 "_narrowed", "_one_word_less", "_texts")

    def __init__(self, customers: Iterable[CustomerInfo] = ()) -> None:
        self._by_id: dict[str, CustomerInfo] = {}
        self._by_account: dict[str, set[str]] = {}
        self._names: list[tuple[str, str]] = []
        self._texts: list[str] = []
        self._by_token: dict[str, set[int]] = {}
        self._narrowed: dict[tuple[str, str], set[int]] = {}
        self._name_cache: dict[str, list[tuple[float, str]]] = {}
        self._known_names: dict[str, set[str]] = {}
        # Names by their set of words, and by each set of all their words but one: the customers a
        # name is one word apart from are found by a few look-ups, however common the words are.
        self._by_words: dict[frozenset[str], set[str]] = {}
        self._one_word_less: dict[frozenset[str], set[str]] = {}
        for customer in customers:
            self.add(customer)

    @classmethod
    def from_models(cls, customers: Iterable[Customer]) -> CustomerIndex:
        """Index canonical customers."""
        return cls(customer_from_model(c) for c in customers)

    def add(self, customer: CustomerInfo) -> None:
        """Index a customer, or add what is new about one already indexed (a learned alias)."""
        self._by_id[customer.customer_id] = customer
        for account in customer.bank_accounts:
            norm = normalize_account(account)
            if norm:
                self._by_account.setdefault(norm, set()).add(customer.customer_id)
        known = self._known_names.setdefault(customer.customer_id, set())
        # A trading name ("… t/a Blue Anchor Cafe") is a name the customer pays under, like an alias.
        for raw in (part for name in (customer.name, *customer.aliases) for part in name_parts(name)):
            norm = normalize_name(raw)
            if not norm or norm in known:
                continue
            known.add(norm)
            self._name_cache.clear()
            self._narrowed.clear()
            pos = len(self._names)
            self._names.append((customer.customer_id, norm))
            self._texts.append(norm)
            words = frozenset(norm.split())
            self._by_words.setdefault(words, set()).add(customer.customer_id)
            if len(words) > 2:
                for word in words:
                    self._one_word_less.setdefault(words - {word}, set()).add(customer.customer_id)
            for token in set(name_tokens(norm)):
                found = self._by_token.get(token)
                if found is None:
                    self._by_token[token] = {pos}
                else:
                    found.add(pos)

    def __len__(self) -> int:
        return len(self._by_id)

    def names_of(self, customer_id: str) -> set[str]:
        """The customer's normalised names: its name, trading names and aliases."""
        return self._known_names.get(customer_id, set())

    def get(self, customer_id: str) -> CustomerInfo | None:
        """The customer with this id."""
        return self._by_id.get(customer_id)

    def by_account(self, account: str | None) -> set[str]:
        """Customers that hold this bank account (more than one means the account decides nothing)."""
        norm = normalize_account(account)
        return set(self._by_account.get(norm, ())) if norm else set()

    def _candidates(self, tokens: Iterable[str], limit: int) -> set[int]:
        """Names sharing the rarest tokens, narrowed by intersection while there are too many.

        Common words ("mueller", "logistik") are shared by thousands of customers in a large ledger;
        intersecting their postings keeps the candidates few without dropping them. Starting a second
        time from the next-rarest token keeps a name whose rarest word was mistyped findable.
        """
        by_token = self._by_token
        # Tokens as rare as each other are taken in their own order, not the set's (which changes from
        # run to run with Python's string hashing), so a run's decisions and explanations repeat.
        ranked = sorted((t for t in set(tokens) if t in by_token), key=lambda t: (len(by_token[t]), t))
        found: set[int] = set()
        for start in range(min(2, len(ranked))):
            cand = by_token[ranked[start]]
            narrowed_by = ranked[start]
            for token in ranked[start + 1:]:
                if len(cand) <= limit:
                    break
                # The same pairs of common words come back payment after payment: intersect each once.
                pair = (narrowed_by, token)
                narrowed = self._narrowed.get(pair)
                if narrowed is None:
                    narrowed = self._narrowed[pair] = cand & by_token[token]
                if narrowed:
                    cand = narrowed
                    narrowed_by = f"{narrowed_by} {token}"
            if len(cand) <= limit:
                found |= cand
        return found

    def namesakes(self, name: str) -> set[str]:
        """Customers whose name has one word more or one word less than ``name`` ("Koch Pharma" and
        "Koch Pharma Nord" for "KOCH PHARMA"); two-word names count only for a longer namesake."""
        words = frozenset(normalize_name(name).split())
        if len(words) < 2:
            return set()
        found = set(self._one_word_less.get(words, ()))
        if len(words) > 2:
            for word in words:
                found |= self._by_words.get(words - {word}, set())
        return found

    def score_name(self, name: str, customer_id: str) -> float:
        """How well ``name`` fits one customer's names (the score :meth:`score_names` gives)."""
        norm = normalize_name(name)
        best = 0.0
        for candidate in self._known_names.get(customer_id, ()):
            score = 100.0 if candidate == norm else (
                fuzz.token_set_ratio(norm, candidate) + fuzz.token_sort_ratio(norm, candidate)) / 2
            best = max(best, score)
        return best

    def score_names(self, name: str, max_customers: int) -> list[tuple[float, str]]:
        """Best fuzzy score per customer for a payer name, best first.

        The score averages rapidfuzz's token-set ratio (tolerates missing words) and token-sort
        ratio (penalises them), so "MUELLER" alone does not look like every Mueller equally well.
        Results are cached per normalised name: the same payers pay every month.
        """
        parts = name_parts(name)
        if len(parts) > 1:
            # "Reed Gray Energy d/b/a Old Mill Market": the payer wrote both names; either may be known.
            merged: dict[str, float] = {}
            for part in parts:
                for score, cid in self.score_names(part, max_customers):
                    merged[cid] = max(score, merged.get(cid, 0.0))
            return sorted(((s, c) for c, s in merged.items()), reverse=True)
        norm = normalize_name(name)
        if not norm:
            return []
        cached = self._name_cache.get(norm)
        if cached is not None:
            return cached
        positions = list(self._candidates(name_tokens(norm), max_customers))
        if not positions:
            self._name_cache[norm] = []
            return []
        texts = self._texts
        choices = [texts[positions[0]]] if len(positions) == 1 else list(itemgetter(*positions)(texts))
        best: dict[str, float] = {}
        # The C loop of rapidfuzz ranks all candidates; the slower combined score is for the top few.
        # Below 70 the mean of the two scores cannot reach the lowest threshold that reads it.
        for _, set_score, i in process.extract(norm, choices, scorer=fuzz.token_set_ratio, limit=20,
                                               score_cutoff=70):
            cid, candidate = self._names[positions[i]]
            score = 100.0 if candidate == norm else (set_score + fuzz.token_sort_ratio(norm, candidate)) / 2
            if score > best.get(cid, -1.0):
                best[cid] = score
        ranked = sorted(((s, c) for c, s in best.items()), reverse=True)
        if len(self._name_cache) > 100_000:
            self._name_cache.clear()
        self._name_cache[norm] = ranked
        return ranked

    def score_names_in_text(self, text: str, max_customers: int) -> list[tuple[float, str]]:
        """Best score per customer whose name appears (approximately) inside free text.

        A name whose every word stands in the text scores 100 in any order and with any punctuation
        between the words ("1234//SMITH-John" names John Smith); when several names do, the one
        whose words include all the others' is meant ("Koch Pharma Nord" over "Koch Pharma").
        Otherwise the best approximate substring counts.
        """
        norm = normalize_name(text)
        if not norm:
            return []
        words = set(norm.split())
        best: dict[str, float] = {}
        contained: dict[str, set[str]] = {}
        for pos in self._candidates(name_tokens(norm), max_customers):
            cid, candidate = self._names[pos]
            # One short word inside a long text is too easy to hit by chance.
            if len(candidate) < 6 or (" " not in candidate and len(candidate) < 8):
                continue
            tokens = set(candidate.split())
            if tokens <= words:
                score = 100.0
                contained[cid] = contained.get(cid, set()) | tokens
            else:
                score = fuzz.partial_ratio(candidate, norm)
            if score > best.get(cid, -1.0):
                best[cid] = score
        if len(contained) > 1:
            for cid, tokens in contained.items():
                if any(tokens < other for o, other in contained.items() if o != cid):
                    best[cid] = 90.0
        return sorted(((s, c) for c, s in best.items()), reverse=True)
