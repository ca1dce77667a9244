"""Tables taken away as CSV or XLSX (openpyxl): the same header and rows either way.

In XLSX, amounts stay numbers and days stay dates, so a spreadsheet sums and sorts them as such.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from flask import Response

__all__ = ["FORMATS", "table"]

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _text(value: Any) -> Any:
    """An amount with its cents (1190 → 1190.00), or with the places it has beyond them."""
    if isinstance(value, Decimal):
        cents = value.quantize(Decimal("0.01"))
        return str(cents if cents == value else value.normalize())
    return value


def _xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def table(stem: str, fmt: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Response:
    """``stem.csv`` or ``stem.xlsx`` as a download.

    Raises:
        ValueError: ``fmt`` is neither csv nor xlsx.
    """
    if fmt not in FORMATS:
        raise ValueError(f"expected csv or xlsx, not {fmt!r}")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows([_text(v) for v in row] for row in rows)
        body: str | bytes = buffer.getvalue()
    else:
        body = _xlsx(stem, header, rows)
    answer = Response(body, content_type=FORMATS[fmt])
    answer.headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return answer
