"""The rule today's open-source tools ship: an invoice number in the text and the exact open amount.

Kept as the yardstick the benchmark compares the matcher with (Invoice Ninja's substring test plus
Odoo's "perfect" amount check): auto-apply when exactly one open document's number appears verbatim
in the reference and its open amount equals the payment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from rules.cashapp.index import DocumentIndex
from rules.cashapp.model import ZERO, Application, MatchResult, PaymentInput

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-/_.]*[A-Za-z0-9]")


def baseline_match(payments: Iterable[PaymentInput], documents: DocumentIndex) -> Iterator[MatchResult]:
    """Apply the exact-number-and-amount rule to each payment; everything else is unmatched."""
    by_number = {d.number.casefold(): d for d in documents}
    for p in payments:
        hits = []
        for token in _TOKEN.findall(p.reference or ""):
            doc = by_number.get(token.casefold())
            if doc is not None and doc.currency == p.currency and doc.signed_remaining == p.amount:
                hits.append(doc)
        if len(hits) == 1:
            doc = hits[0]
            yield MatchResult(
                p.payment_id,
                "auto",
                doc.customer_id,
                1.0,
                "baseline_number_and_amount",
                [Application(doc.doc_id, doc.remaining, ZERO, ZERO, doc.kind, doc.number)],
                ZERO,
                f"{doc.number} quoted and the amount equals its open amount.",
            )
        else:
            yield MatchResult(
                p.payment_id,
                "unmatched",
                None,
                0.0,
                "baseline_number_and_amount",
                [],
                p.amount,
                "no quoted number with the exact open amount.",
            )
