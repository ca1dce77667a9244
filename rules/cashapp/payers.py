"""Customers by id, bank account and name, for telling who paid.

Customer names are indexed by token so a fuzzy payer-name search scores a handful of candidates
instead of every customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain, islice
from operator import itemgetter

import numpy as np
from rapidfuzz import fuzz, process

from mapping.models import Customer
from rules.cashapp.model import CustomerInfo, customer_from_model
from rules.cashapp.normalize import (
    name_parts,
    name_tokens,
    normalize_account,
    normalize_name,
    normalize_names,
)

_choice_of = itemgetter(0)
_score_of = itemgetter(1)


class CustomerIndex:
    """Customers by id, by normalised bank account and by name token (names and aliases)."""

    __slots__ = ("_by_account", "_by_id", "_by_token", "_by_words", "_known_names", "_name_cache", "_names",
                 "_narrowed", "_one_word_less", "_owners", "_prepared", "_texts", "_word_sets")

    def __init__(self, customers: Iterable[CustomerInfo] = ()) -> None:
        self._by_id: dict[str, CustomerInfo] = {}
        self._by_account: dict[str, set[str]] = {}
        self._names: list[tuple[str, str]] = []
        self._texts: list[str] = []
        # By position in ``_names``: the customer, and the name's set of words.
        self._owners: list[str] = []
        self._word_sets: list[frozenset[str]] = []
        self._by_token: dict[str, set[int]] = {}
        self._narrowed: dict[tuple[str, str], set[int]] = {}
        self._name_cache: dict[tuple[str, float], list[tuple[float, str]]] = {}
        self._known_names: dict[str, set[str]] = {}
        # Names by their set of words, and by each set of all their words but one: the customers a
        # name is one word apart from are found by a few look-ups, however common the words are.
        self._by_words: dict[frozenset[str], set[str]] = {}
        self._one_word_less: dict[frozenset[str], set[str]] = {}
        # The payers of the last batch of payments, identified at once (see ``keep_payers``).
        self._prepared: tuple[object, dict[tuple[str | None, ...], object]] | None = None
        self.extend(customers)

    @classmethod
    def from_models(cls, customers: Iterable[Customer]) -> CustomerIndex:
        """Index canonical customers."""
        return cls(customer_from_model(c) for c in customers)

    def add(self, customer: CustomerInfo) -> None:
        """Index a customer, or add what is new about one already indexed (a learned alias)."""
        self.extend((customer,))

    def extend(self, customers: Iterable[CustomerInfo]) -> None:
        """Index many customers (or what is new about ones already indexed), their names normalised
        in one pass."""
        batch = customers if isinstance(customers, (list, tuple)) else list(customers)
        # A trading name ("… t/a Blue Anchor Cafe") is a name the customer pays under, like an alias.
        raw = [[part for name in (c.name, *c.aliases) for part in name_parts(name)] for c in batch]
        norms = iter(normalize_names([part for parts in raw for part in parts]))
        by_id, by_account, known_names = self._by_id, self._by_account, self._known_names
        names, texts, by_token = self._names, self._texts, self._by_token
        owners, word_sets = self._owners, self._word_sets
        by_words, one_word_less = self._by_words, self._one_word_less
        for customer, parts in zip(batch, raw, strict=True):
            cid = customer.customer_id
            by_id[cid] = customer
            if customer.bank_accounts and self._prepared is not None:
                self._prepared = None
            for account in customer.bank_accounts:
                norm = normalize_account(account)
                if norm:
                    by_account.setdefault(norm, set()).add(cid)
            known = known_names.setdefault(cid, set())
            for norm in islice(norms, len(parts)):
                if not norm or norm in known:
                    continue
                known.add(norm)
                if self._name_cache or self._narrowed or self._prepared is not None:
                    self._forget_look_ups()
                pos = len(names)
                names.append((cid, norm))
                texts.append(norm)
                owners.append(cid)
                words = frozenset(norm.split())
                word_sets.append(words)
                by_words.setdefault(words, set()).add(cid)
                if len(words) > 2:
                    for word in words:
                        one_word_less.setdefault(words - {word}, set()).add(cid)
                for token in set(name_tokens(norm)):
                    found = by_token.get(token)
                    if found is None:
                        by_token[token] = {pos}
                    else:
                        found.add(pos)

    def _forget_look_ups(self) -> None:
        self._name_cache.clear()
        self._narrowed.clear()
        self._prepared = None

    def keep_payers(self, rules: object, payers: dict[tuple[str | None, ...], object]) -> None:
        """Keep what a batch of payments' payers were found to be, by what identified them, for
        :meth:`prepared_payer` to hand out under the same ``rules``; forgotten when a customer changes."""
        self._prepared = (rules, payers)

    def prepared_payer(self, key: tuple[str | None, ...], rules: object) -> object | None:
        """What :meth:`keep_payers` kept for ``key`` under these very ``rules``, if anything."""
        prepared = self._prepared
        if prepared is None or prepared[0] is not rules:
            return None
        return prepared[1].get(key)

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
        parts_of = [name_parts(name) for name in names]
        norms = {normalize_name(part) for parts in parts_of for part in parts}
        norms.discard("")
        cache = self._name_cache
        new = [norm for norm in norms if (norm, at_least) not in cache]
        if new:
            if len(cache) + len(new) > 100_000:
                cache.clear()
            cache.update(zip([(norm, at_least) for norm in new],
                             self._rank_names(new, max_customers, at_least), strict=True))
        found: list[list[tuple[float, str]]] = []
        for parts in parts_of:
            if len(parts) == 1:
                norm = normalize_name(parts[0])
                found.append(cache[norm, at_least] if norm else [])
                continue
            # "Reed Gray Energy d/b/a Old Mill Market": the payer wrote both names; either may be known.
            merged: dict[str, float] = {}
            for part in parts:
                norm = normalize_name(part)
                for score, cid in cache[norm, at_least] if norm else ():
                    merged[cid] = max(score, merged.get(cid, 0.0))
            found.append(sorted(((s, c) for c, s in merged.items()), reverse=True))
        return found

    def _rank_names(self, norms: list[str], max_customers: int,
                    at_least: float) -> list[list[tuple[float, str]]]:
        """Each normalised name's customers, best first, scored as :meth:`score_names` says."""
        texts, owners = self._texts, self._owners
        extract, set_ratio = process.extract, fuzz.token_set_ratio
        # The C loop of rapidfuzz ranks each name's candidates; the slower combined score is for the
        # top few of every name, their token-sort scores taken in one call for all the names at once.
        # Below 70 the mean cannot reach the lowest threshold that reads it.
        queries: list[str] = []
        tops: list[list[tuple[str, float, int]]] = []
        candidates: list[list[int]] = []
        for norm in norms:
            positions = list(self._candidates(name_tokens(norm), max_customers))
            top: list[tuple[str, float, int]] = []
            if positions:
                choices = list(map(texts.__getitem__, positions))
                top = extract(norm, choices, scorer=set_ratio, limit=20, score_cutoff=70)
                queries += [norm] * len(top)
            tops.append(top)
            candidates.append(positions)
        ranked: list[list[tuple[float, str]]] = [[] for _ in norms]
        if not queries:
            return ranked
        flat = list(chain.from_iterable(tops))
        set_scores = np.fromiter(map(_score_of, flat), np.float64, len(flat))
        # A mean of at least ``at_least`` needs a token-sort score of twice that less the token-set one.
        sort_scores = process.cpdist(queries, list(map(_choice_of, flat)), scorer=fuzz.token_sort_ratio,
                                     dtype=np.float64, score_cutoff=max(0.0, 2 * at_least - 100))
        # A name equal to the payer's scores 100 by both ratios, so the mean is 100 for it too.
        means = (set_scores + sort_scores) / 2
        kept = np.flatnonzero(means >= at_least)
        if not len(kept):
            return ranked
        of_name = np.repeat(np.arange(len(norms)), [len(top) for top in tops])[kept].tolist()
        bests: dict[int, dict[str, float]] = {}
        for n, j, score in zip(of_name, kept.tolist(), means[kept].tolist(), strict=True):
            best = bests.get(n)
            if best is None:
                best = bests[n] = {}
            cid = owners[candidates[n][flat[j][2]]]
            if score > best.get(cid, -1.0):
                best[cid] = score
        for n, best in bests.items():
            ranked[n] = sorted(((s, c) for c, s in best.items()), reverse=True)
        return ranked

    def score_names_in_text(self, text: str, max_customers: int) -> list[tuple[float, str]]:
        """Best score per customer whose name appears (approximately) inside free text.

        A name whose every word stands in the text scores 100 in any order and with any punctuation
        between the words ("1234//SMITH-John" names John Smith); when several names do, the one
        whose words include all the others' is meant ("Koch Pharma Nord" over "Koch Pharma").
        Otherwise the best approximate substring counts.
        """
        return self.score_many_texts([text], max_customers)[0]

    def score_many_texts(self, texts: Sequence[str], max_customers: int,
                         at_least: float = 0.0) -> list[list[tuple[float, str]]]:
        """:meth:`score_names_in_text` of many texts, the approximate substrings scored together;
        customers scoring below ``at_least`` are left out."""
        names, owners, word_sets = self._texts, self._owners, self._word_sets
        norms = normalize_names(list(texts))
        found: list[dict[str, float]] = []
        whole: list[dict[str, set[str]]] = []
        # The names not standing whole in a text, by text: scored by rapidfuzz in one call for all.
        which: list[int] = []
        positions: list[int] = []
        for k, norm in enumerate(norms):
            best: dict[str, float] = {}
            contained: dict[str, set[str]] = {}
            found.append(best)
            whole.append(contained)
            if not norm:
                continue
            words = set(norm.split())
            for pos in self._candidates(name_tokens(norm), max_customers):
                candidate = names[pos]
                # One short word inside a long text is too easy to hit by chance.
                if len(candidate) < 6 or (" " not in candidate and len(candidate) < 8):
                    continue
                if word_sets[pos] <= words:
                    cid = owners[pos]
                    best[cid] = 100.0
                    contained[cid] = contained.get(cid, set()) | word_sets[pos]
                else:
                    which.append(k)
                    positions.append(pos)
        if positions:
            partial = process.cpdist([names[pos] for pos in positions], [norms[k] for k in which],
                                     scorer=fuzz.partial_ratio, dtype=np.float64, score_cutoff=at_least)
            for k, pos, score in zip(which, positions, partial.tolist(), strict=True):
                cid = owners[pos]
                best = found[k]
                if score > best.get(cid, -1.0) and cid not in whole[k]:
                    best[cid] = score
        for best, contained in zip(found, whole, strict=True):
            if len(contained) > 1:
                for cid, tokens in contained.items():
                    if any(tokens < other for o, other in contained.items() if o != cid):
                        best[cid] = 90.0
        return [sorted(((s, c) for c, s in best.items() if s >= at_least), reverse=True) for best in found]
