"""A customer's statement of account as a PDF (fpdf2, its built-in Helvetica: no font files needed)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

from fpdf import FPDF

from service.workspace.customers import Statement

__all__ = ["statement_pdf"]


def _latin1(text: str) -> str:
    # The core fonts cover Latin-1; other characters are written as "?" rather than failing.
    return (
        text.replace("€", "EUR")
        .replace("–", "-")
        .replace("—", "-")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def statement_pdf(s: Statement, connection: str) -> bytes:
    """The statement on A4: open invoices, credits and unapplied cash, and the balance per currency."""
    c = s.customer
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"Statement of account {c.name}"))
    pdf.set_creator("arbridge")
    # The statement's own day as its creation date: the same statement renders to the same bytes.
    pdf.set_creation_date(datetime.combine(s.as_of, time(0), UTC))
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.cell(
        0, 8, _latin1(f"Statement of account as of {s.as_of.isoformat()}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 6, _latin1(f"{c.name} ({c.remote_id}, {connection})"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=9)
    with pdf.table(
        col_widths=(30, 24, 24, 20, 34), text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT")
    ) as table:
        head = table.row()
        for text in ("Invoice", "Issued", "Due", "Days overdue", "Open"):
            head.cell(text)
        for inv in s.open_invoices:
            due = inv.due_date or inv.issue_date
            row = table.row()
            row.cell(_latin1(inv.number or inv.remote_id))
            row.cell(inv.issue_date.isoformat())
            row.cell(due.isoformat())
            row.cell(str(max((s.as_of - due).days, 0)))
            row.cell(f"{_money(inv.open_amount)} {inv.currency}")
        for memo in s.open_credits:
            row = table.row()
            row.cell(_latin1(f"Credit {memo.number or memo.remote_id}"))
            row.cell(memo.issue_date.isoformat())
            row.cell("")
            row.cell("")
            row.cell(f"-{_money(abs(memo.open_amount))} {memo.currency}")
        for pay in s.unapplied:
            row = table.row()
            row.cell(_latin1(f"Payment {pay.reference or pay.remote_id}"))
            row.cell(pay.date.isoformat())
            row.cell("")
            row.cell("")
            row.cell(f"-{_money(pay.unapplied_amount)} {pay.currency}")
    pdf.ln(4)
    pdf.set_font("Helvetica", style="B", size=11)
    for currency, b in s.balances().items():
        pdf.cell(0, 6, _latin1(f"Balance {currency}: {_money(b['net'])}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
