"""Bounded search for the sets of open documents whose amounts add up to a payment.

Odoo fills greedily in date order, which never notices that two different sets would fit; this
search counts solutions (stopping at two) so the matcher can tell a unique fit from an ambiguous one.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate, combinations, repeat, starmap
from math import comb, exp, gcd, pi, sqrt
from operator import add, mul, sub

import numpy as np

_MILLI = 3  # amounts are compared in thousandths, exact for every ISO 4217 minor unit
# Times one with the exponent three: the amount's digits with its exponent moved up by three, as
# ``scaleb(3)`` gives them (rounded to the context's precision alike), by the multiplication slot
# rather than a method call that packs its arguments.
_THOUSAND = Decimal(1).scaleb(_MILLI)


def to_units(amount: Decimal) -> int:
    """An amount as an integer number of thousandths (exact, never through float)."""
    return int(amount * _THOUSAND)


def units_of(amounts: Iterable[Decimal]) -> list[int]:
    """:func:`to_units` of each amount, in one C-speed pass (a customer may have hundreds)."""
    return list(map(int, map(mul, amounts, repeat(_THOUSAND))))


@dataclass(slots=True)
class SubsetResult:
    """Solutions found (index tuples into the input) and whether the search covered everything."""

    solutions: list[tuple[int, ...]]
    complete: bool


def find_subsets(
    values: list[int], low: int, high: int, *, max_size: int, budget: int, limit: int = 2
) -> SubsetResult:
    """Sets of up to ``max_size`` values whose sum lies in ``[low, high]``.

    Args:
        values: Positive amounts in thousandths.
        low: Smallest acceptable sum.
        high: Largest acceptable sum.
        max_size: Most documents one payment may cover without a reference.
        budget: Search nodes allowed; when spent, ``complete`` is False and uniqueness is unproven.
        limit: Stop after this many solutions (two already mean "ambiguous").

    Returns:
        The solutions as tuples of indexes into ``values``, and whether the search was exhaustive.
    """
    if (low == high and max_size == 4 and limit > 0 and 0 < len(values) <= _HALVES_MAX_VALUES
            and min(values) > 0 and _nodes_at_most(len(values), max_size) + limit <= budget):
        # Most amounts searched for are no set's sum. A set of up to four is two parts of up to two
        # values each (or none), so when no sum of a part leaves another part's sum to the amount, no set
        # adds up to it; and the search, within its budget, would have proven it exhaustively.
        halves = _halves(values)
        if halves.isdisjoint(map(sub, repeat(low), halves)):
            return SubsetResult([], True)
    ordered = _largest_first(values)
    # Those above ``high`` come first and are in no set: the search starts after them.
    skip = bisect_left(ordered.negs, -high)
    if low == high:
        first = _first_sets(ordered, skip, low, max_size, budget, limit)
        if first is not None:
            order = ordered.order
            return SubsetResult([tuple(sorted(map(order.__getitem__, s))) for s in first], True)
    return _search(ordered, skip, low, high, max_size, budget, limit)


# Up to this many values, their sums of one and of two (a few hundred) are quicker to make and look up
# in a set than ordering the values for the search or the arrays of the larger ones.
_HALVES_MAX_VALUES = 12
# The last values and their halves (read and replaced as one tuple, as ``_last_ordered`` below).
_last_halves: list[tuple[list[int], set[int]] | None] = [None]


def _halves(values: list[int]) -> set[int]:
    """Zero, each value and each sum of two of them: every sum of a part of a set of up to two values."""
    last = _last_halves[0]
    if last is not None and last[0] == values:
        return last[1]
    found = set(starmap(add, combinations(values, 2)))
    found.update(values)
    found.add(0)
    _last_halves[0] = (list(values), found)
    return found


class _Ordered:
    """Values largest first, and what the search reads of them."""

    __slots__ = ("at", "negs", "order", "prefix", "values")

    def __init__(self, values: list[int]) -> None:
        # Largest first; equal values keep their order (a reversed sort is stable too). Most often every
        # value is positive (open amounts): the indexes are then all of them, and the values sorted alone
        # are the same numbers in the same order.
        if values and min(values) > 0:
            self.order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
            self.values = sorted(values, reverse=True)
        else:
            positive = [i for i, v in enumerate(values) if v > 0]
            self.order = sorted(positive, key=values.__getitem__, reverse=True)
            self.values = list(map(values.__getitem__, self.order))
        # Ascending negatives of the descending values: bisect finds the first value that still fits
        # under a bound without walking past every larger one.
        self.negs = [-v for v in self.values]
        self.prefix = list(accumulate(self.values, initial=0))
        # Where each value is, made when an exact amount is first searched for.
        self.at: tuple[dict[int, int], dict[int, int]] | None = None

    def positions(self) -> tuple[dict[int, int], dict[int, int]]:
        """The first and the last index of each value (equal values are next to each other)."""
        at = self.at
        if at is None:
            vals = self.values
            n = len(vals)
            last = dict(zip(vals, range(n), strict=True))
            # Most often no value repeats, and each is first where it is last. Otherwise the later of
            # two equal values overwrites the earlier: read backwards, the first is kept.
            first = last if len(last) == n else dict(zip(reversed(vals), range(n - 1, -1, -1), strict=True))
            at = self.at = (first, last)
        return at


# A payment tries several targets (its amount, then net of each credit memo) on the same amounts.
# The last values and their order, read and replaced as one tuple, so that runs in several threads
# never take one's values with another's order.
_last_ordered: list[tuple[list[int], _Ordered] | None] = [None]


def _largest_first(values: list[int]) -> _Ordered:
    last = _last_ordered[0]
    if last is not None and last[0] == values:
        return last[1]
    ordered = _Ordered(values)
    _last_ordered[0] = (list(values), ordered)
    return ordered


def _search(ordered: _Ordered, skip: int, low: int, high: int, max_size: int, budget: int,
            limit: int) -> SubsetResult:
    """The search of :func:`find_subsets` over the values after the ``skip`` largest."""
    order, vals, negs, prefix = ordered.order, ordered.values, ordered.negs, ordered.prefix
    n = len(vals)
    solutions: list[tuple[int, ...]] = []
    nodes = 0
    complete = True
    chosen: list[int] = []
    # For an exact amount the last two documents of a set are found by looking the remainder up,
    # which visits the same nodes in the same order as walking down to them, in a fraction of the time.
    # (A remainder is below the amount, so none of the values above it can be one.)
    exact = low == high and skip < n
    first_at, last_at = ordered.positions() if exact else ({}, {})

    def walk(start: int, total: int) -> bool:
        nonlocal nodes, complete
        if chosen and low <= total <= high:
            solutions.append(tuple(sorted(order[i] for i in chosen)))
            if len(solutions) >= limit:
                return False
        room = max_size - len(chosen)
        if room == 0:
            return True
        need = low - total
        if room == 2 and exact:
            return pairs(start, total, need)
        for i in range(bisect_left(negs, total - high, start), n):
            # Values are sorted largest first, so the next `room` values are the most reachable.
            end = i + room
            if prefix[end if end < n else n] - prefix[i] < need:
                break
            nodes += 1
            if nodes > budget:
                complete = False
                return False
            chosen.append(i)
            go_on = walk(i + 1, total + vals[i])
            chosen.pop()
            if not go_on:
                return False
        return True

    def pairs(start: int, total: int, need: int) -> bool:
        nonlocal nodes, complete
        for i in range(bisect_left(negs, total - high, start), n):
            end = i + 2
            if prefix[end if end < n else n] - prefix[i] < need:
                break
            nodes += 1
            if nodes > budget:
                complete = False
                return False
            rest = need - vals[i]
            if rest == 0:
                solutions.append(tuple(sorted(order[k] for k in (*chosen, i))))
                if len(solutions) >= limit:
                    return False
                continue
            head = first_at.get(rest)
            if head is None:
                continue
            for j in range(head if head > i else i + 1, last_at[rest] + 1):
                nodes += 1
                if nodes > budget:
                    complete = False
                    return False
                solutions.append(tuple(sorted(order[k] for k in (*chosen, i, j))))
                if len(solutions) >= limit:
                    return False
        return True

    walk(skip, 0)
    if len(solutions) >= limit:
        # Stopping early at the limit still proves "not unique", which is all the caller needs.
        complete = True
    return SubsetResult(solutions, complete)


# Below this many values the search itself is as quick as working the sets out in arrays.
_PROOF_MIN_VALUES = 14
# Beyond this many candidate pairs to check one by one, the search is left to do it.
_MATCHES_MAX = 4096
_PAIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _first_sets(ordered: _Ordered, skip: int, target: int, max_size: int, budget: int,
                limit: int) -> list[tuple[int, ...]] | None:
    """The first ``limit`` sets of up to ``max_size`` (two to four) of ``values[skip:]`` (largest first)
    adding up to ``target`` (as indexes into ``values``), in the order the search finds them, worked out
    in arrays or, for few values, by looking each set's last value up; or None when the search is needed
    (its budget could run out, or too many pairs of equal sums to sort through).

    The search visits the sets in lexicographic order of their indexes and meets each set of up to
    ``max_size - 1`` values at most once, plus one node per solution: within the budget it is
    complete, and its first solutions are the lexicographically smallest sets, which is what this
    returns. A set of three is one value and a later pair; a set of four a pair and a later pair.
    The ``skip`` values before are above ``target`` and so in no set: the arrays of all the values
    serve each target a payment tries.
    """
    values = ordered.values
    n = len(values) - skip
    if not 2 <= max_size <= 4 or limit < 1 or target >= 1 << 61:
        return None
    if _nodes_at_most(n, max_size) + limit > budget:
        return None
    if n < _PROOF_MIN_VALUES:
        return _looked_up(ordered, skip, target, max_size, limit)
    arr, sums, parts, pool = _sums(values, max_size)
    # Each value and sum of two looked up among the values and (for four) the sums of two: one
    # value may be counted twice there, so only no hit at all proves that no set adds up. (The parts
    # are largest first, so the look-ups are in ascending order, which the binary search is quickest at.)
    if max_size == 4:
        # The parts are the pool's numbers and zero, so a target two of them make up is one of them,
        # or is made up by one of at least half of it and another: only those are looked up.
        # (A count of hits and the indexes of hits are C calls; any() and flatnonzero() wrap them in
        # Python, which for these few hundred numbers costs more than the work.)
        half, whole = pool.searchsorted((target + 1) // 2), pool.searchsorted(target)
        if pool[whole] != target:
            wanted = target - pool[half:whole][::-1]
            if not np.count_nonzero(pool[pool.searchsorted(wanted)] == wanted):
                return []
    else:
        wanted = target - parts
        if not np.count_nonzero(pool[pool.searchsorted(wanted)] == wanted):
            return []
    n = len(values)
    first, second = _PAIRS[n]
    found: list[tuple[int, ...]] = [(int(i),) for i in (arr == target).nonzero()[0][:limit]]
    found += [(int(first[p]), int(second[p])) for p in (sums == target).nonzero()[0][:limit]]
    if max_size == 2:
        return found[:limit]
    by_sum, sorted_sums = _by_sum(sums)
    # A set of three is a value and a later pair, one of four a pair and a later pair; the heads are
    # in index order, and so are the pairs completing each.
    heads = np.concatenate((arr, sums)) if max_size == 4 else arr
    wanted = target - heads
    starts = sorted_sums.searchsorted(wanted)
    ends = (sorted_sums[starts] == wanted).nonzero()[0]
    stops = sorted_sums.searchsorted(wanted[ends], "right")
    starts = starts[ends]
    if int((stops - starts).sum()) > _MATCHES_MAX:
        return None
    taken = {3: 0, 4: 0}
    for h, start, stop in zip(ends.tolist(), starts.tolist(), stops.tolist(), strict=True):
        size = 3 if h < n else 4
        if taken[size] >= limit:
            continue
        lead = (h,) if size == 3 else (int(first[h - n]), int(second[h - n]))
        tails = by_sum[start:stop]
        for p in tails[first[tails] > lead[-1]][: limit - taken[size]].tolist():
            found.append((*lead, int(first[p]), int(second[p])))
            taken[size] += 1
    found.sort()
    return found[:limit]


def _looked_up(ordered: _Ordered, skip: int, target: int, max_size: int, limit: int) -> list[tuple[int, ...]]:
    """:func:`_first_sets` for few values: the first ``limit`` sets of each size in the search's order,
    each set's last value looked up among the values, the others walked through largest first.

    Values are positive and largest first, so what is left for the values after one only grows as it
    gets smaller, while the most the values after it can make up only shrinks: once the rest is beyond
    them, no later one leaves a set either (the loops break there).
    """
    vals, negs = ordered.values, ordered.negs
    first_at, last_at = ordered.positions()
    get = first_at.get
    n = len(vals)
    # The sums of the values from the start: ``most[i + k] - most[i]`` is the most ``k`` values from
    # ``i`` on make up (the loops below read at most ``most[n]``, the total).
    most = ordered.prefix
    found: list[tuple[int, ...]] = []
    # The values before ``skip`` are above the target, so one equal to it is after them.
    head = get(target)
    if head is not None:
        _ends(found, (), skip - 1, head, last_at[target], limit)
    taken = 0
    for i in range(skip, n - 1):
        rest = target - vals[i]
        if rest > vals[i + 1]:
            break
        head = get(rest)
        if head is not None:
            taken += _ends(found, (i,), i, head, last_at[rest], limit - taken)
            if taken >= limit:
                break
    if max_size >= 3:
        taken = 0
        for i in range(skip, n - 2):
            rest = target - vals[i]
            if rest > most[i + 3] - most[i + 1]:
                break
            # The second is below the rest, so something is left for the third.
            for j in range(bisect_left(negs, 1 - rest, i + 1), n - 1):
                left = rest - vals[j]
                if left > vals[j + 1]:
                    break
                head = get(left)
                if head is not None:
                    taken += _ends(found, (i, j), j, head, last_at[left], limit - taken)
                    if taken >= limit:
                        break
            if taken >= limit:
                break
    if max_size == 4:
        taken = 0
        for i in range(skip, n - 3):
            rest = target - vals[i]
            if rest > most[i + 4] - most[i + 1]:
                break
            for j in range(bisect_left(negs, 1 - rest, i + 1), n - 2):
                more = rest - vals[j]
                if more > most[j + 3] - most[j + 1]:
                    break
                for k in range(bisect_left(negs, 1 - more, j + 1), n - 1):
                    left = more - vals[k]
                    if left > vals[k + 1]:
                        break
                    head = get(left)
                    if head is not None:
                        taken += _ends(found, (i, j, k), k, head, last_at[left], limit - taken)
                        if taken >= limit:
                            break
                if taken >= limit:
                    break
            if taken >= limit:
                break
    found.sort()
    return found[:limit]


def _ends(found: list[tuple[int, ...]], head_of: tuple[int, ...], after: int, first: int, last: int,
          room: int) -> int:
    """Add ``head_of`` ended by each position after ``after`` of the value looked up (it is at ``first``
    to ``last``), at most ``room`` of them, in order; how many were added."""
    start = first if first > after else after + 1
    stop = min(last + 1, start + room)
    if stop <= start:
        return 0
    found.extend((*head_of, m) for m in range(start, stop))
    return stop - start


_NODES: dict[tuple[int, int], int] = {}


def _nodes_at_most(n: int, max_size: int) -> int:
    """The sets of fewer than ``max_size`` of ``n`` values: the most nodes the search meets before a
    solution."""
    nodes = _NODES.get((n, max_size))
    if nodes is None:
        nodes = _NODES[n, max_size] = sum(comb(n, k) for k in range(1, max_size))
    return nodes


# The targets a payment tries are looked up among the same sums of pairs (read and replaced as one
# tuple, as above).
_last_by_sum: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None] = [None]


def _by_sum(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs in ascending order of their sums, and the sums in that order ending in a stop."""
    last = _last_by_sum[0]
    if last is not None and last[0] is sums:
        return last[1]
    # Pairs are in lexicographic order of their indexes; a stable sort keeps it among equal sums.
    by_sum = np.argsort(sums, kind="stable")
    found = (by_sum, np.append(sums[by_sum], _STOP))
    _last_by_sum[0] = (sums, found)
    return found


_ZERO = np.zeros(1, dtype=np.int64)
_STOP = np.array([np.iinfo(np.int64).max], dtype=np.int64)
# A payment tries several targets (its amount, then net of each credit memo) on the same amounts:
# the last values' sums, read and replaced as one tuple (see _last_ordered).
_last_sums: list[tuple[tuple[int, ...], int, tuple[np.ndarray, ...]] | None] = [None]


def _sums(vals: list[int], max_size: int) -> tuple[np.ndarray, ...]:
    """The values and the sums of each pair of them (in the pairs' index order); below four, zero, each
    value and (for three) each sum of two, largest first (sets of four look their parts up in the pool
    alone); and the sorted values and (for four) sums of two to look the rest of a target up in, ending
    in a stop no target reaches."""
    key = tuple(vals)
    last = _last_sums[0]
    if last is not None and last[1] == max_size and last[0] == key:
        return last[2]
    n = len(vals)
    arr = np.array(vals, dtype=np.int64)
    first, second = _PAIRS.get(n) or _PAIRS.setdefault(n, np.triu_indices(n, 1))
    sums = arr[first]
    sums += arr[second]
    pool = np.concatenate((arr, sums, _STOP) if max_size == 4 else (arr, _STOP))
    pool.sort()
    if max_size == 4:  # not read (see _first_sets)
        parts = _ZERO
    else:
        parts = np.concatenate((_ZERO, arr, sums) if max_size > 2 else (_ZERO, arr))
        parts[::-1].sort()
    found = (arr, sums, parts, pool)
    _last_sums[0] = (key, max_size, found)
    return found


def any_subset_reaches(values: list[int], target: int, budget: int) -> bool | None:
    """Whether some set of ``values`` (of any size) adds up to exactly ``target``.

    Used to prove that money left over after the quoted documents cannot be paying other open
    documents. The reachable sums are the set bits of one integer, shifted by each value in turn
    (a subset-sum table in a few C-speed big-integer operations).

    Args:
        values: Positive amounts in thousandths.
        target: The amount to reach, in thousandths.
        budget: Most ``len(values) * target`` (in the values' common unit) worth working through.

    Returns:
        True or False, or None when proving it would cost more than ``budget``.
    """
    vals = [v for v in values if 0 < v <= target]
    if target <= 0 or sum(vals) < target:
        return target == 0
    if target in vals:
        return True
    unit = gcd(target, *vals)
    if len(vals) * (target // unit) > budget:
        return None
    # Two values making up the target is common and found in one pass; the table is for the others.
    seen: set[int] = set()
    for v in vals:
        if target - v in seen:
            return True
        seen.add(v)
    target //= unit
    mask = (1 << (target + 1)) - 1
    reach = 1
    # Smallest first: the table stays short while most values are added (the answer is the same).
    for v in sorted(vals):
        reach |= (reach << (v // unit)) & mask
        if reach >> target & 1:
            return True
    return False


# A payment weighs several targets against the same amounts.
_last_figures: list[tuple[list[int], tuple[int, float, float]]] = []


def _figures(values: list[int]) -> tuple[int, float, float]:
    """The values' common step, mean and standard deviation."""
    if _last_figures and _last_figures[0][0] == values:
        return _last_figures[0][1]
    m = len(values)
    mean = sum(values) / m
    # The same operations on each value in the same order as a generator of ``(v - mean) ** 2``, in C.
    found = (gcd(*values), mean, sqrt(sum(map(pow, map(sub, values, repeat(mean)), repeat(2))) / m))
    _last_figures[:] = [(list(values), found)]
    return found


def chance_of_coincidence(values: list[int], target: int, max_size: int, min_size: int = 2) -> float:
    """How many sets of ``min_size`` to ``max_size`` values would add up to ``target`` by chance alone.

    A set of open invoices that adds up to a payment is evidence only when few sets would: among
    forty invoices, some four of them hit almost any amount to the cent now and then. The sums of
    ``k`` values are taken as normally distributed (mean and spread from the values), so the
    expected number of chance hits is the number of ``k``-sets times the density at ``target``
    times the amounts' common step.

    Args:
        values: The candidate amounts, in thousandths.
        target: The amount the sets must add up to, in thousandths.
        max_size: Largest set size searched.
        min_size: Smallest set size searched.

    Returns:
        The expected number of sets that add up to ``target`` without being what the customer paid.
    """
    m = len(values)
    if m < min_size or m == 0:
        return 0.0
    common, mean, deviation = _figures(values)
    step = gcd(target, common) or 1
    spread = max(deviation, float(step))
    expected = 0.0
    for k in range(max(1, min_size), min(max_size, m) + 1):
        sd = sqrt(k) * spread
        z = (target - k * mean) / sd
        expected += comb(m, k) * exp(-z * z / 2) / (sqrt(2 * pi) * sd) * step
    return expected
