"""Customers by id, bank account and name, for telling who paid.

Customer names are indexed by token so a fuzzy payer-name search scores a handful of candidates
instead of every customer. The searches take many names (or references) at once, so rapidfuzz scores
the candidates of all of them in a few calls.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import accumulate, chain, compress, repeat
from operator import attrgetter, itemgetter
from typing import Protocol

import numpy as np
from rapidfuzz import fuzz, process

from mapping.models import Customer
from rules.cashapp.model import CustomerInfo, customer_from_model
from rules.cashapp.normalize import (
    _TRADING_AS,
    name_parts,
    name_tokens,
    normalize_account,
    normalize_names,
)

_NOT_ALNUM_OR_LINE = re.compile(r"[^0-9A-Z\n]+")
# The same characters as bytes, for an ASCII text.
_NOT_ALNUM_OR_LINE_BYTES = bytes(b for b in range(256) if not (48 <= b <= 57 or 65 <= b <= 90 or b == 10))


def normalize_accounts(accounts: Sequence[str]) -> list[str]:
    """:func:`~rules.cashapp.normalize.normalize_account` of many accounts, the text work done in one
    pass over all of them."""
    joined = "\n".join(accounts).upper()
    if joined.count("\n") != len(accounts) - 1 or not accounts:
        return [normalize_account(account) for account in accounts]
    if joined.isascii():
        # Deleting bytes is cheaper than a regex substitution over a whole ledger's accounts.
        values = joined.encode("ascii").translate(None, _NOT_ALNUM_OR_LINE_BYTES).decode("ascii").split("\n")
    else:
        values = _NOT_ALNUM_OR_LINE.sub("", joined).split("\n")
    if "IBAN" in joined:
        # An "IBAN" label before the country code is not part of the account.
        values = [v[4:] if v.startswith("IBAN") and len(v) > 8 and v[4:6].isalpha() else v for v in values]
    return values


# Every trading-name marker holds one of these words: an ASCII name none of them is in (in lower
# case) has no marker.
_MARKER_WORDS = ("t/a", "t.a.", "trading", "d/b/a", "d.b.a.", "dba", "doing", "a/k/a", "aka")


def name_parts_of_many(names: Sequence[str]) -> list[Sequence[str]]:
    """:func:`~rules.cashapp.normalize.name_parts` of many names: one search for the markers through
    all of them, and a look at only the names a marker may be in (few or none of them)."""
    joined = "\n".join(names)
    if joined.count("\n") != len(names) - 1:
        return [name_parts(name) for name in names]
    parts: list[Sequence[str]] = [(name.strip() or name,) for name in names]
    starts = [0, *accumulate(len(name) + 1 for name in names)]
    if joined.isascii():
        # Searching for the marker words is cheaper than the pattern's search for white space, and in
        # ASCII text the pattern's case-blind letters are the lower-case ones.
        lowered = joined.lower()
        hits: list[int] = []
        for word in _MARKER_WORDS:
            at = lowered.find(word)
            while at >= 0:
                hits.append(at)
                at = lowered.find(word, at + 1)
        for k in {bisect_right(starts, at) - 1 for at in hits}:
            parts[k] = name_parts(names[k])
        return parts
    # A marker may take the line break before or after it for the space around it: every name a match
    # touches is looked at.
    for match in _TRADING_AS.finditer(joined):
        for k in range(bisect_right(starts, match.start()) - 1, bisect_right(starts, match.end() - 1)):
            parts[k] = name_parts(names[k])
    return parts


def _sorted_words(norm: str) -> str:
    return " ".join(sorted(norm.split()))


_customer_id: Callable[[CustomerInfo], str] = attrgetter("customer_id")


class KeptPayers(Protocol):
    """Payers kept by their payments' keys (see :meth:`CustomerIndex.keep_payers`): a dict, or whatever
    else hands them out by key."""

    def get(self, key: tuple[str | None, ...], /) -> object | None: ...


# Under which rules, the payers kept by their payments' keys, and those still arriving (keep_payers).
_Prepared = tuple[object, KeptPayers, Callable[[], bool] | None]


class CustomerIndex:
    """Customers by id, by normalised bank account and by name token (names and aliases); the accounts
    and names indexed when first asked for."""

    __slots__ = ("_by_account", "_by_id", "_by_token", "_by_words", "_candidates", "_known_names",
                 "_lock", "_long_enough", "_marks", "_name_cache", "_narrowed", "_norms", "_one_word_less",
                 "_orders", "_owners", "_pending", "_positions", "_prepared", "_sorted_texts", "_texts",
                 "_token_order", "_word_sets")

    def __init__(self, customers: Iterable[CustomerInfo] = ()) -> None:
        self._by_id: dict[str, CustomerInfo] = {}
        self._by_account: dict[str, set[str]] = {}
        self._texts: list[str] = []
        # Every name (normalised) and, by its position, the customer, the name's set of words and whether
        # it is long enough to be looked for inside free text.
        self._owners: list[str] = []
        self._word_sets: list[frozenset[str]] = []
        self._sorted_texts: list[str] = []
        # Each customer's positions among them.
        self._positions: dict[str, list[int]] = {}
        self._long_enough: list[bool] = []
        self._by_token: dict[str, set[int]] = {}
        self._narrowed: dict[tuple[str, str], set[int]] = {}
        # Each token's rank for narrowing (rarest first), and the candidates of each ranked token list.
        self._token_order: dict[str, tuple[int, str]] | None = None
        self._candidates: dict[int, dict[tuple[str, ...], list[int]]] = {}
        # For intersecting large postings with numpy: sets as arrays in their order, and a mark per name.
        self._orders: dict[int, tuple[set[int], np.ndarray]] = {}
        self._marks = np.zeros(0, np.bool_)
        self._name_cache: dict[tuple[str, float], list[tuple[float, str]]] = {}
        # Payer names (or their parts) normalised: a payer's name is scored, then its namesakes found
        # and scored against its own, each time normalised again otherwise.
        self._norms: dict[str, str] = {}
        self._known_names: dict[str, set[str]] = {}
        # Names by their set of words, and by each set of all their words but one: the customers a
        # name is one word apart from are found by a few look-ups, however common the words are.
        self._by_words: dict[frozenset[str], set[str]] = {}
        self._one_word_less: dict[frozenset[str], set[str]] = {}
        # The payers of the last batch of payments, identified at once (see ``keep_payers``).
        self._prepared: _Prepared | None = None
        # The batches of customers whose names and accounts are not indexed yet (None once they are):
        # a run whose payers another process identifies asks only for customers by id, so it never
        # pays for the names. Matchers in several threads may share an index: one of them indexes.
        self._pending: list[Sequence[CustomerInfo]] | None = []
        self._lock = threading.Lock()
        self.extend(customers)

    @classmethod
    def from_models(cls, customers: Iterable[Customer]) -> CustomerIndex:
        """Index canonical customers."""
        return cls(customer_from_model(c) for c in customers)

    def add(self, customer: CustomerInfo) -> None:
        """Index a customer, or add what is new about one already indexed (a learned alias)."""
        self.extend((customer,))

    def extend(self, customers: Iterable[CustomerInfo]) -> None:
        """Index many customers (or what is new about ones already indexed), their names and accounts
        normalised in one pass, when first asked for (a customer by id at once)."""
        batch = customers if isinstance(customers, (list, tuple)) else list(customers)
        with self._lock:
            self._by_id.update(zip(map(_customer_id, batch), batch, strict=True))
            pending = self._pending
            # Payers kept are forgotten when a customer's names or accounts change, which only indexing
            # them tells: once payers are kept, customers are indexed as they come.
            if pending is not None and (self._prepared is None or not batch):
                if batch:
                    # A copy: the caller's list may change before the names are indexed.
                    pending.append(tuple(batch))
                return
        self._index_pending()
        self._index(batch)

    def _index_pending(self) -> None:
        """Index the names and accounts of the customers added since the last time, batch by batch as
        they were added (so the postings' order is the same whenever that happens)."""
        if self._pending is None:
            return
        with self._lock:
            pending = self._pending
            if pending is None:
                return
            # The payers kept were kept after these customers came: they stay.
            prepared = self._prepared
            for batch in pending:
                self._index(batch)
            self._prepared = prepared
            self._pending = None

    def _index(self, batch: Sequence[CustomerInfo]) -> None:
        """Index these customers' names and accounts, or what is new about them."""
        cids = [c.customer_id for c in batch]
        self._index_accounts(cids, [c.bank_accounts for c in batch])
        # A trading name ("… t/a Blue Anchor Cafe") is a name the customer pays under, like an alias.
        parts_of = name_parts_of_many([name for c in batch for name in (c.name, *c.aliases)])
        name_owners = chain.from_iterable(map(repeat, cids, [1 + len(c.aliases) for c in batch]))
        part_owners = chain.from_iterable(map(repeat, name_owners, map(len, parts_of)))
        norms = normalize_names(list(chain.from_iterable(parts_of)))
        known_names = self._known_names
        known_names.update((cid, set()) for cid in cids if cid not in known_names)
        new_cids: list[str] = []
        new_names: list[str] = []
        for cid, norm in zip(part_owners, norms, strict=True):
            if norm:
                known = known_names[cid]
                if norm not in known:
                    known.add(norm)
                    new_cids.append(cid)
                    new_names.append(norm)
        if new_names:
            if (self._candidates or self._name_cache or self._narrowed or self._orders
                    or self._prepared is not None):
                self._forget_look_ups()
            self._index_names(new_cids, new_names)

    def _index_accounts(self, cids: list[str], accounts_of: list[tuple[str, ...]]) -> None:
        """File each customer under its bank accounts (normalised)."""
        accounts = list(chain.from_iterable(accounts_of))
        if not accounts:
            return
        self._prepared = None
        by_account = self._by_account
        owners = chain.from_iterable(map(repeat, cids, map(len, accounts_of)))
        for norm, cid in zip(normalize_accounts(accounts), owners, strict=True):
            if norm:
                held = by_account.get(norm)
                if held is None:
                    by_account[norm] = {cid}
                else:
                    held.add(cid)

    def _index_names(self, cids: list[str], names: list[str]) -> None:
        """Index new names (normalised) of these customers, each by its position."""
        start = len(self._texts)
        self._texts += names
        self._owners += cids
        tokens_of = list(map(str.split, names))
        self._sorted_texts += map(" ".join, map(sorted, tokens_of))
        word_sets = list(map(frozenset, tokens_of))
        self._word_sets += word_sets
        self._long_enough += [len(name) >= 8 or (len(name) >= 6 and " " in name) for name in names]
        positions, by_words = self._positions, self._by_words
        for pos, cid in enumerate(cids, start):
            mine = positions.get(cid)
            if mine is None:
                positions[cid] = [pos]
            else:
                mine.append(pos)
        for cid, words in zip(cids, word_sets, strict=True):
            same = by_words.get(words)
            if same is None:
                by_words[words] = {cid}
            else:
                same.add(cid)
        self._index_one_word_less([words for words in dict.fromkeys(word_sets) if len(words) > 2])
        self._index_tokens(start, tokens_of)

    def _index_one_word_less(self, word_sets: list[frozenset[str]]) -> None:
        """File the customers of each set of three or more words under each set of all its words but
        one; a set of words many names share is taken once, with all their customers."""
        by_words, one_word_less = self._by_words, self._one_word_less
        for words in word_sets:
            cids = by_words[words]
            for word in words:
                key = words - {word}
                same = one_word_less.get(key)
                if same is None:
                    one_word_less[key] = set(cids)
                else:
                    same |= cids

    def _index_tokens(self, start: int, tokens_of: list[list[str]]) -> None:
        """Add each name's position to its tokens' postings, in the order of the positions.

        A posting is a set the candidate searches walk, so its order (which follows the order its
        positions were added in) must not depend on how it is built: the positions of each token are
        gathered by numpy and added in increasing order, as one name after the other would add them.
        """
        flat = list(chain.from_iterable(tokens_of))
        if not flat:
            return
        kept = [t for t in dict.fromkeys(flat) if len(t) >= 3 and not t.isdigit()]
        code = dict.fromkeys(flat, -1)
        code.update(zip(kept, range(len(kept)), strict=True))
        codes = np.fromiter(map(code.__getitem__, flat), np.int64, len(flat))
        owner = np.repeat(np.arange(start, start + len(tokens_of)), list(map(len, tokens_of)))
        order = np.argsort(codes, kind="stable")
        by_code = owner[order].tolist()
        bounds = np.searchsorted(codes[order], np.arange(-1, len(kept) + 1)).tolist()
        by_token = self._by_token
        self._token_order = None
        for token, first, stop in zip(kept, bounds[1:-1], bounds[2:], strict=True):
            posting = by_token.get(token)
            if posting is None:
                by_token[token] = set(by_code[first:stop])
            else:
                posting.update(by_code[first:stop])

    def _forget_look_ups(self) -> None:
        self._candidates.clear()
        self._name_cache.clear()
        self._narrowed.clear()
        self._orders.clear()
        self._prepared = None

    def keep_payers(self, rules: object, payers: KeptPayers,
                    arriving: Callable[[], bool] | None = None) -> None:
        """Keep what a batch of payments' payers were found to be, by what identified them, for
        :meth:`prepared_payer` to hand out under the same ``rules``; forgotten when a customer changes.

        ``arriving``: payers still being found elsewhere; it adds the next of them to ``payers`` and
        says whether more may come, and is asked for a payer not kept yet.
        """
        self._prepared = (rules, payers, arriving)

    def expects_payers(self, rules: object) -> bool:
        """Whether payers are still arriving for :meth:`prepared_payer` under these very ``rules``."""
        prepared = self._prepared
        return prepared is not None and prepared[0] is rules and prepared[2] is not None

    def prepared_payer(self, key: tuple[str | None, ...], rules: object) -> object | None:
        """What :meth:`keep_payers` kept for ``key`` under these very ``rules``, if anything (waiting
        for those arriving until it comes or no more do)."""
        prepared = self._prepared
        if prepared is None or prepared[0] is not rules:
            return None
        _, payers, arriving = prepared
        found = payers.get(key)
        while found is None and arriving is not None:
            more = arriving()
            found = payers.get(key)
            if not more:
                if self._prepared is prepared:
                    self._prepared = (rules, payers, None)
                break
        return found

    def __len__(self) -> int:
        return len(self._by_id)

    def names_of(self, customer_id: str) -> set[str]:
        """The customer's normalised names: its name, trading names and aliases."""
        self._index_pending()
        return self._known_names.get(customer_id, set())

    def get(self, customer_id: str) -> CustomerInfo | None:
        """The customer with this id."""
        return self._by_id.get(customer_id)

    def by_account(self, account: str | None) -> set[str]:
        """Customers that hold this bank account (more than one means the account decides nothing)."""
        self._index_pending()
        norm = normalize_account(account)
        return set(self._by_account.get(norm, ())) if norm else set()

    def owners_of_accounts(self, accounts: Sequence[str]) -> list[set[str]]:
        """:meth:`by_account` of many accounts (the sets are the index's own: not to be changed)."""
        if not accounts:  # payments all known by id: the customers need not be indexed for them
            return []
        self._index_pending()
        by_account, nobody = self._by_account, set[str]()
        return [by_account.get(norm, nobody) if norm else nobody for norm in normalize_accounts(accounts)]

    def _candidate_lists(self, token_lists: Iterable[list[str]], limit: int) -> list[list[int]]:
        """Each token list's candidate names (positions in ``_texts``), see :meth:`_narrow`; lists of
        the same known tokens share one list (not to be changed), kept for the next search."""
        order = self._token_order
        if order is None:
            # Tokens as rare as each other are taken in their own order, not the set's (which changes
            # from run to run with Python's string hashing), so a run's decisions and explanations repeat.
            order = self._token_order = {t: (len(posting), t) for t, posting in self._by_token.items()}
        seen = self._candidates.get(limit)
        if seen is None or len(seen) > 100_000:
            seen = self._candidates[limit] = {}
        found: list[list[int]] = []
        for tokens in token_lists:
            ranked = tuple(sorted(set(filter(order.__contains__, tokens)), key=order.__getitem__))
            candidates = seen.get(ranked)
            if candidates is None:
                candidates = seen[ranked] = list(self._narrow(ranked, limit))
            found.append(candidates)
        return found

    def _narrow(self, ranked: tuple[str, ...], limit: int) -> set[int]:
        """Names sharing the rarest tokens, narrowed by intersection while there are too many.

        Common words ("mueller", "logistik") are shared by thousands of customers in a large ledger;
        intersecting their postings keeps the candidates few without dropping them. Starting a second
        time from the next-rarest token keeps a name whose rarest word was mistyped findable.
        """
        by_token = self._by_token
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
                    narrowed = self._narrowed[pair] = self._intersection(cand, token)
                if narrowed:
                    cand = narrowed
                    narrowed_by = f"{narrowed_by} {token}"
            if len(cand) <= limit:
                found |= cand
        return found

    def _intersection(self, cand: set[int], token: str) -> set[int]:
        """``cand & self._by_token[token]``, the very same set (its elements in the same order), with
        the membership tests of two large postings done by numpy."""
        posting = self._by_token[token]
        if len(cand) < 256 or len(posting) < 256:
            return cand & posting
        # Python walks the smaller set (the posting when as large) and adds what the other holds, in
        # that order: a set made from the same elements in the same order is laid out alike.
        walked, other = (cand, posting) if len(posting) > len(cand) else (posting, cand)
        order = self._in_order(walked)
        marks = self._marks
        if len(marks) < len(self._texts):
            marks = self._marks = np.zeros(len(self._texts), np.bool_)
        members = self._in_order(other)
        marks[members] = True
        kept = order[marks[order]]
        marks[members] = False
        return set(kept.tolist())

    def _in_order(self, positions: set[int]) -> np.ndarray:
        """A set of positions as an array, in the set's order; a posting's kept for the next time."""
        key = id(positions)
        found = self._orders.get(key)
        if found is None or found[0] is not positions:
            found = (positions, np.fromiter(positions, np.int64, len(positions)))
            if len(self._orders) > 4096:
                self._orders.clear()
            self._orders[key] = found
        return found[1]

    def _normalized(self, names: Sequence[str]) -> dict[str, str]:
        """Each distinct name and its :func:`~rules.cashapp.normalize.normalize_name`, the names not
        normalised before found in one pass."""
        distinct = list(dict.fromkeys(names))
        norms = self._norms
        if len(norms) > 200_000:
            norms.clear()
        new = [name for name in distinct if name not in norms]
        if new:
            norms.update(zip(new, normalize_names(new), strict=True))
        return dict(zip(distinct, map(norms.__getitem__, distinct), strict=True))

    def namesakes(self, name: str) -> set[str]:
        """Customers whose name has one word more or one word less than ``name`` ("Koch Pharma" and
        "Koch Pharma Nord" for "KOCH PHARMA"); two-word names count only for a longer namesake."""
        return self.namesakes_of_many([name])[0]

    def namesakes_of_many(self, names: Sequence[str]) -> list[set[str]]:
        """:meth:`namesakes` of many names, normalised together."""
        self._index_pending()
        norm_of = self._normalized(names)
        by_words, one_word_less = self._by_words, self._one_word_less
        found: list[set[str]] = []
        for words in map(frozenset, map(str.split, map(norm_of.__getitem__, names))):
            alike: set[str] = set()
            if len(words) >= 2:
                alike.update(one_word_less.get(words, ()))
                if len(words) > 2:
                    for word in words:
                        alike.update(by_words.get(words - {word}, ()))
            found.append(alike)
        return found

    def score_name(self, name: str, customer_id: str) -> float:
        """How well ``name`` fits one customer's names (the score :meth:`score_names` gives)."""
        return self.score_name_pairs([(name, customer_id)])[0]

    def score_name_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """:meth:`score_name` of many names and customers, scored by rapidfuzz in one call for all."""
        self._index_pending()
        texts, sorted_texts = self._texts, self._sorted_texts
        names = [name for name, _ in pairs]
        norm_of = self._normalized(names)
        norms = list(map(norm_of.__getitem__, names))
        ordered_of = {norm: _sorted_words(norm) for norm in dict.fromkeys(norms)}
        # Each customer's names, the payer's name repeated for each of them.
        mine = list(map(self._positions.get, [cid for _, cid in pairs], repeat(())))
        counts = list(map(len, mine))
        positions = list(chain.from_iterable(mine))
        if not positions:
            return [0.0] * len(pairs)
        queries = list(chain.from_iterable(map(repeat, norms, counts)))
        ordered_queries = list(chain.from_iterable(map(repeat, map(ordered_of.__getitem__, norms), counts)))
        set_scores = process.cpdist(queries, list(map(texts.__getitem__, positions)),
                                    scorer=fuzz.token_set_ratio, dtype=np.float64)
        sort_scores = process.cpdist(ordered_queries, list(map(sorted_texts.__getitem__, positions)),
                                     scorer=fuzz.ratio, dtype=np.float64)
        # A name equal to one of the customer's scores 100 by both ratios, so the mean is 100 for it too.
        means = (set_scores + sort_scores) / 2
        # The best of each customer's names; a customer without names scores 0.
        sizes = np.array(counts)
        found = np.zeros(len(pairs))
        some = np.flatnonzero(sizes)
        found[some] = np.maximum.reduceat(means, (np.cumsum(sizes) - sizes)[some])
        return found.tolist()

    def score_names(self, name: str, max_customers: int, at_least: float = 0.0) -> list[tuple[float, str]]:
        """Best fuzzy score per customer for a payer name, best first.

        The score averages rapidfuzz's token-set ratio (tolerates missing words) and token-sort
        ratio (penalises them), so "MUELLER" alone does not look like every Mueller equally well.
        Customers scoring below ``at_least`` are left out (a caller that reads no lower score saves
        their bookkeeping). Results are cached per normalised name: the same payers pay every month.
        """
        return self.score_many_names([name], max_customers, at_least)[0]

    def score_many_names(self, names: Sequence[str], max_customers: int,
                         at_least: float = 0.0) -> list[list[tuple[float, str]]]:
        """:meth:`score_names` of many payer names, the names new to the cache scored together."""
        self._index_pending()
        parts_of = name_parts_of_many(names)
        norm_of = self._normalized([part for parts in parts_of for part in parts])
        cache = self._name_cache
        new = [norm for norm in dict.fromkeys(norm_of.values()) if norm and (norm, at_least) not in cache]
        if new:
            if len(cache) + len(new) > 100_000:
                cache.clear()
            cache.update(zip([(norm, at_least) for norm in new],
                             self._rank_names(new, max_customers, at_least), strict=True))
        found: list[list[tuple[float, str]]] = []
        for parts in parts_of:
            if len(parts) == 1:
                norm = norm_of[parts[0]]
                found.append(cache[norm, at_least] if norm else [])
                continue
            # "Reed Gray Energy d/b/a Old Mill Market": the payer wrote both names; either may be known.
            merged: dict[str, float] = {}
            for part in parts:
                norm = norm_of[part]
                for score, cid in cache[norm, at_least] if norm else ():
                    merged[cid] = max(score, merged.get(cid, 0.0))
            found.append(sorted(((s, c) for c, s in merged.items()), reverse=True))
        return found

    def _rank_names(self, norms: list[str], max_customers: int,
                    at_least: float) -> list[list[tuple[float, str]]]:
        """Each normalised name's customers, best first, scored as :meth:`score_names` says."""
        texts, owners, sorted_texts = self._texts, self._owners, self._sorted_texts
        # The C loop of rapidfuzz ranks each name's candidates; the slower combined score is for the
        # top few of every name, their token-sort scores taken in one call for all the names at once.
        # Below 70 the mean cannot reach the lowest threshold that reads it.
        top_of = partial(process.extract, scorer=fuzz.token_set_ratio, limit=20, score_cutoff=70)
        lists = self._candidate_lists(map(name_tokens, norms), max_customers)
        tops = [top_of(norm, list(map(texts.__getitem__, positions))) if positions else []
                for norm, positions in zip(norms, lists, strict=True)]
        counts = list(map(len, tops))
        ranked: list[list[tuple[float, str]]] = [[] for _ in norms]
        found = list(chain.from_iterable(tops))
        if not found:
            return ranked
        # Each (text, score, index among the name's candidates) found, its name's candidates and query.
        set_scores = np.fromiter(map(itemgetter(1), found), np.float64, len(found))
        chosen = list(map(list.__getitem__, chain.from_iterable(map(repeat, lists, counts)),
                          map(itemgetter(2), found)))
        queries = list(chain.from_iterable(map(repeat, map(_sorted_words, norms), counts)))
        # The token-sort ratio is the plain ratio of the words put in order (as rapidfuzz does it), the
        # index's names put in order once.
        sort_scores = process.cpdist(queries, list(map(sorted_texts.__getitem__, chosen)), scorer=fuzz.ratio,
                                     dtype=np.float64, score_cutoff=max(0.0, 2 * at_least - 100))
        # A mean of at least ``at_least`` needs a token-sort score of twice that less the token-set one.
        # A name equal to the payer's scores 100 by both ratios, so the mean is 100 for it too.
        means = (set_scores + sort_scores) / 2
        kept = np.flatnonzero(means >= at_least)
        if not len(kept):
            return ranked
        # Per name, each customer's best score, best first and the larger customer id first among equals
        # (the order of sorting (score, customer) pairs in reverse): sorted by numpy for all names at once.
        of_name = np.repeat(np.arange(len(norms)), counts)[kept]
        scores = means[kept]
        cids = list(map(owners.__getitem__, map(chosen.__getitem__, kept.tolist())))
        rank_of = {cid: k for k, cid in enumerate(sorted(set(cids)))}
        ranks = np.fromiter(map(rank_of.__getitem__, cids), np.int64, len(cids))
        order = np.lexsort((-ranks, -scores, of_name))
        # A customer with two names among a name's top candidates counts with the better one.
        _, first = np.unique(of_name[order] * len(rank_of) + ranks[order], return_index=True)
        order = order[np.sort(first)]
        names_of = of_name[order]
        pairs = list(zip(scores[order].tolist(), map(cids.__getitem__, order.tolist()), strict=True))
        bounds = np.flatnonzero(np.diff(names_of)) + 1
        for n, start, end in zip(names_of[np.r_[0, bounds]].tolist(), [0, *bounds.tolist()],
                                 [*bounds.tolist(), len(pairs)], strict=True):
            ranked[n] = pairs[start:end]
        return ranked

    def score_names_in_text(self, text: str, max_customers: int) -> list[tuple[float, str]]:
        """Best score per customer whose name appears (approximately) inside free text.

        A name whose every word stands in the text scores 100 in any order and with any punctuation
        between the words ("1234//SMITH-John" names John Smith); when several names do, the one
        whose words include all the others' is meant ("Koch Pharma Nord" over "Koch Pharma").
        Otherwise the best approximate substring counts.
        """
        return self.score_many_texts([text], max_customers)[0]

    def score_many_texts(self, texts: Sequence[str], limit: int,
                         at_least: float = 0.0) -> list[list[tuple[float, str]]]:
        """:meth:`score_names_in_text` of many texts, the approximate substrings scored together;
        customers scoring below ``at_least`` are left out."""
        self._index_pending()
        names, owners, word_sets, long_enough = self._texts, self._owners, self._word_sets, self._long_enough
        norms = normalize_names(list(texts))
        found: list[dict[str, float]] = []
        # Every candidate name of every text, scored by rapidfuzz in one call for all.
        which: list[int] = []
        positions: list[int] = []
        lists = self._candidate_lists(map(name_tokens, norms), limit)
        for k, (norm, listed) in enumerate(zip(norms, lists, strict=True)):
            best: dict[str, float] = {}
            contained: dict[str, set[str]] = {}
            found.append(best)
            # One short word inside a long text is too easy to hit by chance.
            candidates = list(filter(long_enough.__getitem__, listed))
            if not candidates:
                continue
            words = set(norm.split())
            for pos in compress(candidates, map(words.issuperset, map(word_sets.__getitem__, candidates))):
                cid = owners[pos]
                best[cid] = 100.0
                contained[cid] = contained.get(cid, set()) | word_sets[pos]
            if contained:
                if len(contained) > 1:
                    for cid, tokens in contained.items():
                        if any(tokens < other for o, other in contained.items() if o != cid):
                            best[cid] = 90.0
                # A customer with a name standing whole in the text keeps that score: its names are not
                # scored as substrings.
                candidates = [pos for pos in candidates if owners[pos] not in contained]
            which += [k] * len(candidates)
            positions += candidates
        if positions:
            partial = process.cpdist([names[pos] for pos in positions], [norms[k] for k in which],
                                     scorer=fuzz.partial_ratio, dtype=np.float64, score_cutoff=at_least)
            for j in np.flatnonzero(partial >= at_least).tolist():
                k, cid = which[j], owners[positions[j]]
                best = found[k]
                score = float(partial[j])
                if score > best.get(cid, -1.0):
                    best[cid] = score
        return [sorted(((s, c) for c, s in best.items() if s >= at_least), reverse=True) for best in found]

