"""The cash-application matcher: incoming cash to open invoices, with a confidence and a reason.

One payment goes through three questions, each answered by a rule a controller can read:

1. **Who paid?** The ERP's customer id, else a known bank account, else a fuzzy payer name (in the
   payer field, then inside the reference), else the owner of a document number quoted in the
   reference. Ties decline rather than guess (as ERPNext's ``AutoMatchParty`` does).
2. **Which documents?** Numbers quoted anywhere in the reference (exact, then one typo away), a
   remittance advice when the customer sent one, else the unique set of open documents whose
   amounts add up to the payment (a bounded search that counts solutions, unlike Odoo's greedy fill).
3. **How does the cash fit?** Exactly, less an early-payment discount within terms, net of a credit
   memo, short by a bank fee within tolerance (written off), partially, or with a remainder on account.

Each answer scores a component; the weighted components give the confidence; the thresholds in
:class:`~rules.cashapp.settings.MatchRules` turn it into ``auto``, ``review`` or ``unmatched``.
Two equally good answers always go to review.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from rules.cashapp.index import CustomerIndex, CustomerView, DocumentIndex
from rules.cashapp.model import ZERO, Application, MatchResult, OpenDocument, PaymentInput, age_key
from rules.cashapp.normalize import extract_number_keys, number_key, one_typo_apart
from rules.cashapp.settings import MatchRules
from rules.cashapp.subset import find_subsets, to_units


@dataclass(slots=True)
class PayerHit:
    """The customer a payment is attributed to, how sure we are, and how we know."""

    customer_id: str
    score: float
    how: str


@dataclass(slots=True)
class Proposal:
    """One way of applying the payment to a customer's documents."""

    rule: str
    lines: list[Application]
    unapplied: Decimal
    document: float
    amount: float
    why: str
    ambiguous: bool = False
    blocked: str = ""
    docs: frozenset[str] = field(default_factory=frozenset)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _doc_label(doc: OpenDocument) -> str:
    kind = "credit memo" if doc.kind == "credit_memo" else "invoice"
    return f"{kind} {doc.number}"


def _labels(docs: Sequence[OpenDocument]) -> str:
    names = [_doc_label(d) for d in docs]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_age_key = age_key


def _full_line(doc: OpenDocument, discount: Decimal = ZERO, writeoff: Decimal = ZERO) -> Application:
    cash = doc.remaining - discount - writeoff
    return Application(doc.doc_id, cash if doc.kind == "invoice" else -doc.remaining, discount, writeoff,
                       doc.kind, doc.number)


def _proposal(rule: str, lines: list[Application], unapplied: Decimal, document: float, amount: float,
              why: str, **extra: object) -> Proposal:
    return Proposal(rule, lines, unapplied, document, amount, why,
                    docs=frozenset(line.doc_id for line in lines), **extra)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Who paid?
# --------------------------------------------------------------------------------------------------


def identify_payer(
    payment: PaymentInput, customers: CustomerIndex, rules: MatchRules
) -> tuple[PayerHit | None, str]:
    """Attribute a payment to one customer, or decline and say why.

    Args:
        payment: The incoming cash.
        customers: Known customers with their bank accounts and aliases.
        rules: Scores and fuzzy-name limits.

    Returns:
        The hit (or ``None``) and, when declining, a note for the explanation.
    """
    hit, note, _ = _identify(payment, customers, rules)
    return hit, note


def _identify(
    payment: PaymentInput, customers: CustomerIndex, rules: MatchRules
) -> tuple[PayerHit | None, str, list[tuple[float, str]]]:
    ties: list[tuple[float, str]] = []
    scores = rules.payer_scores
    if payment.customer_id:
        known = customers.get(payment.customer_id)
        label = f"{payment.customer_id} ({known.name})" if known else payment.customer_id
        how = f"customer {label} given with the payment"
        return PayerHit(payment.customer_id, scores.customer_id, how), "", ties
    notes: list[str] = []
    if payment.payer_account:
        owners = customers.by_account(payment.payer_account)
        if len(owners) == 1:
            cid = next(iter(owners))
            known = customers.get(cid)
            label = f"{cid} ({known.name})" if known else cid
            return (PayerHit(cid, scores.bank_account,
                             f"customer {label} by bank account {payment.payer_account}"), "", ties)
        if len(owners) > 1:
            notes.append(f"bank account {payment.payer_account} belongs to {len(owners)} customers")
    names = rules.names
    if payment.payer_name:
        ranked = customers.score_names(payment.payer_name, names.max_token_customers)
        hit = _decide_name(ranked, names.min_score, names.margin)
        if isinstance(hit, str):
            if hit:
                notes.append(f"payer name '{payment.payer_name}' {hit}")
                ties = [r for r in ranked[:3] if ranked[0][0] - r[0] < names.margin]
        else:
            score, cid = hit
            known = customers.get(cid)
            return (PayerHit(cid, scores.name * score / 100,
                             f"customer {cid} ({known.name if known else cid}) by payer name "
                             f"'{payment.payer_name}' (similarity {score:.0f})"), "", ties)
    if payment.reference:
        ranked = customers.score_names_in_text(payment.reference, names.max_token_customers)
        hit = _decide_name(ranked, names.in_reference_min_score, names.margin)
        if isinstance(hit, str):
            if hit:
                notes.append(f"reference {hit}")
        else:
            score, cid = hit
            known = customers.get(cid)
            return (PayerHit(cid, scores.name_in_reference * score / 100,
                             f"customer {cid} ({known.name if known else cid}) named in the reference "
                             f"(similarity {score:.0f})"), "", ties)
    return None, "; ".join(notes), ties


def _decide_name(ranked: list[tuple[float, str]], min_score: float, margin: float) -> tuple[float, str] | str:
    if not ranked or ranked[0][0] < min_score:
        return ""
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < margin:
        return f"fits customers {ranked[0][1]} and {ranked[1][1]} equally well, so neither is chosen"
    return ranked[0]


# --------------------------------------------------------------------------------------------------
# Which documents, and how does the cash fit?
# --------------------------------------------------------------------------------------------------


class _Context:
    """What every fit for one payment and one customer needs."""

    __slots__ = ("amount", "docs", "pay_date", "payment", "rules")

    def __init__(self, payment: PaymentInput, docs: list[OpenDocument], rules: MatchRules) -> None:
        self.payment = payment
        self.amount = payment.amount
        self.pay_date = payment.date
        self.docs = docs
        self.rules = rules

    def discount_eligible(self, doc: OpenDocument) -> bool:
        deadline = doc.discount_deadline()
        if deadline is None:
            return False
        return self.pay_date.toordinal() <= deadline.toordinal() + self.rules.discount_grace_days

    def has_discount_terms(self, doc: OpenDocument) -> bool:
        return doc.discount_deadline() is not None


def _fit_referenced(ctx: _Context, refs: list[OpenDocument], doc_score: float, via: str) -> list[Proposal]:
    """Fit the cash to the documents the customer quoted."""
    rules, a = ctx.rules, ctx.amount
    am = rules.amount_scores
    refs = sorted(refs, key=_age_key)
    invoices = [d for d in refs if d.kind == "invoice"]
    total = sum((d.signed_remaining for d in refs), ZERO)
    if total <= 0 or not invoices:
        return []
    label = f"{via} {_labels(refs)} (open {_money(total)})"

    if a == total:
        return [_proposal("reference_exact", [_full_line(d) for d in refs], ZERO, doc_score, am.exact,
                          f"{label}; the amount pays them exactly")]

    eligible = [d for d in invoices if ctx.discount_eligible(d)]
    disc = {d.doc_id: d.discount_amount() for d in eligible}
    d_total = sum(disc.values(), ZERO)
    if eligible and a == total - d_total:
        lines = [_full_line(d, disc.get(d.doc_id, ZERO)) for d in refs]
        return [_proposal("reference_discount", lines, ZERO, doc_score, am.discount,
                          f"{label}; the amount is {_money(total)} less an early-payment discount of "
                          f"{_money(d_total)} taken within terms")]
    late = [d for d in invoices if ctx.has_discount_terms(d) and d not in eligible]
    if late:
        all_disc = {d.doc_id: d.discount_amount() for d in [*eligible, *late]}
        if a == total - sum(all_disc.values(), ZERO):
            lines = [_full_line(d, all_disc.get(d.doc_id, ZERO)) for d in refs]
            return [_proposal("reference_discount_late", lines, ZERO, doc_score, am.discount_late,
                              f"{label}; the customer deducted an early-payment discount after its terms "
                              f"had expired", blocked="discount taken after the discount period")]

    # Credit memos the customer netted without quoting them, those raised against the quoted
    # invoices first.
    quoted = {d.doc_id for d in refs}
    memos = [d for d in ctx.docs if d.kind == "credit_memo" and d.doc_id not in quoted]
    if memos:
        for base, base_disc in ((total, {}), (total - d_total, disc)) if eligible else ((total, {}),):
            fits = [m for m in memos if a == base - m.remaining]
            if len(fits) > 1:
                own = [m for m in fits if m.applies_to in quoted]
                fits = own if len(own) == 1 else fits
            if fits:
                memo = fits[0]
                lines = [_full_line(d, base_disc.get(d.doc_id, ZERO)) for d in refs] + [_full_line(memo)]
                return [_proposal("reference_credit_memo", lines, ZERO, doc_score, am.credit_memo,
                                  f"{label}; the customer netted {_doc_label(memo)} "
                                  f"({_money(memo.remaining)})", ambiguous=len(fits) > 1)]

    tol = rules.tolerance
    after = " after the early-payment discount"
    for base, base_disc, note in ((total, {}, ""), (total - d_total, disc, after)):
        gap = base - a
        if tol.allows(gap, base):
            target = max(invoices, key=lambda d: d.remaining)
            lines = [
                _full_line(d, base_disc.get(d.doc_id, ZERO), gap if d is target else ZERO) for d in refs
            ]
            return [_proposal("reference_fee_writeoff", lines, ZERO, doc_score, am.tolerance,
                              f"{label}; {_money(gap)} short{note}, within the write-off tolerance "
                              f"(bank fee), written off on {_doc_label(target)}")]
        if not eligible:
            break

    if a < total and len(refs) > 1:
        values = [to_units(d.remaining) for d in invoices]
        found = find_subsets(values, to_units(a), to_units(a), max_size=len(invoices),
                             budget=rules.subset.node_budget)
        if found.solutions:
            chosen = [invoices[i] for i in found.solutions[0]]
            unique = len(found.solutions) == 1 and found.complete
            return [_proposal("reference_subset", [_full_line(d) for d in chosen], ZERO, doc_score,
                              am.tolerance, f"{label}; the amount pays exactly {_labels(chosen)} of them",
                              ambiguous=not unique)]

    if a > total:
        extra = a - total
        others = [d for d in ctx.docs if d.kind == "invoice" and d.doc_id not in quoted]
        if others:
            found = find_subsets([to_units(d.remaining) for d in others], to_units(extra), to_units(extra),
                                 max_size=rules.subset.max_size, budget=rules.subset.node_budget)
            if len(found.solutions) == 1 and found.complete:
                more = [others[i] for i in found.solutions[0]]
                lines = [_full_line(d) for d in refs] + [_full_line(d) for d in more]
                return [_proposal("reference_and_amount", lines, ZERO, min(doc_score, rules.document_scores
                                  .amount_subset), am.exact,
                                  f"{label}; the remaining {_money(extra)} pays exactly {_labels(more)}")]
        return [_proposal("reference_overpayment", [_full_line(d) for d in refs], extra, doc_score,
                          am.overpayment, f"{label}; {_money(extra)} more than they are owed stays unapplied "
                          f"on account")]

    # Short beyond tolerance: a partial payment, applied oldest first, never marking anything paid
    # that was not paid (the complaint in odoo/odoo#63111 and alyf-de/banking#59).
    partial: list[Application] = []
    left = a
    for d in refs:
        if d.kind == "credit_memo":
            partial.append(_full_line(d))
            left += d.remaining
    for d in invoices:
        if left <= 0:
            break
        cash = min(left, d.remaining)
        partial.append(Application(d.doc_id, cash, ZERO, ZERO, d.kind, d.number))
        left -= cash
    single = len(invoices) == 1
    return [_proposal("reference_partial" if single else "reference_partial_multi", partial, ZERO, doc_score,
                      am.partial if single else am.partial_multi,
                      f"{label}; {_money(a)} is a partial payment, {_money(total - a)} stays open")]


def _fit_amount(ctx: _Context) -> list[Proposal]:
    """No usable reference: look for the unique set of open documents the amount pays."""
    rules, a = ctx.rules, ctx.amount
    ds, am, bounds = rules.document_scores, rules.amount_scores, rules.subset
    # ctx.docs comes from a customer view, which keeps them oldest due first.
    all_invoices = [d for d in ctx.docs if d.kind == "invoice"]
    invoices = all_invoices
    memos = [d for d in ctx.docs if d.kind == "credit_memo"][:5]
    if not invoices:
        return []
    ceiling = a + sum((m.remaining for m in memos), ZERO) + rules.tolerance.absolute
    invoices = [d for d in invoices if d.remaining <= ceiling]
    truncated = len(invoices) > bounds.max_documents
    invoices = invoices[: bounds.max_documents]
    if not invoices:
        return []

    def search(values: list[int], low: Decimal, high: Decimal) -> tuple[list[tuple[int, ...]], bool]:
        found = find_subsets(values, to_units(low), to_units(high), max_size=bounds.max_size,
                             budget=bounds.node_budget)
        return found.solutions, found.complete and not truncated

    # Tier 1a: one invoice paid to the cent, checked over all of them (a dictionary-speed test, so
    # no bound applies). Sets of several invoices are weaker evidence and never outrank it.
    singles = [d for d in all_invoices if d.remaining == a]
    if singles:
        why = f"no document quoted; the amount equals the open amount of {_labels(singles[:1])}"
        if len(singles) > 1:
            why += f", and of {_labels(singles[1:3])} as well"
        return [_proposal("amount_single_invoice", [_full_line(singles[0])], ZERO, ds.amount_single, am.exact,
                          why, ambiguous=len(singles) > 1)]

    plain = [to_units(d.remaining) for d in invoices]

    # Tier 1b: exact sets of invoices, alone or net of one open credit memo.
    hits: list[tuple[tuple[int, ...], OpenDocument | None]] = []
    complete = True
    for memo in (None, *memos):
        target = a + (memo.remaining if memo else ZERO)
        sols, done = search(plain, target, target)
        complete &= done
        hits.extend((s, memo) for s in sols)
        if len(hits) > 1:
            break
    if hits:
        sol, memo = hits[0]
        chosen = [invoices[i] for i in sol]
        lines = [_full_line(d) for d in chosen] + ([_full_line(memo)] if memo else [])
        unique = len(hits) == 1 and complete
        if memo is not None:
            rule, dscore, ascore = "amount_credit_memo", ds.amount_subset, am.credit_memo
            why = f"the amount equals {_labels(chosen)} net of {_doc_label(memo)}"
        elif len(chosen) == 1:
            rule, dscore, ascore = "amount_single_invoice", ds.amount_single, am.exact
            why = f"no document quoted; the amount equals the open amount of {_labels(chosen)}"
        else:
            rule, dscore, ascore = "amount_subset", ds.amount_subset, am.exact
            why = f"no document quoted; the amount equals {_labels(chosen)} together"
        if not unique:
            why += (", but other open documents add up to the same amount" if len(hits) > 1
                    else ", but the search was bounded so uniqueness is not proven")
        return [_proposal(rule, lines, ZERO, dscore, ascore, why, ambiguous=not unique)]

    # Tier 2: exact after early-payment discounts within terms.
    disc = {d.doc_id: d.discount_amount() for d in invoices if ctx.discount_eligible(d)}
    if disc:
        values = [to_units(d.remaining - disc.get(d.doc_id, ZERO)) for d in invoices]
        sols, done = search(values, a, a)
        sols = [s for s in sols if any(invoices[i].doc_id in disc for i in s)]
        if sols:
            chosen = [invoices[i] for i in sols[0]]
            lines = [_full_line(d, disc.get(d.doc_id, ZERO)) for d in chosen]
            unique = len(sols) == 1 and done
            dscore = ds.amount_single if len(chosen) == 1 else ds.amount_subset
            return [_proposal("amount_discount", lines, ZERO, dscore, am.discount,
                              f"no document quoted; the amount equals {_labels(chosen)} less the "
                              f"early-payment discount taken within terms", ambiguous=not unique)]

    # Tier 3: short by a bank fee within tolerance.
    tol = rules.tolerance
    if tol.absolute > 0:
        # A fee is lost on one transfer for one invoice; allowing sets here would let any two
        # invoices within the tolerance window compete.
        found = find_subsets(plain, to_units(a + Decimal("0.01")), to_units(a + tol.absolute), max_size=1,
                             budget=bounds.node_budget)
        sols, done = found.solutions, found.complete and not truncated
        fits = []
        for s in sols:
            base = sum((invoices[i].remaining for i in s), ZERO)
            if tol.allows(base - a, base):
                fits.append((s, base))
        if fits:
            sol, base = fits[0]
            chosen = [invoices[i] for i in sol]
            gap = base - a
            short_doc = max(chosen, key=lambda d: d.remaining)
            lines = [_full_line(d, ZERO, gap if d is short_doc else ZERO) for d in chosen]
            unique = len(fits) == 1 and len(sols) == 1 and done
            return [_proposal("amount_fee_writeoff", lines, ZERO, ds.amount_tolerance, am.tolerance,
                              f"no document quoted; the amount is {_money(gap)} short of {_labels(chosen)}, "
                              f"within the write-off tolerance (bank fee)", ambiguous=not unique)]
    return []


def _typo_candidates(keys: list[str], docs: list[OpenDocument], min_digits: int) -> list[list[OpenDocument]]:
    """For each quoted number that names no document, the documents it is one typo away from."""
    by_len: dict[int, list[OpenDocument]] = {}
    for d in docs:
        if len(d.key) >= min_digits:
            by_len.setdefault(len(d.key), []).append(d)
    groups: list[list[OpenDocument]] = []
    for key in keys:
        near = [d for d in by_len.get(len(key), ()) if one_typo_apart(key, d.key)]
        if near:
            groups.append(near)
    return groups


def _fit_remittance(ctx: _Context, lookup: Callable[[str], list[OpenDocument]]) -> list[Proposal]:
    """Apply the amounts a remittance advice states, after checking them against the open documents."""
    rules = ctx.rules
    lines: list[Application] = []
    missing: list[str] = []
    over: list[str] = []
    for item in ctx.payment.remittance:
        key = number_key(item.number)
        docs = lookup(key)
        if len(docs) != 1:
            near = [d for group in _typo_candidates([key], ctx.docs, rules.typo_min_digits) for d in group]
            docs = near if len(near) == 1 else []
        if not docs:
            missing.append(item.number)
            continue
        doc = docs[0]
        cash = -abs(item.amount) if doc.kind == "credit_memo" else item.amount
        if abs(cash) + item.discount > doc.remaining:
            over.append(doc.number)
        lines.append(Application(doc.doc_id, cash, item.discount, ZERO, doc.kind, doc.number))
    applied = sum((line.amount for line in lines), ZERO)
    unapplied = ctx.amount - applied
    problems = []
    if missing:
        problems.append(f"numbers {', '.join(missing)} are not open for this customer")
    if over:
        problems.append(f"more than is open on {', '.join(over)}")
    if unapplied < 0:
        problems.append("the advice applies more than the payment")
    why = f"the remittance advice lists {len(ctx.payment.remittance)} line(s)"
    if problems:
        return [_proposal("remittance_advice", lines, max(unapplied, ZERO), rules.document_scores.remittance,
                          rules.amount_scores.mismatch, why + "; " + "; ".join(problems),
                          blocked="the advice does not fit the open documents")]
    amount_score = rules.amount_scores.exact if unapplied == 0 else rules.amount_scores.overpayment
    if unapplied:
        why += f"; {_money(unapplied)} not covered by it stays unapplied"
    return [_proposal("remittance_advice", lines, unapplied, rules.document_scores.remittance, amount_score,
                      why)]


_STRONG = frozenset((
    "reference_exact", "reference_discount", "reference_credit_memo", "reference_fee_writeoff",
    "reference_and_amount",
))


def _propose(payment: PaymentInput, view: CustomerView, keys: list[str], rules: MatchRules) -> list[Proposal]:
    """All proposals for one customer's open documents, best evidence first."""
    docs = view.open_documents()
    if not docs:
        return []
    ctx = _Context(payment, docs, rules)
    if payment.remittance:
        return _fit_remittance(ctx, view.by_key)
    exact: list[OpenDocument] = []
    for key in keys:
        for d in view.by_key(key):
            if d not in exact:
                exact.append(d)
    ds = rules.document_scores
    strong = _STRONG
    proposals: list[Proposal] = []
    if exact:
        proposals = _fit_referenced(ctx, exact, ds.reference, "quotes")
    else:
        groups = _typo_candidates(keys, docs, rules.typo_min_digits)
        if groups:
            proposals = _fit_typos(ctx, groups)
    if proposals and proposals[0].rule in strong:
        return proposals
    if proposals:
        # A quoted number the cash does not fit, while one other invoice is paid to the cent: the
        # customer may have quoted the wrong number; a person decides. Only a single invoice counts
        # as a rival: sets of three or four hit round amounts by chance too often.
        rivals = [d for d in docs if d.kind == "invoice" and d.remaining == payment.amount]
        if len(rivals) == 1 and rivals[0].doc_id not in proposals[0].docs:
            proposals[0].ambiguous = True
            proposals[0].why += f"; but the amount pays {_doc_label(rivals[0])} exactly instead"
        return proposals
    return _fit_amount(ctx)


def _fit_typos(ctx: _Context, groups: list[list[OpenDocument]]) -> list[Proposal]:
    rules = ctx.rules
    ds, am = rules.document_scores, rules.amount_scores
    sure = [g[0] for g in groups if len(g) == 1]
    unsure = [g for g in groups if len(g) > 1]
    options: list[list[OpenDocument]] = [sure] if sure and not unsure else []
    if unsure:
        # One quoted number, two documents one typo away from it: let the amount choose, if it can.
        for group in unsure:
            for d in group:
                options.append([*sure, d])
    fitting: list[Proposal] = []
    fallback: list[Proposal] = []
    for refs in options:
        found = _fit_referenced(ctx, list(dict.fromkeys(refs)), ds.reference_typo, "quotes (with one typo)")
        for p in found:
            if p.amount >= am.tolerance:
                fitting.append(p)
            else:
                p.document = ds.typo_unconfirmed
                fallback.append(p)
    if fitting:
        best = fitting[0]
        if len(fitting) > 1:
            best.ambiguous = True
            best.why += "; another document is one typo away as well"
        return [best]
    if fallback:
        fallback[0].ambiguous = fallback[0].ambiguous or len(fallback) > 1
        return [fallback[0]]
    return []


# --------------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------------


def _decide(payment: PaymentInput, payer: PayerHit, proposal: Proposal, rules: MatchRules,
            note: str = "") -> MatchResult:
    components = {"payer": round(payer.score, 4), "document": proposal.document, "amount": proposal.amount}
    confidence = rules.weighted(components)
    th = rules.thresholds
    if proposal.ambiguous:
        status, tail = "review", "two answers fit equally well, so a person decides"
    elif proposal.blocked:
        status, tail = "review", f"not applied automatically: {proposal.blocked}"
    elif confidence >= th.auto:
        status, tail = "auto", f"confidence {confidence:.2f} ≥ {th.auto:.2f}, applied automatically"
    elif confidence >= th.review:
        status, tail = "review", f"confidence {confidence:.2f} < {th.auto:.2f}, proposed for review"
    else:
        status, tail = "unmatched", f"confidence {confidence:.2f} < {th.review:.2f}, left unmatched"
    if status == "review" and confidence < th.review:
        status = "unmatched"
    sentence = f"Paid by {payer.how}; {proposal.why}{'; ' + note if note else ''}; {tail}."
    return MatchResult(
        payment_id=payment.payment_id,
        status=status,  # type: ignore[arg-type]
        customer_id=payer.customer_id,
        confidence=confidence,
        rule=proposal.rule,
        applications=proposal.lines if status != "unmatched" else [],
        unapplied=proposal.unapplied if status != "unmatched" else payment.amount,
        explanation=sentence[0].upper() + sentence[1:],
        components=components,
    )


def _unmatched(payment: PaymentInput, rule: str, why: str, customer_id: str | None = None,
               components: dict[str, float] | None = None) -> MatchResult:
    return MatchResult(payment.payment_id, "unmatched", customer_id, 0.0, rule, [], payment.amount,
                       why[0].upper() + why[1:] + ".", components or {})


def _open_docs(documents: DocumentIndex, customer_id: str, payment: PaymentInput, as_of: date,
               same_currency: bool) -> list[OpenDocument]:
    return [
        d for d in documents.for_customer(customer_id)
        if (d.currency == payment.currency) == same_currency
        and (d.issue_date is None or d.issue_date <= as_of)
    ]


def match_payment(payment: PaymentInput, documents: DocumentIndex, customers: CustomerIndex,
                  rules: MatchRules, as_of: date) -> MatchResult:
    """Decide what one payment pays.

    Args:
        payment: The incoming cash (an unapplied ERP payment or a bank credit line).
        documents: Open invoices and credit memos, with what is still open in this run.
        customers: Known customers, their bank accounts and aliases.
        rules: Thresholds, weights and tolerances.
        as_of: Evaluation date; documents issued after it are not open yet.

    Returns:
        The decision with its applications, confidence, rule and explanation.
    """
    if payment.amount <= 0:
        return _unmatched(payment, "not_a_receipt", "not incoming cash (zero or negative amount)")
    payer, note, ties = _identify(payment, customers, rules)
    keys = extract_number_keys(payment.reference, rules.number_min_digits)
    for item in payment.remittance:
        keys.extend(k for k in [number_key(item.number)] if k and k not in keys)
    noise = rules.noise
    is_noise = bool(noise and payment.reference and noise.search(payment.reference))

    if payer is None:
        if is_noise:
            return _unmatched(payment, "noise", "the reference reads like a bank or refund entry and the "
                              "payer is not a known customer")
        if ties:
            settled = _settle_name_tie(payment, documents, customers, rules, as_of, keys, ties)
            if settled is not None:
                return settled
        return _match_unknown_payer(payment, documents, customers, rules, as_of, keys, note)

    proposals = _propose(payment, documents.view(payer.customer_id, payment.currency, as_of), keys, rules)
    if not proposals and rules.match_across_currencies:
        foreign = _open_docs(documents, payer.customer_id, payment, as_of, False)
        foreign_refs = [d for d in foreign if d.key and d.key in keys]
        if foreign_refs:
            lines = [Application(d.doc_id, ZERO, ZERO, ZERO, d.kind, d.number) for d in foreign_refs]
            proposals = [_proposal("reference_other_currency", lines, payment.amount,
                                   rules.document_scores.reference, rules.amount_scores.mismatch,
                                   f"quotes {_labels(foreign_refs)} in {foreign_refs[0].currency}, "
                                   f"not {payment.currency}",
                                   blocked="the documents are in another currency")]
    if not proposals:
        why = "noise: the reference reads like a bank or refund entry" if is_noise else (
            f"no open {payment.currency} document of this customer fits {_money(payment.amount)}")
        return _unmatched(payment, "noise" if is_noise else "no_fit", f"Paid by {payer.how}; {why}",
                          payer.customer_id, {"payer": round(payer.score, 4)})
    return _decide(payment, payer, proposals[0], rules, note)


def _settle_name_tie(payment: PaymentInput, documents: DocumentIndex, customers: CustomerIndex,
                     rules: MatchRules, as_of: date, keys: list[str],
                     ties: list[tuple[float, str]]) -> MatchResult | None:
    """Several customers fit the payer name equally: let their open documents decide, if only one fits.

    The payer score is the name score halved in weight, so only a strong document fit reaches auto.
    """
    decided: list[MatchResult] = []
    names = ", ".join(cid for _, cid in ties)
    for score, cid in ties:
        known = customers.get(cid)
        hit = PayerHit(cid, rules.payer_scores.name * score / 100 * 0.9,
                       f"customer {cid} ({known.name if known else cid}), one of {names} whose names fit "
                       f"'{payment.payer_name}', the only one whose open documents fit the payment")
        proposals = _propose(payment, documents.view(cid, payment.currency, as_of), keys, rules)
        if proposals and proposals[0].amount >= rules.amount_scores.tolerance and not proposals[0].ambiguous:
            decided.append(_decide(payment, hit, proposals[0], rules))
    return decided[0] if len(decided) == 1 else None


def _match_unknown_payer(payment: PaymentInput, documents: DocumentIndex, customers: CustomerIndex,
                         rules: MatchRules, as_of: date, keys: list[str], note: str) -> MatchResult:
    """No payer identified: the owner of a quoted document number may still tell who paid."""
    owners: dict[str, None] = {}
    for key in keys:
        if len(key) < rules.typo_min_digits:
            continue
        for d in documents.by_key(key):
            if d.currency == payment.currency:
                owners.setdefault(d.customer_id, None)
    why = "payer not identified" + (f" ({note})" if note else "")
    if not owners:
        return _unmatched(payment, "unknown_payer", why + " and no open document number quoted")
    results: list[MatchResult] = []
    for cid in list(owners)[:5]:
        known = customers.get(cid)
        hit = PayerHit(cid, rules.payer_scores.document_owner,
                       f"customer {cid}{f' ({known.name})' if known else ''}, owner of the quoted document")
        view = documents.view(cid, payment.currency, as_of)
        ctx = _Context(payment, view.open_documents(), rules)
        exact = list({d.doc_id: d for key in keys for d in view.by_key(key)}.values())
        proposals = _fit_referenced(ctx, exact, rules.document_scores.reference, "quotes") if exact else []
        if proposals:
            results.append(_decide(payment, hit, proposals[0], rules, why))
    if not results:
        return _unmatched(payment, "unknown_payer", why + "; the quoted numbers do not fit the payment")
    results.sort(key=lambda r: -r.confidence)
    best = results[0]
    if len(results) > 1 and results[1].confidence == best.confidence:
        best.status = "review"
        best.explanation = best.explanation.rstrip(".") + (
            f"; customer {results[1].customer_id} has a document with the same number that fits as well, "
            "so a person decides.")
    return best


def match_payments(payments: Iterable[PaymentInput], documents: DocumentIndex, customers: CustomerIndex,
                   rules: MatchRules, as_of: date, *, consume: bool = True) -> Iterator[MatchResult]:
    """Decide a stream of payments in order.

    Args:
        payments: Incoming cash, in the order it arrived.
        documents: Open documents; auto applications reduce what is open on them when ``consume``.
        customers: Known customers.
        rules: Thresholds, weights and tolerances.
        as_of: Evaluation date.
        consume: Let an auto application reduce the document for later payments in the same run,
            so a second instalment sees what the first left open.

    Yields:
        One result per payment, in input order.
    """
    for payment in payments:
        result = match_payment(payment, documents, customers, rules, as_of)
        if consume and result.status == "auto":
            for line in result.applications:
                documents.consume(line.doc_id, abs(line.amount) + line.discount + line.writeoff)
        yield result
