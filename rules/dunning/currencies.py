"""ISO 4217: which currency codes are assigned, and how many decimals each one has.

The table is the ISO 4217 maintenance agency's own list, as the ``iso4217`` package ships it, so a
code retired or never assigned (``XYZ``) is refused rather than quietly dunned in cents.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from iso4217 import Currency

__all__ = ["check_currency", "is_assigned", "minor_unit", "smallest_unit"]


@lru_cache(maxsize=1)
def _table() -> dict[str, int | None]:
    return {c.code: c.exponent for c in Currency}


def is_assigned(code: str) -> bool:
    """Whether ``code`` is a currency code assigned in ISO 4217 today."""
    return code in _table()


def check_currency(code: str) -> str:
    """``code`` in capitals when ISO 4217 assigns it.

    Raises:
        ValueError: it does not; the message says what is expected.
    """
    value = code.strip().upper()
    if not is_assigned(value):
        raise ValueError(
            f"expected a currency code assigned in ISO 4217 such as EUR, USD or GBP, got {code!r}"
        )
    return value


def minor_unit(code: str) -> int:
    """The decimals of ``code``: 2 for most, 0 for JPY, 3 for BHD; 2 for codes that have none."""
    exponent = _table().get(code)
    return 2 if exponent is None else exponent


def smallest_unit(code: str) -> Decimal:
    """The smallest amount of ``code`` (``0.01`` for EUR, ``1`` for JPY)."""
    return Decimal(1).scaleb(-minor_unit(code))
