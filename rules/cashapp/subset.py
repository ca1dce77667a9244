"""Bounded search for the sets of open documents whose amounts add up to a payment.

Odoo fills greedily in date order, which never notices that two different sets would fit; this
search counts solutions (stopping at two) so the matcher can tell a unique fit from an ambiguous one.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from decimal import Decimal

_MILLI = 3  # amounts are compared in thousandths, exact for every ISO 4217 minor unit


def to_units(amount: Decimal) -> int:
    """An amount as an integer number of thousandths (exact, never through float)."""
    return int(amount.scaleb(_MILLI))


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
    order = sorted((i for i, v in enumerate(values) if 0 < v <= high), key=lambda i: -values[i])
    vals = [values[i] for i in order]
    # Ascending negatives of the descending values: bisect finds the first value that still fits
    # under ``high`` without walking past every larger one.
    negs = [-v for v in vals]
    n = len(vals)
    prefix = [0] * (n + 1)
    for i, v in enumerate(vals):
        prefix[i + 1] = prefix[i] + v
    solutions: list[tuple[int, ...]] = []
    nodes = 0
    complete = True
    chosen: list[int] = []
    # For an exact amount the last two documents of a set are found by looking the remainder up,
    # which visits the same nodes in the same order as walking down to them, in a fraction of the time.
    at: dict[int, list[int]] = {}
    if low == high:
        for i, v in enumerate(vals):
            at.setdefault(v, []).append(i)

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
        if room == 2 and at:
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
            for j in at.get(rest, ()):
                if j <= i:
                    continue
                nodes += 1
                if nodes > budget:
                    complete = False
                    return False
                solutions.append(tuple(sorted(order[k] for k in (*chosen, i, j))))
                if len(solutions) >= limit:
                    return False
        return True

    walk(0, 0)
    if len(solutions) >= limit:
        # Stopping early at the limit still proves "not unique", which is all the caller needs.
        complete = True
    return SubsetResult(solutions, complete)
