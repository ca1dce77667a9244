"""The Collection Effectiveness Index: how much of what could be collected in a period was.

CEI = (beginning AR + credit sales − ending total AR) ÷ (beginning AR + credit sales − ending
current AR) × 100. 100 means everything that fell due was collected; the denominator leaves out
what was not yet due at the end of the period, so a month of large sales does not lower it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["collection_effectiveness_index"]


def collection_effectiveness_index(
    beginning_ar: Decimal, credit_sales: Decimal, ending_ar: Decimal, ending_current_ar: Decimal
) -> Decimal | None:
    """The CEI in percent, to one decimal (None when nothing could have been collected)."""
    collectible = beginning_ar + credit_sales - ending_current_ar
    if collectible <= 0:
        return None
    collected = beginning_ar + credit_sales - ending_ar
    return (collected / collectible * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
