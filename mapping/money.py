"""What an amount of money may be: finite, within a sane bound, and no finer than its currency.

Every amount that enters arbridge (from an ERP through a connector's mapping, from a bank statement,
from a CSV file) is checked here, so ``NaN``, ``Infinity``, ``1E+30`` or ``10.005 EUR`` is refused
where it is read (the record or the line is set aside with the reason) instead of stopping a
matcher or reaching an ERP as a payment.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["MAX_AMOUNT", "AmountError", "check_amount", "fits_currency", "minor_units", "parse_amount"]


class AmountError(ValueError):
    """An amount that cannot be used; ``field`` names it (``total``, ``allocations.0.amount``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# No receivable, payment or statement line reaches a quadrillion in any currency (the largest
# invoice in dong or rupiah is far below), and every amount below it is exact as a binary double,
# which some ERPs and spreadsheets hold amounts in.
MAX_AMOUNT = Decimal(10) ** 15
_LEAST = -MAX_AMOUNT

# ISO 4217 minor units that are not 2 (currencies not listed have cents).
_MINOR_UNITS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
         "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}  # fmt: skip


# The smallest amount per number of decimals: an amount with no more decimals than its currency
# is unchanged when quantized to it (one C call, where normalising and reading the exponent is three).
# Below MAX_AMOUNT with at most four decimals, quantizing stays within the default 28 digits.
_QUANTA = {units: Decimal(1).scaleb(-units) for units in set(_MINOR_UNITS.values()) | {2}}


def minor_units(currency: str | None) -> int:
    """How many decimals the currency has (ISO 4217): 2 for most, 0 for the yen, 3 for the dinar."""
    return _MINOR_UNITS.get((currency or "").upper(), 2)


# The quantum of each currency code as written, looked up once (a read checks millions of amounts
# in a handful of currencies). Bounded, as the codes come from outside.
_QUANTUM_OF: dict[str, Decimal] = {}


def fits_currency(value: Decimal, currency: str) -> bool:
    """Whether a finite amount has no more decimals than ``currency`` has (the cheap test)."""
    quantum = _QUANTUM_OF.get(currency)
    if quantum is None:
        quantum = _QUANTA[minor_units(currency)]
        if len(_QUANTUM_OF) < 1000:
            _QUANTUM_OF[currency] = quantum
    return value.quantize(quantum) == value


def check_amount(value: Decimal, currency: str | None = None, *, what: str = "amount") -> Decimal:
    """``value`` when it is a usable amount; ``ValueError`` saying why not.

    Args:
        value: the amount.
        currency: when given, the amount may have no more decimals than it has.
        what: how the message names the amount.
    """
    if (
        value.is_finite()
        and -MAX_AMOUNT < value < MAX_AMOUNT
        and (not currency or fits_currency(value, currency))
    ):
        return value  # the common case, in as few calls as it takes
    if not value.is_finite():
        raise AmountError(f"{what} {value} is not a finite number", what)
    if abs(value) >= MAX_AMOUNT:
        raise AmountError(
            f"{what} {value} is beyond any real amount (at most {MAX_AMOUNT:,.0f} in magnitude)", what
        )
    if currency and not fits_currency(value, currency):
        units = minor_units(currency)
        raise AmountError(f"{what} {value} has more decimals than {currency.upper()} has ({units})", what)
    return value


def parse_amount(text: str, currency: str | None = None, *, what: str = "amount") -> Decimal:
    """An amount written as text (a decimal point, no thousands separator), checked by ``check_amount``."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise AmountError(f"{what} {text!r} is not a number", what) from None
    return check_amount(value, currency, what=what)
