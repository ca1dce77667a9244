"""Exchange rates for ranking amounts in several currencies in one reporting currency.

A rates file is CSV with the columns ``currency`` and ``rate`` (and, optionally, ``date``, the day
the rate was fixed): one unit of ``currency`` is worth ``rate`` units of the reporting currency.
The reporting currency itself needs no line. An amount in a currency without a rate is never added
at par: the worklist says it is left out of the ranking instead.

    currency,rate,date
    EUR,1.0842,2026-11-20
    GBP,1.2650,2026-11-20
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rules.dunning.csvio import FileError
from rules.dunning.currencies import check_currency

__all__ = ["FxRate", "FxRates", "read_fx_rates"]


@dataclass(frozen=True, slots=True)
class FxRate:
    """Reporting-currency units per unit of a currency, and where the figure came from."""

    rate: Decimal
    source: str
    fixed_on: date | None = None

    def describe(self, currency: str, reporting: str) -> str:
        """``1.0842 USD per EUR (rates.csv, 2026-11-20)``: what a worklist line names."""
        when = f", {self.fixed_on.isoformat()}" if self.fixed_on else ""
        return f"{self.rate} {reporting} per {currency} ({self.source}{when})"


@dataclass(frozen=True, slots=True)
class FxRates:
    """The rates into one reporting currency."""

    reporting_currency: str
    rates: Mapping[str, FxRate] = field(default_factory=dict)

    def rate_for(self, currency: str) -> FxRate | None:
        """The rate of ``currency`` (1 for the reporting currency itself), or None when unknown."""
        if currency == self.reporting_currency:
            return FxRate(Decimal(1), "the reporting currency")
        return self.rates.get(currency)

    @classmethod
    def of(cls, reporting_currency: str, rates: Mapping[str, Decimal | str], source: str) -> FxRates:
        """Rates given as numbers (from a configuration), all from one ``source``."""
        return cls(
            check_currency(reporting_currency),
            {check_currency(c): FxRate(Decimal(str(r)), source) for c, r in rates.items()},
        )


def read_fx_rates(path: str | Path, reporting_currency: str) -> FxRates:
    """Read a rates file into ``reporting_currency``.

    Raises:
        FileError: a line that cannot be read, named ``file:line:column`` with what was expected.
    """
    source = Path(path)
    reporting = check_currency(reporting_currency)
    rates: dict[str, FxRate] = {}
    try:
        fh = source.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise FileError(source, None, None, f"cannot be read: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        if "currency" not in header or "rate" not in header:
            raise FileError(
                source, 1, None, "expected the columns currency and rate (and date) in the header"
            )
        col = {name: i for i, name in enumerate(header)}
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue

            def cell(name: str, cells: list[str] = cells) -> str:
                i = col.get(name)
                return cells[i].strip() if i is not None and i < len(cells) else ""

            try:
                currency = check_currency(cell("currency"))
            except ValueError as exc:
                raise FileError(source, line, col["currency"] + 1, f"currency: {exc}") from None
            try:
                rate = Decimal(cell("rate"))
            except InvalidOperation:
                rate = Decimal(-1)
            if not rate.is_finite() or rate <= 0:
                raise FileError(
                    source,
                    line,
                    col["rate"] + 1,
                    f"rate: expected a positive decimal such as 1.0842 ({reporting} per {currency}), "
                    f"got {cell('rate')!r}",
                )
            fixed: date | None = None
            if cell("date"):
                try:
                    fixed = date.fromisoformat(cell("date"))
                except ValueError:
                    raise FileError(
                        source, line, col["date"] + 1, f"date: expected YYYY-MM-DD, got {cell('date')!r}"
                    ) from None
            rates[currency] = FxRate(rate, source.name, fixed)
    return FxRates(reporting, rates)
