"""Rendering a planned action into what a channel sends: e-mail text and HTML, a PDF letter, a call task.

Templates are Jinja2 files per language under ``templates/{lang}/``: each dunning template
(``courtesy``, ``reminder``, ``final``, ``call``) defines the macros ``subject``, ``intro`` and
``closing``; ``_labels.j2`` holds the table headings and fixed phrases. Shared layouts place the
invoice table, the credits, the totals and the payment reference: ``_body.txt.j2`` for every
channel, ``_email.txt.j2`` and ``_email.html.j2`` for e-mail (which alone may carry an opt-out
statement), ``_text.txt.j2`` for letters, call tasks and webhooks. An administrator can put
templates of the same names in a directory of their own, which is searched first. A language
without the template falls back to English.

An e-mail promises an opt-out only when something honours it: it carries the policy's
``sender.opt_out_text`` (a way the administrator's team honours), and nothing when there is none;
arbridge itself reads no replies, so it never writes "reply STOP" on its own. Paper, call tasks and
webhooks never carry it. A letter is produced only with a postal address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from mapping.models import Customer, Invoice
from rules.dunning.money import quantize
from rules.dunning.planner import PlannedAction
from rules.dunning.policy import Channel, SenderDetails

__all__ = ["NotRenderable", "Rendered", "format_date", "format_money", "format_rate", "render"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Rendered:
    """The content of one communication.

    Attributes:
        language: the language actually used (after fallback).
        subject: the e-mail subject, letter heading or call-task title.
        text: the plain-text body.
        html: the HTML body (e-mail only).
        pdf: the PDF document (letters only).
    """

    language: str
    subject: str
    text: str
    html: str | None = None
    pdf: bytes | None = None


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """``1,234.56 EUR`` in English, ``1.234,56 EUR`` in German (grouping by thousands)."""
    text = f"{quantize(amount, currency):,}"
    if language == "de":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{text} {currency}"


def format_rate(rate: Decimal, language: str) -> str:
    """``10.15`` (``10,15`` in German), ``12`` for a whole rate: as a person writes a percentage."""
    text = format(rate.normalize(), "f") if rate == rate.to_integral_value() else format(rate, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",") if language == "de" else text


class NotRenderable(ValueError):
    """The action cannot be turned into what its channel needs (a letter without a postal address)."""


def format_date(day: date, language: str) -> str:
    """``23.11.2026`` in German, ISO ``2026-11-23`` otherwise (unambiguous in every English locale)."""
    return day.strftime("%d.%m.%Y") if language == "de" else day.isoformat()


@lru_cache(maxsize=16)
def _environment(extra_dirs: tuple[str, ...]) -> Environment:
    return Environment(
        loader=FileSystemLoader([*extra_dirs, str(TEMPLATES)]),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )


def _language(env: Environment, wanted: str | None, template: str) -> str:
    candidates = []
    if wanted:
        tag = wanted.replace("_", "-").lower()
        candidates += [tag, tag.split("-")[0]]
    candidates.append(FALLBACK_LANGUAGE)
    for lang in candidates:
        try:
            env.get_template(f"{lang}/{template}.j2")
            return lang
        except TemplateNotFound:
            continue
    raise TemplateNotFound(f"{FALLBACK_LANGUAGE}/{template}.j2")


def _context(
    action: PlannedAction,
    customer: Customer,
    numbers: dict[str, str],
    lang: str,
    sender: SenderDetails,
    opt_out: str | None,
) -> dict[str, Any]:
    cur = action.currency
    lines = [
        {
            "number": numbers.get(ln.invoice_id, ln.number),
            "issue_date": format_date(ln.issue_date, lang),
            "due_date": format_date(ln.due_date, lang),
            "days_overdue": ln.days_overdue,
            "open_amount": format_money(ln.open_amount, cur, lang),
            "interest": format_money(ln.interest, cur, lang),
            "compensation": format_money(ln.compensation, cur, lang),
            "has_interest": ln.interest > 0,
            "has_compensation": ln.compensation > 0,
            "interest_spans": [
                {
                    "rate": format_rate(span.rate_percent, lang),
                    "amount": format_money(ln.open_amount, cur, lang),
                    "start": format_date(span.start, lang),
                    "end": format_date(span.end, lang),
                    "year360": span.day_count == 360,
                }
                for span in ln.interest_spans
            ],
        }
        for ln in action.lines
    ]
    compensation = sum((ln.compensation for ln in action.lines), Decimal(0))
    # Actions planned before fee and compensation were kept apart hold both in ``fees``.
    fee = action.fee if action.fee or compensation else action.fees
    return {
        "lang": lang,
        "template": action.template,
        "customer_name": customer.name,
        "customer_id": customer.remote_id,
        "level": action.level,
        "level_name": action.level_name,
        "currency": cur,
        "lines": lines,
        "total_open": format_money(action.total_open, cur, lang),
        "fees": format_money(action.fees, cur, lang),
        "fee": format_money(fee, cur, lang),
        "fee_label": action.fee_label,
        "compensation": format_money(compensation, cur, lang),
        "interest": format_money(action.interest, cur, lang),
        "total_due": format_money(action.total_due, cur, lang),
        "has_fees": action.fees > 0,
        "has_fee": fee > 0,
        "has_compensation": compensation > 0,
        "has_interest": action.interest > 0,
        "credits": [
            {
                "kind": c.kind,
                "label": c.label,
                "date": format_date(c.date, lang),
                "amount": format_money(c.amount, cur, lang),
            }
            for c in action.credits
        ],
        "has_credits": bool(action.credits),
        "total_credit": format_money(action.total_credit, cur, lang),
        "payment_reference": action.payment_reference,
        "payment_link": action.payment_link,
        "as_of": format_date(action.as_of.date(), lang),
        "sender": sender,
        "planned_at": action.as_of,
        "opt_out": opt_out,
    }


def render(
    action: PlannedAction,
    customer: Customer,
    invoices: Iterable[Invoice] = (),
    language: str | None = None,
    *,
    sender: SenderDetails | None = None,
    template_dirs: Sequence[str | Path] = (),
) -> Rendered:
    """Render a planned action for its channel.

    Args:
        action: the planned action (its lines carry the amounts, fees and interest).
        customer: the customer, for the name and address.
        invoices: the listed invoices as currently known; their numbers win over those captured when
            the action was planned.
        language: the language to use; defaults to the action's; falls back to English.
        sender: the creditor's details (the policy file's ``sender``).
        template_dirs: directories searched before the shipped templates.

    Returns:
        Subject and text for every channel; HTML for e-mail; PDF bytes for letters.

    Raises:
        NotRenderable: a letter for a customer without a postal address.
    """
    env = _environment(tuple(str(d) for d in template_dirs))
    lang = _language(env, language or action.language, action.template)
    numbers = {inv.remote_id: inv.number for inv in invoices if inv.number}
    sender = sender or SenderDetails()
    labels = env.get_template(f"{lang}/_labels.j2").module
    opt_out = sender.opt_out_text if action.channel == Channel.EMAIL else None
    ctx = _context(action, customer, numbers, lang, sender, opt_out)
    subject = " ".join(env.get_template("_subject.j2").render(ctx).split())
    if action.channel == Channel.EMAIL:
        text = env.get_template("_email.txt.j2").render(ctx)
        return Rendered(lang, subject, text, html=env.get_template("_email.html.j2").render(ctx))
    text = env.get_template("_text.txt.j2").render(ctx)
    if action.channel == Channel.LETTER:
        address = _postal_lines(action, customer, sender)
        intro = env.get_template("_letter.txt.j2").render(ctx).strip()
        closing = env.get_template("_letter_closing.txt.j2").render(ctx).strip()
        pdf = _letter_pdf(ctx, labels, subject, intro, closing, customer, address)
        return Rendered(lang, subject, text, pdf=pdf)
    return Rendered(lang, subject, text)


def _postal_lines(action: PlannedAction, customer: Customer, sender: SenderDetails) -> list[str]:
    """The address block under the customer's name; a letter without one is never produced."""
    lines = list(action.address)
    if not lines and customer.billing_address is not None and customer.billing_address.is_postable():
        lines = customer.billing_address.printed_lines(sender.country)
    if not lines:
        raise NotRenderable(
            f"customer {customer.remote_id} has no postal address: the letter cannot be posted "
            "(add a billing address in the ERP)"
        )
    # The ERP's address block often starts with the addressee, printed just above it already.
    if lines[0].strip().casefold() == customer.name.strip().casefold():
        lines = lines[1:]
    return lines


def _latin1(text: str) -> str:
    # The PDF core fonts cover Latin-1 only (umlauts yes, euro sign no); embedding a TrueType font
    # would make every letter ~100 KB larger for one character.
    return (
        text.replace("€", "EUR")
        .replace("–", "-")
        .replace("—", "-")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def _letter_pdf(
    ctx: dict[str, Any],
    labels: Any,
    subject: str,
    intro: str,
    closing: str,
    customer: Customer,
    address: list[str],
) -> bytes:
    sender: SenderDetails = ctx["sender"]
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(subject))
    pdf.set_creator("arbridge")
    # A fixed creation date keeps the same letter byte-for-byte the same when rendered again.
    pdf.set_creation_date(ctx["planned_at"])
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", size=8)
    pdf.cell(0, 5, _latin1(" · ".join([sender.name, *sender.address])), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=11)
    # The address block, where a window envelope shows it.
    for address_line in [customer.name, *address]:
        pdf.cell(0, 6, _latin1(address_line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.cell(0, 6, _latin1(f"{labels.customer}: {customer.remote_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.cell(0, 6, _latin1(f"{labels.date}: {ctx['as_of']}"), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", style="B", size=12)
    pdf.multi_cell(0, 7, _latin1(subject), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, _latin1(f"{labels.dear} {customer.name},\n\n{intro}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", size=9)
    heads = [
        labels.invoice,
        labels.issued,
        labels.due_date,
        labels.overdue_heading,
        labels.open_amount,
        labels.interest,
        labels.compensation,
    ]
    with pdf.table(col_widths=(24, 20, 20, 16, 28, 24, 24), text_align="LEFT") as table:
        row = table.row()
        for head in heads:
            row.cell(_latin1(str(head)))
        for line in ctx["lines"]:
            row = table.row()
            for key in (
                "number",
                "issue_date",
                "due_date",
                "days_overdue",
                "open_amount",
                "interest",
                "compensation",
            ):
                row.cell(_latin1(str(line[key])))
    rules = [
        f"{labels.interest_for} {line['number']}: "
        + labels.interest_rule.format(rate=s["rate"], amount=s["amount"], start=s["start"], end=s["end"])
        + (f" ({labels.year_360})" if s["year360"] else "")
        for line in ctx["lines"]
        for s in line["interest_spans"]
    ]
    if rules:
        pdf.ln(2)
        pdf.multi_cell(0, 5, _latin1("\n".join(rules)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", size=11)
    totals = [f"{labels.total_open}: {ctx['total_open']}"]
    if ctx["has_credits"]:
        for c in ctx["credits"]:
            kind = labels.credit_payment if c["kind"] == "payment" else labels.credit_memo
            totals.append(f"{kind} {c['label']} ({c['date']}): -{c['amount']}")
        totals.append(f"{labels.credits}: -{ctx['total_credit']}")
    if ctx["has_fee"]:
        totals.append(f"{ctx['fee_label'] or labels.reminder_fee}: {ctx['fee']}")
    if ctx["has_compensation"]:
        totals.append(f"{labels.compensation_total}: {ctx['compensation']}")
    if ctx["has_interest"]:
        totals.append(f"{labels.interest}: {ctx['interest']}")
    totals.append(f"{labels.total_due}: {ctx['total_due']}")
    totals.append(f"{labels.reference}: {ctx['payment_reference']}")
    if ctx["payment_link"]:
        totals.append(f"{labels.pay_online}: {ctx['payment_link']}")
    pdf.multi_cell(0, 6, _latin1("\n".join(totals)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.multi_cell(
        0, 6, _latin1(f"{closing}\n\n{labels.regards}\n{sender.name}"), new_x="LMARGIN", new_y="NEXT"
    )
    return bytes(pdf.output())
