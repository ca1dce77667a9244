"""A large customer's open amounts as integer thousandths in arrays, kept while its documents stay put.

A payment that quotes some of a large customer's invoices and pays more asks which of the others the
rest could pay: hundreds of ``Decimal`` comparisons and conversions each time. The customer's open
documents stay the same list from one such payment to the next, shrinking as payments settle some;
kept here, the question costs one pass reading the open amounts (to tell nothing else changed) and a
few array operations.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import compress, repeat
from operator import attrgetter

import numpy as np

from rules.cashapp.model import OpenDocument

_remaining_of = attrgetter("remaining")
_kind_of = attrgetter("kind")
_id_of = attrgetter("doc_id")
_is_invoice = "invoice".__eq__
# Fewer documents are compared as amounts as quickly as their arrays are looked at.
_MIN_DOCS = 64
# Amounts from this many thousandths on could overflow the arrays' sums.
_LARGEST = 1 << 61
# Lists kept: one per customer whose many documents a payment looked at lately.
_KEPT = 512


class _Amounts:
    """One list of documents as it was: its members, their open amounts, and the arrays read from them."""

    __slots__ = ("docs", "invoice", "members", "owed", "place", "units")

    def __init__(self, docs: list[OpenDocument], owed: list[Decimal], units: np.ndarray,
                 invoice: np.ndarray) -> None:
        self.docs = docs
        self.members = list(docs)
        self.owed = owed
        self.units = units
        self.invoice = invoice
        ids = list(map(_id_of, docs))
        place = dict(zip(ids, range(len(ids)), strict=True))
        # Two documents of one id: leaving that id out is then done document by document.
        self.place = place if len(place) == len(ids) else None

    def narrowed(self, docs: list[OpenDocument], owed: list[Decimal]) -> _Amounts | None:
        """The arrays of ``docs`` if it is what is left of the members (in order, with the same open
        amounts) after payments settled some of them; else None."""
        inside = set(docs)
        keep = list(map(inside.__contains__, self.members))
        if list(compress(self.members, keep)) != docs or list(compress(self.owed, keep)) != owed:
            return None
        mask = np.array(keep, dtype=bool)
        return _Amounts(docs, owed, self.units[mask], self.invoice[mask])


_kept: dict[int, _Amounts] = {}


def _amounts(docs: list[OpenDocument]) -> _Amounts | None:
    """The arrays of ``docs`` as they are now; None when an open amount is not a positive number
    below the arrays' limit."""
    owed = list(map(_remaining_of, docs))
    kept = _kept.get(id(docs))
    made = None
    if kept is not None and kept.docs is docs:
        if kept.members == docs and kept.owed == owed:
            return kept
        made = kept.narrowed(docs, owed)
    if made is None:
        try:
            units = list(map(int, map(Decimal.scaleb, owed, repeat(3))))
        except (ValueError, OverflowError, ArithmeticError):  # not a finite number
            return None
        if units and (min(units) <= 0 or max(units) >= _LARGEST):
            return None
        invoice = np.array(list(map(_is_invoice, map(_kind_of, docs))), dtype=bool)
        made = _Amounts(docs, owed, np.array(units, dtype=np.int64), invoice)
    _kept.pop(id(docs), None)
    if len(_kept) >= _KEPT:
        del _kept[next(iter(_kept))]
    # Keeping the list also keeps its id from being reused by another while it is here.
    _kept[id(docs)] = made
    return made


def invoices_up_to(docs: list[OpenDocument], amount: Decimal,
                   leave_out: set[str]) -> tuple[list[OpenDocument], list[int]] | None:
    """The invoices among ``docs`` open for at most ``amount``, but for those whose id is in ``leave_out``.

    Returns:
        Those open for exactly ``amount`` (in order), and the open amounts of all of them in
        thousandths, cut as :func:`~rules.cashapp.subset.units_of` cuts them (in order); or None when
        there are few documents or an amount does not fit the arrays (the caller then compares the
        amounts themselves).
    """
    if len(docs) < _MIN_DOCS:
        return None
    scaled = amount.scaleb(3)
    if not scaled.is_finite() or scaled != scaled.to_integral_value() or abs(scaled) >= _LARGEST:
        return None
    found = _amounts(docs)
    if found is None:
        return None
    target = int(scaled)
    units = found.units
    chosen = found.invoice & (units <= target)
    if leave_out:
        place = found.place
        if place is None:
            chosen &= np.array([d.doc_id not in leave_out for d in docs], dtype=bool)
        else:
            chosen[[place[i] for i in leave_out if i in place]] = False
    # Thousandths are cut, not rounded: of the amounts cut to the target's, only the one equal to it
    # is not above it.
    same = []
    for i in np.flatnonzero(chosen & (units == target)).tolist():
        if docs[i].remaining == amount:
            same.append(docs[i])
        else:
            chosen[i] = False
    return same, units[chosen].tolist()
