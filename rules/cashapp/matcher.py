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
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import chain, compress, repeat
from math import gcd
from operator import attrgetter, eq, not_, sub

from rules.cashapp.identify import PayerHit, prepare_payers
from rules.cashapp.identify import identify as _identify
from rules.cashapp.identify import identify_payer as identify_payer
from rules.cashapp.index import CustomerIndex, CustomerView, DocumentIndex
from rules.cashapp.model import ZERO, Application, MatchResult, OpenDocument, PaymentInput, age_key, decided
from rules.cashapp.normalize import extract_number_keys, extract_number_keys_all, number_key, one_typo_apart
from rules.cashapp.settings import MatchRules
from rules.cashapp.subset import any_subset_reaches, chance_of_coincidence, find_subsets, to_units, units_of


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


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _doc_label(doc: OpenDocument) -> str:
    return f"credit memo {doc.number}" if doc.kind == "credit_memo" else f"invoice {doc.number}"


def _labels(docs: Sequence[OpenDocument]) -> str:
    if len(docs) == 1:  # most payments quote one document
        doc = docs[0]
        return f"credit memo {doc.number}" if doc.kind == "credit_memo" else f"invoice {doc.number}"
    names = list(map(_doc_label, docs))
    return f"{', '.join(names[:-1])} and {names[-1]}"


_age_key = age_key
_kind_of = attrgetter("kind")
_id_of = attrgetter("doc_id")
_key_of = attrgetter("key")
_remaining_of = attrgetter("remaining")
_percent_of = attrgetter("discount_percent")


# A customer may have hundreds of open items and pay many times: the passes over them below pick
# documents out with C-speed filters (``compress`` over the mapped attribute) instead of a Python
# test per document; each keeps the documents in their order, so every decision is the same. The
# tests are the operator module's functions over a repeated operand (``map(le, amounts,
# repeat(bound))``): a bound method such as ``bound.__ge__`` is a wrapper that packs its argument
# into a tuple on each call, a third of the time of the pass.
#
# A test of a document's own field is the exception: in a comprehension the interpreter reads a
# slot of the document directly once the loop has run a few times, while an ``attrgetter`` looks
# the name up on each call; such filters below are comprehensions, at under half the time.


def _invoices_among(docs: list[OpenDocument]) -> list[OpenDocument]:
    """The invoices among ``docs``, in order."""
    return [d for d in docs if d.kind == "invoice"]


def _invoices_of(docs: list[OpenDocument], amount: Decimal) -> list[OpenDocument]:
    """The invoices among ``docs`` whose open amount is ``amount``, in order."""
    # Most often none is: told by one containment test, without a method call for each document.
    if amount not in [d.remaining for d in docs]:
        return []
    return [d for d in docs if d.remaining == amount and d.kind == "invoice"]


def _full_line(doc: OpenDocument, discount: Decimal = ZERO, writeoff: Decimal = ZERO) -> Application:
    # Most lines take nothing off: zero taken once gives the same number, in the same form, as twice.
    if discount is ZERO and writeoff is ZERO:
        cash = doc.remaining - ZERO
    else:
        cash = doc.remaining - discount - writeoff
    return Application(doc.doc_id, cash if doc.kind == "invoice" else -doc.remaining, discount, writeoff,
                       doc.kind, doc.number)


def _proposal(rule: str, lines: list[Application], unapplied: Decimal, document: float, amount: float,
              why: str, ambiguous: bool = False, blocked: str = "") -> Proposal:
    return Proposal(rule, lines, unapplied, document, amount, why, ambiguous, blocked)


# --------------------------------------------------------------------------------------------------
# Who paid?
# --------------------------------------------------------------------------------------------------


# Who paid is told in :mod:`rules.cashapp.identify`; ``match_payments`` finds the payers of all its
# payments at once before deciding the first.


# --------------------------------------------------------------------------------------------------
# Which documents, and how does the cash fit?
# --------------------------------------------------------------------------------------------------


class _Context:
    """What every fit for one payment and one customer needs."""

    __slots__ = ("_docs", "amount", "pay_date", "payer_sure", "payment", "rules", "view")

    def __init__(self, payment: PaymentInput, docs: list[OpenDocument] | None, rules: MatchRules,
                 payer_sure: bool = False, view: CustomerView | None = None) -> None:
        """``docs`` are the customer's open documents; None to read them from ``view`` on first need."""
        self.payment = payment
        self.amount = payment.amount
        self.pay_date = payment.date
        self._docs = docs
        self.rules = rules
        # The ERP's customer id or a registered bank account, not a name that may fit someone else.
        self.payer_sure = payer_sure
        self.view = view

    @property
    def docs(self) -> list[OpenDocument]:
        """The customer's open documents (a payment whose quoted number the cash pays never needs them)."""
        docs = self._docs
        if docs is None:
            assert self.view is not None
            docs = self._docs = self.view.any_open()
        return docs

    @docs.setter
    def docs(self, docs: list[OpenDocument]) -> None:
        self._docs = docs

    def open_memos(self) -> list[OpenDocument]:
        """The credit memos among :attr:`docs`, in their order (kept by the view between payments)."""
        view = self.view
        if view is not None and (self._docs is None or self._docs is view.any_open()):
            return view.open_memos()
        docs = self.docs
        return list(compress(docs, map(eq, map(_kind_of, docs), repeat("credit_memo"))))

    def docs_by_age(self) -> list[OpenDocument]:
        """The open documents oldest due first (see :func:`~rules.cashapp.model.age_key`)."""
        if self.view is not None:
            return self.view.open_documents()
        return sorted(self.docs, key=age_key)

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
    if len(refs) == 1:  # most payments quote one number: nothing to order or pick out
        if refs[0].kind != "invoice":  # a credit memo alone is nothing to pay
            return []
        invoices = refs
        total = ZERO + refs[0].remaining
        if a == total and total > ZERO:
            return [_quoted_paid(refs[0], total, doc_score, via, rules)]
    else:
        refs = sorted(refs, key=_age_key)
        invoices = [d for d in refs if d.kind == "invoice"]
        total = sum((d.signed_remaining for d in refs), ZERO)
    # Compared with a Decimal zero, not the int 0 (which is converted on each comparison).
    if total <= ZERO or not invoices:
        return []
    label = f"{via} {_labels(refs)} (open {_money(total)})"

    if a == total:
        return [_proposal("reference_exact", [_full_line(d) for d in refs], ZERO, doc_score, am.exact,
                          f"{label}; the amount pays them exactly")]

    # Only an invoice with a discount percent has discount terms.
    terms = list(compress(invoices, map(_percent_of, invoices)))
    # Most invoices have none: then there is no discount to work out, and none taken late.
    if terms:
        eligible = [d for d in terms if ctx.discount_eligible(d)]
        disc = {d.doc_id: d.discount_amount() for d in eligible}
        d_total = sum(disc.values(), ZERO)
    else:
        eligible, disc, d_total = [], {}, ZERO
    if eligible and a == total - d_total:
        lines = [_full_line(d, disc.get(d.doc_id, ZERO)) for d in refs]
        return [_proposal("reference_discount", lines, ZERO, doc_score, am.discount,
                          f"{label}; the amount is {_money(total)} less an early-payment discount of "
                          f"{_money(d_total)} taken within terms")]
    # A discount deducted after its period is not granted: the cash is a partial payment and the
    # discount stays open on the invoice (no grace days unless configured).
    late = [d for d in terms if ctx.has_discount_terms(d) and d not in eligible] if terms else terms
    late_note = ""
    if late:
        late_total = sum((d.discount_amount() for d in late), ZERO)
        if a == total - d_total - late_total:
            late_note = (f"; the customer deducted an early-payment discount of {_money(late_total)} after "
                         f"its period had ended, which is not granted")

    quoted = {d.doc_id for d in refs}
    bases: list[tuple[Decimal, dict[str, Decimal], str]] = [(total, {}, "")]
    if eligible:
        # Within its terms a customer takes the discount; what is short beyond it is a fee.
        bases.insert(0, (total - d_total, disc, " after the early-payment discount"))

    if not late_note:
        memo_fit = _net_unquoted_memos(ctx, refs, quoted, bases, doc_score, label)
        if memo_fit:
            return memo_fit
        tol = rules.tolerance
        for base, base_disc, note in bases:
            gap = base - a
            if tol.allows(gap, base):
                target = max(invoices, key=lambda d: d.remaining)
                lines = [
                    _full_line(d, base_disc.get(d.doc_id, ZERO), gap if d is target else ZERO) for d in refs
                ]
                return [_proposal("reference_fee_writeoff", lines, ZERO, doc_score, am.tolerance,
                                  f"{label}; {_money(gap)} short{note}, within the write-off tolerance "
                                  f"(bank fee), written off on {_doc_label(target)}")]

    if a < total and len(refs) > 1 and not late_note:
        values = units_of(map(_remaining_of, invoices))
        found = find_subsets(values, to_units(a), to_units(a), max_size=len(invoices),
                             budget=rules.subset.node_budget)
        if found.solutions:
            chosen = [invoices[i] for i in found.solutions[0]]
            unique = len(found.solutions) == 1 and found.complete
            return [_proposal("reference_subset", [_full_line(d) for d in chosen], ZERO, doc_score,
                              am.tolerance, f"{label}; the amount pays exactly {_labels(chosen)} of them",
                              ambiguous=not unique)]

    if a > total:
        return [_fit_rest(ctx, refs, quoted, a - total, doc_score, label)]

    # Short beyond tolerance: a partial payment, applied oldest first, never marking anything paid
    # that was not paid (the complaint in odoo/odoo#63111 and alyf-de/banking#59).
    partial: list[Application] = []
    left = a
    for d in refs:
        if d.kind == "credit_memo":
            partial.append(_full_line(d))
            left += d.remaining
    for d in invoices:
        if left <= ZERO:
            break
        cash = min(left, d.remaining)
        partial.append(Application(d.doc_id, cash, ZERO, ZERO, d.kind, d.number))
        left -= cash
    single = len(invoices) == 1
    return [_proposal("reference_partial" if single else "reference_partial_multi", partial, ZERO, doc_score,
                      am.partial if single else am.partial_multi,
                      f"{label}{late_note}; {_money(a)} is a partial payment, "
                      f"{_money(total - a)} stays open")]


def _quoted_paid(doc: OpenDocument, total: Decimal, doc_score: float, via: str,
                 rules: MatchRules) -> Proposal:
    """The proposal of one quoted invoice, open for ``total`` (``ZERO + doc.remaining``), that the cash
    pays exactly: what the general fit makes of it, each piece made once, without a helper for each."""
    return Proposal("reference_exact",
                    [Application(doc.doc_id, doc.remaining - ZERO, ZERO, ZERO, "invoice", doc.number)], ZERO,
                    doc_score, rules.amount_scores.exact,
                    f"{via} invoice {doc.number} (open {total:,.2f}); the amount pays them exactly")


def _net_unquoted_memos(ctx: _Context, refs: list[OpenDocument], quoted: set[str],
                        bases: list[tuple[Decimal, dict[str, Decimal], str]], doc_score: float,
                        label: str) -> list[Proposal]:
    """Credit memos the customer netted without quoting them: one, or two when there are few to try.

    Memos raised against the quoted invoices are preferred when several fit.
    """
    a, am = ctx.amount, ctx.rules.amount_scores
    memos = ctx.open_memos()
    if not memos:
        return []
    # A quoted memo is rare: only then is the list (the view's, shared) copied without it.
    if not quoted.isdisjoint(map(_id_of, memos)):
        memos = list(compress(memos, map(not_, map(quoted.__contains__, map(_id_of, memos)))))
        if not memos:
            return []
    amounts = list(map(_remaining_of, memos))
    known = set(amounts)
    by_amount: dict[Decimal, list[OpenDocument]] = {}
    for base, base_disc, _ in reversed(bases):
        netted = base - a
        if netted <= ZERO:
            continue
        # Whether one memo or two make up what was netted is told at C speed (most often none does);
        # the memos are gathered by amount only when some may.
        if netted not in known and known.isdisjoint(map(sub, repeat(netted), amounts)):
            continue
        if not by_amount:
            for m in memos:
                by_amount.setdefault(m.remaining, []).append(m)
        fits: list[tuple[OpenDocument, ...]] = [(m,) for m in by_amount.get(netted, ())]
        if not fits:
            fits = [(m, n) for m in memos for n in by_amount.get(netted - m.remaining, ())
                    if m.doc_id < n.doc_id]
        if not fits:
            continue
        smallest = min(len(g) for g in fits)
        fits = [g for g in fits if len(g) == smallest]
        if len(fits) > 1:
            own = [g for g in fits if all(m.applies_to in quoted for m in g)]
            fits = own if len(own) == 1 else fits
        group = fits[0]
        lines = [_full_line(d, base_disc.get(d.doc_id, ZERO)) for d in refs] + [_full_line(m) for m in group]
        return [_proposal("reference_credit_memo", lines, ZERO, doc_score, am.credit_memo,
                          f"{label}; the customer netted {_labels(list(group))} ({_money(netted)})",
                          ambiguous=len(fits) > 1)]
    return []


def _fit_rest(ctx: _Context, refs: list[OpenDocument], quoted: set[str], extra: Decimal, doc_score: float,
              label: str) -> Proposal:
    """More cash than the quoted documents: what pays the rest?

    A remittance that lists some of the invoices a payment covers leaves a rest that pays the
    others; parking it on account as if it were an overpayment would leave them open and the
    customer reminded of invoices they paid. So: one other open invoice equal to the rest, and
    only one, completes the payment; a rest no combination of the customer's other open invoices
    can make up is an overpayment left on account; anything else is for a person.
    """
    rules = ctx.rules
    ds, am = rules.document_scores, rules.amount_scores
    lines = [_full_line(d) for d in refs]
    docs = ctx.docs
    # The invoices not quoted that are open for no more than the rest, in one pass. A customer with no
    # open credit memo (most) has only invoices open: their kind is not read.
    if ctx.open_memos():
        others = [d for d in docs if d.remaining <= extra and d.kind == "invoice" and d.doc_id not in quoted]
    else:
        others = [d for d in docs if d.remaining <= extra and d.doc_id not in quoted]
    owed = [d.remaining for d in others]
    # One test at C speed tells whether any pays the rest exactly (seldom): only then are they picked out.
    same = [d for d in others if d.remaining == extra] if extra in owed else []
    if same:
        rest = f"{label}; the remaining {_money(extra)} pays exactly {_labels(same[:1])}"
        if len(same) > 1:
            rest += f", and {_labels(same[1:3])} as well"
        return _proposal("reference_and_amount", [*lines, _full_line(same[0])], ZERO,
                         min(doc_score, ds.amount_single), am.exact, rest, ambiguous=len(same) > 1)
    target = to_units(extra)
    # The common step of a few amounts is at least that of all of them: if even with it the proof
    # would cost more than allowed, the rest is not worked through.
    step = gcd(target, *units_of(owed[:8])) or 1
    hopeless = len(others) * (target // step) > rules.subset.rest_budget
    reach = None if hopeless else any_subset_reaches(units_of(owed), target, rules.subset.rest_budget)
    if reach is False:
        why = f"{label}; {_money(extra)} more than they are owed stays unapplied on account"
        if others:
            why += " (no combination of the customer's other open invoices makes it up)"
        return _proposal("reference_overpayment", lines, extra, doc_score, am.overpayment, why)
    why = (f"{label}; the remaining {_money(extra)} may pay open invoices that are not quoted ("
           + ("several combinations of them add up to it" if reach else "too many to rule out") + ")")
    return _proposal("reference_overpayment", lines, extra, doc_score, am.overpayment, why,
                     blocked="the rest may pay invoices the remittance does not list")


def _takes_off(percent: Decimal | None) -> bool:
    """Whether a discount percentage takes something off an invoice (a positive, finite number)."""
    return percent is not None and percent.is_finite() and not percent.is_signed()


def _fit_amount(ctx: _Context) -> list[Proposal]:
    """No usable reference: look for the unique set of open documents the amount pays."""
    rules, a = ctx.rules, ctx.amount
    ds, am, bounds = rules.document_scores, rules.amount_scores, rules.subset
    docs = ctx.docs = ctx.docs_by_age()
    # The memos in the documents' order (the view keeps them): with none, as for most customers,
    # every open document is an invoice.
    all_memos = ctx.open_memos()
    all_invoices = _invoices_among(docs) if all_memos else docs
    if not all_invoices:
        return []
    owed_each = [d.remaining for d in all_invoices]

    # Tier 1a: one invoice paid to the cent, checked over all of them (a dictionary-speed test, so
    # no bound applies). Sets of several invoices are weaker evidence and never outrank it. (Such an
    # invoice is within the ceiling below, so it is looked for first.) Whether there is one is a
    # single test at C speed; they are picked out only then.
    singles = [d for d in all_invoices if d.remaining == a] if a in owed_each else []
    if singles:
        why = f"no document quoted; the amount equals the open amount of {_labels(singles[:1])}"
        if len(singles) > 1:
            why += f", and of {_labels(singles[1:3])} as well"
        return [_proposal("amount_single_invoice", [_full_line(singles[0])], ZERO, ds.amount_single, am.exact,
                          why, ambiguous=len(singles) > 1)]

    memos = all_memos[:5]
    ceiling = a + sum(map(_remaining_of, memos), ZERO) + rules.tolerance.absolute
    invoices = [d for d in all_invoices if d.remaining <= ceiling]
    truncated = len(invoices) > bounds.max_documents
    invoices = invoices[: bounds.max_documents]
    if not invoices:
        return []

    def search(values: list[int], target: int) -> tuple[list[tuple[int, ...]], bool]:
        """The sets of ``values`` adding up to exactly ``target`` (in thousandths, see to_units)."""
        found = find_subsets(values, target, target, max_size=bounds.max_size, budget=bounds.node_budget)
        return found.solutions, found.complete and not truncated

    # Tier 1a': one invoice less its early-payment discount taken within terms, over all of them too.
    # A positive percentage takes something off, and no invoice is open for exactly the amount: only
    # one open for more can be it, told without working its discount out.
    discounted = [d for d in all_invoices
                  if d.discount_percent and (d.remaining > a or not _takes_off(d.discount_percent))
                  and d.remaining - d.discount_amount() == a and ctx.discount_eligible(d)]
    if discounted:
        d = discounted[0]
        why = (f"no document quoted; the amount equals {_labels(discounted[:1])} less the early-payment "
               f"discount of {_money(d.discount_amount())} taken within terms")
        if len(discounted) > 1:
            why += f", and {_labels(discounted[1:3])} as well"
        return [_proposal("amount_discount", [_full_line(d, d.discount_amount())], ZERO, ds.amount_single,
                          am.discount, why, ambiguous=len(discounted) > 1)]

    # Tier 1c: everything open, a statement paid as a whole ("balance of account"). More than every
    # open invoice from a payer known for sure leaves the rest on account: no way of applying the
    # cash leaves any invoice open.
    # Sums of amounts of a few decimals are exact in any order, so the balance is the same number.
    owed = sum(owed_each, ZERO)
    balance = owed - sum(map(_remaining_of, all_memos), ZERO) if all_memos else owed
    if len(ctx.docs) > 1 and a == balance:
        return [_proposal("amount_whole_balance", [_full_line(d) for d in ctx.docs], ZERO, ds.whole_balance,
                          am.exact, f"no document quoted; the amount equals everything open "
                          f"({len(ctx.docs)} documents, balance {_money(balance)})")]
    if ctx.payer_sure and a > owed:
        extra = a - owed
        return [_proposal("amount_whole_balance", [_full_line(d) for d in all_invoices], extra,
                          ds.whole_balance, am.overpayment,
                          f"no document quoted; the amount is more than every open invoice "
                          f"({len(all_invoices)}, {_money(owed)} together); {_money(extra)} more stays "
                          f"unapplied on account")]

    plain = units_of([d.remaining for d in invoices])

    # Tier 1b: exact sets of invoices, alone or net of one open credit memo; one invoice net of
    # two memos.
    hits: list[tuple[tuple[int, ...], tuple[OpenDocument, ...]]] = []
    complete = True
    # Each target tried in thousandths, with the memo it is net of: the chance below weighs them again.
    tried: list[tuple[OpenDocument | None, int]] = []
    for memo in (None, *memos):
        target = to_units(a + (memo.remaining if memo else ZERO))
        sols, done = search(plain, target)
        complete &= done
        tried.append((memo, target))
        hits.extend((s, (memo,) if memo else ()) for s in sols)
        if len(hits) > 1:
            break
    if not hits and len(memos) > 1:
        by_amount: dict[Decimal, list[int]] = {}
        for i, d in enumerate(invoices):
            by_amount.setdefault(d.remaining, []).append(i)
        for i, m in enumerate(memos):
            for n in memos[i + 1:]:
                hits.extend(((k,), (m, n)) for k in by_amount.get(a + m.remaining + n.remaining, ()))
    if hits:
        sol, netted = hits[0]
        chosen = [invoices[i] for i in sol]
        lines = [_full_line(d) for d in chosen] + [_full_line(m) for m in netted]
        unique = len(hits) == 1 and complete
        # How likely a set adding up to the amount (or to it plus any memo tried) is by chance.
        chance = sum(
            chance_of_coincidence(plain, target, bounds.max_size, 2 if m is None else 1)
            for m, target in tried
        ) if unique and (len(chosen) > 1 or netted) else 0.0
        by_chance = unique and chance > bounds.max_chance and (len(chosen) > 1 or bool(netted))
        if netted:
            rule, dscore, ascore = "amount_credit_memo", ds.amount_subset, am.credit_memo
            why = f"the amount equals {_labels(chosen)} net of {_labels(list(netted))}"
        elif len(chosen) == 1:
            rule, dscore, ascore = "amount_single_invoice", ds.amount_single, am.exact
            why = f"no document quoted; the amount equals the open amount of {_labels(chosen)}"
        else:
            rule, dscore, ascore = "amount_subset", ds.amount_subset, am.exact
            why = f"no document quoted; the amount equals {_labels(chosen)} together"
        if not unique:
            why += (", but other open documents add up to the same amount" if len(hits) > 1
                    else ", but the search was bounded so uniqueness is not proven")
        elif by_chance:
            why += (f", but with {len(invoices)} open invoices a set adding up to it by chance is too likely "
                    f"({chance:.3f} expected)")
        return [_proposal(rule, lines, ZERO, dscore, ascore, why, ambiguous=not unique or by_chance)]

    # Tier 2: exact after early-payment discounts within terms.
    # Only an invoice with a discount percentage has discount terms to be within.
    disc = {d.doc_id: d.discount_amount() for d in invoices
            if d.discount_percent and ctx.discount_eligible(d)}
    if disc:
        values = [to_units(d.remaining - disc[d.doc_id]) if d.doc_id in disc else units
                  for d, units in zip(invoices, plain, strict=True)]
        sols, done = search(values, to_units(a))
        sols = [s for s in sols if any(invoices[i].doc_id in disc for i in s)]
        if sols:
            chosen = [invoices[i] for i in sols[0]]
            lines = [_full_line(d, disc.get(d.doc_id, ZERO)) for d in chosen]
            unique = len(sols) == 1 and done
            chance = chance_of_coincidence(values, to_units(a), bounds.max_size)
            if len(chosen) > 1 and chance > bounds.max_chance:
                unique = False
            dscore = ds.amount_single if len(chosen) == 1 else ds.amount_subset
            return [_proposal("amount_discount", lines, ZERO, dscore, am.discount,
                              f"no document quoted; the amount equals {_labels(chosen)} less the "
                              f"early-payment discount taken within terms", ambiguous=not unique)]

    # Tier 3: one invoice short by a bank fee within tolerance, over all of them. A fee is lost on one
    # transfer for one invoice; allowing sets here would let any two invoices within the tolerance
    # window compete.
    tol = rules.tolerance
    if tol.absolute > 0:
        # Only an invoice within the absolute limit above the amount can be short of it by a fee.
        most = a + tol.absolute
        fits = [d for d in all_invoices
                if a < d.remaining <= most and tol.allows(d.remaining - a, d.remaining)]
        if fits:
            doc = fits[0]
            gap = doc.remaining - a
            why = (f"no document quoted; the amount is {_money(gap)} short of {_labels([doc])}, within the "
                   f"write-off tolerance (bank fee)")
            doubt = len(fits) > 1
            if truncated and not doubt:
                # Sets of invoices beyond the bounded search may pay the amount exactly; an invoice
                # within the fee window of it is then too easily a coincidence.
                window = to_units(tol.absolute)
                near = chance_of_coincidence(plain, to_units(a), 1, 1) * window / 10
                doubt = near > bounds.max_chance
                if doubt:
                    why += f", but with {len(all_invoices)} open invoices one that close is likely by chance"
            return [_proposal("amount_fee_writeoff", [_full_line(doc, ZERO, gap)], ZERO, ds.amount_tolerance,
                              am.tolerance, why, ambiguous=doubt)]
    return []


# Beyond this many open documents, looking each variant of a quoted number up beats comparing it
# with every document.
_TYPO_SCAN_MAX = 8


def _typo_candidates(keys: list[str], docs: list[OpenDocument], min_digits: int,
                     view: CustomerView | None = None) -> list[list[OpenDocument]]:
    """For each quoted number that names no document, the documents it is one typo away from.

    ``docs`` are the view's open documents when a view is given.
    """
    # Only keys as long as a quoted one can be one typo from it: most payments quote none long enough.
    lengths = {len(k) for k in keys if len(k) >= min_digits}
    if not lengths:
        return []
    if view is not None and len(docs) > _TYPO_SCAN_MAX:
        looked_up = [view.one_typo_from(k) if len(k) >= min_digits else [] for k in keys]
        if None not in looked_up:
            return [near for near in looked_up if near]
    by_len: dict[int, list[OpenDocument]] = {}
    sizes = list(map(len, map(_key_of, docs)))
    for d, size in zip(compress(docs, map(lengths.__contains__, sizes)),
                       compress(sizes, map(lengths.__contains__, sizes)), strict=True):
        by_len.setdefault(size, []).append(d)
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
            near = [d for group in _typo_candidates([key], ctx.docs, rules.typo_min_digits, ctx.view)
                    for d in group]
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
    "reference_and_amount", "reference_settled_other",
))


def _propose(payment: PaymentInput, view: CustomerView, keys: list[str], rules: MatchRules,
             payer_sure: bool = False) -> list[Proposal]:
    """All proposals for one customer's open documents, best evidence first."""
    if payment.remittance:
        docs = view.any_open()
        return _fit_remittance(_Context(payment, docs, rules, payer_sure, view), view.by_key) if docs else []
    if len(keys) == 1:  # most payments quote one number, which names one document
        exact = view.by_key(keys[0])
        if len(exact) > 1:
            exact = list(dict.fromkeys(exact))
    else:  # the documents of several numbers, each once
        exact = list(dict.fromkeys(chain.from_iterable(map(view.by_key, keys)))) if keys else []
    ds = rules.document_scores
    strong = _STRONG
    proposals: list[Proposal] = []
    if exact:
        if len(exact) == 1 and exact[0].kind == "invoice":
            # The most common payment: one quoted invoice the cash pays exactly, told before anything
            # else is made (the view's documents are open, so ``total`` is more than zero).
            doc = exact[0]
            total = ZERO + doc.remaining
            if payment.amount == total:
                return [_quoted_paid(doc, total, ds.reference, "quotes", rules)]
        # The open documents are read only if the cash does not pay the quoted ones as they stand.
        ctx = _Context(payment, None, rules, payer_sure, view)
        proposals = _fit_referenced(ctx, exact, ds.reference, "quotes")
    else:
        docs = view.any_open()
        if not docs:
            return []
        ctx = _Context(payment, docs, rules, payer_sure, view)
        settled = list({d.doc_id: d for key in keys for d in view.settled_by_key(key)}.values())
        if settled:
            return [_fit_settled(ctx, settled)]
        groups = _typo_candidates(keys, docs, rules.typo_min_digits, view)
        if groups:
            proposals = _fit_typos(ctx, groups)
    if proposals and proposals[0].rule in strong:
        return proposals
    if proposals:
        # A quoted number the cash does not fit, while one other invoice is paid to the cent: the
        # customer may have quoted the wrong number; a person decides. Only a single invoice counts
        # as a rival: sets of three or four hit round amounts by chance too often.
        rivals = _invoices_of(ctx.docs, payment.amount)
        # The ids of the documents a proposal applies to are read only here, where a rival is found.
        if len(rivals) == 1 and rivals[0].doc_id not in set(map(_id_of, proposals[0].lines)):
            proposals[0].ambiguous = True
            proposals[0].why += f"; but the amount pays {_doc_label(rivals[0])} exactly instead"
        return proposals
    return _fit_amount(ctx)


def _fit_settled(ctx: _Context, settled: list[OpenDocument]) -> Proposal:
    """The quoted documents were settled by payments earlier in this run: a duplicate, most likely.

    Only one other open invoice of exactly the amount takes it (the customer quoted the wrong
    number on the second payment); sets of invoices or a fee would only spread a duplicate around.
    """
    ds, am = ctx.rules.document_scores, ctx.rules.amount_scores
    label = f"quotes {_labels(settled)}, which a payment earlier in this run settled"
    same = _invoices_of(ctx.docs, ctx.amount)
    if len(same) == 1:
        return _proposal("reference_settled_other", [_full_line(same[0])], ZERO, ds.amount_single, am.exact,
                         f"{label}; the amount pays {_doc_label(same[0])} exactly, the only open invoice "
                         f"of that amount")
    why = f"{label}: a duplicate payment?"
    if same:
        why += f" {_labels(same[:3])} are open for the same amount"
    return _proposal("reference_settled", [], ctx.amount, ds.reference, am.mismatch, why,
                     blocked="the quoted documents are already settled")


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


# A few hundred payer scores recur over a run: each rounded once (rounding a float to some digits
# goes through its decimal digits, a costly step for each of a hundred thousand results).
_ROUNDED: dict[float, float] = {}
_ROUNDED_MAX = 4096


def _payer_score(score: float) -> float:
    """``round(score, 4)``."""
    rounded = _ROUNDED.get(score)
    if rounded is None:
        if len(_ROUNDED) >= _ROUNDED_MAX:
            _ROUNDED.clear()
        rounded = round(score, 4)
        if score:  # a zero is not kept: 0.0 and -0.0 are one key but round to different numbers
            _ROUNDED[score] = rounded
    return rounded


def _decide(payment: PaymentInput, payer: PayerHit, proposal: Proposal, rules: MatchRules,
            note: str = "") -> MatchResult:
    payer_score = _payer_score(payer.score)
    document, amount = proposal.document, proposal.amount
    verdicts = rules.verdicts
    slot = (payer_score, document, amount)
    verdict = verdicts.get(slot)
    if verdict is None:
        # A handful of score combinations recur over thousands of payments: weighed once each.
        verdict = verdicts[slot] = _verdict(rules, {"payer": payer_score, "document": document,
                                                    "amount": amount})
    confidence, status, tail = verdict
    if proposal.ambiguous:
        status, tail = "review", "two answers fit equally well, so a person decides"
    elif proposal.blocked:
        status, tail = "review", f"not applied automatically: {proposal.blocked}"
    if status == "review" and confidence < rules.thresholds.review:
        status = "unmatched"
    # Starts with a capital already.
    why = (f"Paid by {payer.how}; {proposal.why}; {note}; {tail}." if note
           else f"Paid by {payer.how}; {proposal.why}; {tail}.")
    components = {"payer": payer_score, "document": document, "amount": amount}
    applied = status != "unmatched"
    return decided(payment.payment_id, status, payer.customer_id, confidence,  # type: ignore[arg-type]
                   proposal.rule, proposal.lines if applied else [],
                   proposal.unapplied if applied else payment.amount, why, components)


def _verdict(rules: MatchRules, components: dict[str, float]) -> tuple[float, str, str]:
    """The confidence of these component scores, and what it makes of a proposal nothing blocks."""
    confidence = rules.weighted(components)
    th = rules.thresholds
    if confidence >= th.auto:
        return confidence, "auto", f"confidence {confidence:.2f} ≥ {th.auto:.2f}, applied automatically"
    if confidence >= th.review:
        return confidence, "review", f"confidence {confidence:.2f} < {th.auto:.2f}, proposed for review"
    return confidence, "unmatched", f"confidence {confidence:.2f} < {th.review:.2f}, left unmatched"


def _unmatched(payment: PaymentInput, rule: str, why: str, customer_id: str | None = None,
               components: dict[str, float] | None = None) -> MatchResult:
    return decided(payment.payment_id, "unmatched", customer_id, 0.0, rule, [], payment.amount,
                   why[0].upper() + why[1:] + ".", components or {})


def _open_docs(documents: DocumentIndex, customer_id: str, payment: PaymentInput, as_of: date,
               same_currency: bool) -> list[OpenDocument]:
    return [
        d for d in documents.for_customer(customer_id)
        if (d.currency == payment.currency) == same_currency
        and (d.issue_date is None or d.issue_date <= as_of)
    ]


def match_payment(payment: PaymentInput, documents: DocumentIndex, customers: CustomerIndex,
                  rules: MatchRules, as_of: date, *,
                  reference_keys: Sequence[str] | None = None) -> MatchResult:
    """Decide what one payment pays.

    Args:
        payment: The incoming cash (an unapplied ERP payment or a bank credit line).
        documents: Open invoices and credit memos, with what is still open in this run.
        customers: Known customers, their bank accounts and aliases.
        rules: Thresholds, weights and tolerances.
        as_of: Evaluation date; documents issued after it are not open yet.
        reference_keys: The number keys of the payment's reference, when already found (as
            :func:`~rules.cashapp.normalize.extract_number_keys` finds them).

    Returns:
        The decision with its applications, confidence, rule and explanation.
    """
    if payment.amount <= ZERO:
        return _unmatched(payment, "not_a_receipt", "not incoming cash (zero or negative amount)")
    found = _identify(payment, customers, rules)
    payer, note, ties = found.hit, found.note, found.ties
    if reference_keys is None:
        keys = extract_number_keys(payment.reference, rules.number_min_digits)
    elif type(reference_keys) is list and not payment.remittance:
        # Only a remittance's numbers are added to the keys: without one, the caller's list is read only.
        keys = reference_keys
    else:
        keys = list(reference_keys)
    for item in payment.remittance:
        keys.extend(k for k in [number_key(item.number)] if k and k not in keys)

    if payer is None:
        if _is_noise(payment, rules):
            return _unmatched(payment, "noise", "the reference reads like a bank or refund entry and the "
                              "payer is not a known customer")
        if ties:
            settled = _settle_name_tie(payment, documents, customers, rules, as_of, keys, ties)
            if settled is not None:
                return settled
        return _match_unknown_payer(payment, documents, customers, rules, as_of, keys, note)

    view = documents.view(payer.customer_id, payment.currency, as_of)
    proposals = _propose(payment, view, keys, rules, payer.source in _SURE)
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
    if proposals and keys and proposals[0].rule.startswith("amount_"):
        elsewhere = [d for d in documents.for_customer(payer.customer_id)
                     if d.currency != payment.currency and d.key in keys]
        if elsewhere:
            proposals[0].blocked = (f"the reference quotes {_labels(elsewhere[:2])} in "
                                    f"{elsewhere[0].currency}, not {payment.currency}")
    if payer.source in _BY_NAME:
        doubt = _name_doubt(payment, payer, view, keys, proposals, documents, customers, rules, as_of,
                            found.rivals)
        if doubt and proposals:
            proposals[0].blocked = doubt
        elif doubt:
            return _unmatched(payment, "no_fit", f"Paid by {payer.how}; {doubt}", payer.customer_id,
                              {"payer": round(payer.score, 4)})
    if not proposals:
        # Read only now: a payment something fits is matched whatever its reference says.
        is_noise = _is_noise(payment, rules)
        why = "noise: the reference reads like a bank or refund entry" if is_noise else (
            f"no open {payment.currency} document of this customer fits {_money(payment.amount)}")
        return _unmatched(payment, "noise" if is_noise else "no_fit", f"Paid by {payer.how}; {why}",
                          payer.customer_id, {"payer": round(payer.score, 4)})
    return _decide(payment, payer, proposals[0], rules, note)


def _is_noise(payment: PaymentInput, rules: MatchRules) -> bool:
    """Whether the reference reads like a bank or refund entry (interest, refund, chargeback…)."""
    noise = rules.noise
    return bool(noise and payment.reference and noise.search(payment.reference))


_BY_NAME = frozenset(("name", "name_in_reference"))
_SURE = frozenset(("customer_id", "bank_account"))


def _name_doubt(payment: PaymentInput, payer: PayerHit, view: CustomerView, keys: list[str],
                proposals: list[Proposal], documents: DocumentIndex, customers: CustomerIndex,
                rules: MatchRules, as_of: date, rivals: list[tuple[float, str]]) -> str:
    """Why a payer known only by a fuzzy name may be the wrong customer, or "" when nothing says so.

    A number quoted that names another customer's open document, and none of the payer's own, says
    the name may have picked the wrong customer. A second customer the name fits nearly as well,
    with an open item the payment fits at least as well, leaves two answers.
    """
    if keys and not any(map(view.has_number, keys)):
        owners = {
            d.customer_id: d for k in keys if len(k) >= rules.typo_min_digits for d in documents.by_key(k)
            if d.customer_id != payer.customer_id and d.kind == "invoice"
        }
        if owners:
            other = next(iter(owners.values()))
            return (f"the quoted {_doc_label(other)} belongs to customer {other.customer_id}, and the payer "
                    f"is known only by name")
    if not proposals:
        return ""
    quoted = proposals[0].document >= rules.document_scores.reference
    if not rivals:
        return ""
    # An open item of theirs the payment fits as well: the number quoted, or the amount to the cent
    # when the payer's own item was found by amount too.
    found = documents.first_open([cid for _, cid in rivals], payment.currency,
                                 ZERO if quoted else payment.amount, keys)
    if found is not None:
        cid, theirs = found
        known = customers.get(cid)
        return (f"the payer name fits customer {cid} ({known.name if known else cid}) as well, whose "
                f"{_doc_label(theirs)} the payment fits just as well")
    return ""


def _settle_name_tie(payment: PaymentInput, documents: DocumentIndex, customers: CustomerIndex,
                     rules: MatchRules, as_of: date, keys: list[str],
                     ties: list[tuple[float, str]]) -> MatchResult | None:
    """Several customers fit the payer name equally: let their open documents decide, if only one fits.

    The payer score is the name score halved in weight, so only a strong document fit reaches auto.
    """
    # The best-named few are searched in full; any other namesake with an open item of the amount, or
    # one the reference names, fits as well and leaves two answers.
    full, rest = ties[:4], ties[4:]
    if rest and documents.first_open([cid for _, cid in rest], payment.currency, payment.amount, keys):
        return None
    # The namesakes are searched in their order, stopping at the second that fits: a search by amount
    # leaves the customer's documents in age order for later payments, so skipping or adding one
    # would change what those see.
    fitting: tuple[float, str, CustomerView, Proposal] | None = None
    for score, cid in full:
        view = documents.view(cid, payment.currency, as_of)
        proposals = _propose(payment, view, keys, rules)
        if proposals and proposals[0].amount >= rules.amount_scores.tolerance:
            if proposals[0].ambiguous or fitting is not None:
                return None
            fitting = (score, cid, view, proposals[0])
    if fitting is None:
        return None
    # Named only once the one namesake whose documents fit is known: most fit none.
    score, cid, view, proposal = fitting
    known = customers.get(cid)
    names = ", ".join(other for _, other in ties)
    hit = PayerHit(cid, rules.payer_scores.name * score / 100 * 0.9,
                   f"customer {cid} ({known.name if known else cid}), one of {names} whose names "
                   f"fit '{payment.payer_name}', the only one whose open documents fit the payment")
    doubt = _name_doubt(payment, hit, view, keys, [proposal], documents, customers, rules, as_of, [])
    if doubt:
        proposal.blocked = doubt
    return _decide(payment, hit, proposal, rules)


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
    # Up to five owners quote the same numbers: their neighbours one typo away are looked up once.
    near_by_key: dict[str, list[OpenDocument]] = {}
    for cid in list(owners)[:5]:
        view = documents.view(cid, payment.currency, as_of)
        # The open documents are read only if the cash does not pay the quoted ones as they stand.
        ctx = _Context(payment, None, rules, view=view)
        exact = list({d.doc_id: d for key in keys for d in view.by_key(key)}.values())
        proposals = _fit_referenced(ctx, exact, rules.document_scores.reference, "quotes") if exact else []
        if proposals and proposals[0].amount < rules.amount_scores.tolerance and not proposals[0].blocked:
            # Cash that does not pay the quoted document in full confirms nothing about who paid;
            # a document one typo away that the cash pays exactly is as good an answer.
            near = _paid_one_typo_away(payment, documents, [d.key for d in exact], cid, near_by_key)
            if near is not None:
                proposals[0].blocked = (f"the amount pays {_doc_label(near)} of customer {near.customer_id} "
                                        f"exactly, one typo away from the quoted number")
        if proposals:
            known = customers.get(cid)
            named = f" ({known.name})" if known else ""
            hit = PayerHit(cid, rules.payer_scores.document_owner,
                           f"customer {cid}{named}, owner of the quoted document")
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


def _paid_one_typo_away(payment: PaymentInput, documents: DocumentIndex, keys: list[str], owner: str,
                        seen: dict[str, list[OpenDocument]] | None = None) -> OpenDocument | None:
    """Another customer's open document one wrong or swapped digit from a quoted number, paid exactly.

    ``seen`` keeps, for one payment, each number's such documents of any customer, in look-up order.
    """
    if seen is None:
        seen = {}
    for key in keys:
        paid = seen.get(key)
        if paid is None:
            paid = seen[key] = _paid_exactly(payment, documents.by_keys(_one_typo_variants(key)))
        for d in paid:
            if d.customer_id != owner:
                return d
    return None


def _paid_exactly(payment: PaymentInput, docs: list[OpenDocument]) -> list[OpenDocument]:
    """The documents among ``docs`` in the payment's currency whose open amount is the payment's."""
    amount, currency = payment.amount, payment.currency
    return [d for d in docs if d.remaining == amount and d.currency == currency]


def _one_typo_variants(key: str) -> list[str]:
    """``key`` with each digit replaced by each other one and each two different neighbours swapped,
    none with a leading zero."""
    variants: list[str] = []
    for i, c in enumerate(key):
        head, tail = key[:i], key[i + 1:]
        variants += [head + digit + tail for digit in (_DIGITS if i else _DIGITS[1:]) if digit != c]
        if tail and tail[0] != c and (i or tail[0] != "0"):
            variants.append(head + tail[0] + c + tail[1:])
    return variants


_DIGITS = "0123456789"


def match_payments(payments: Iterable[PaymentInput], documents: DocumentIndex, customers: CustomerIndex,
                   rules: MatchRules, as_of: date, *, consume: bool = True,
                   reference_keys: Callable[[int], Sequence[str]] | None = None) -> Iterator[MatchResult]:
    """Decide payments in date order (the input order among payments of one day), yielding in input order.

    Args:
        payments: Incoming cash.
        documents: Open documents; auto applications reduce what is open on them when ``consume``.
        customers: Known customers.
        rules: Thresholds, weights and tolerances.
        as_of: Evaluation date.
        consume: Let an auto application reduce the document for later payments in the same run,
            so a second instalment sees what the first left open.
        reference_keys: When found already, the number keys of the reference of the payment at each
            position of ``payments`` (what :func:`~rules.cashapp.normalize.extract_number_keys` finds
            under ``rules``), asked for in the order the payments are decided; found here otherwise.

    Yields:
        One result per payment, in input order.
    """
    items = payments if isinstance(payments, list) else list(payments)
    prepare_payers(items, customers, rules)
    keys_at = reference_keys or _reference_keys_found(items, rules)
    # Decided in date order against a running balance, so the later of two payments quoting the same
    # invoice is the one that finds it closed, whatever order the file lists them in.
    order = sorted(range(len(items)), key=list(map(_date_of, items)).__getitem__)
    if order == list(range(len(items))):
        for payment, keys in zip(items, map(keys_at, order), strict=True):
            yield _match_and_consume(payment, documents, customers, rules, as_of, consume, keys)
        return
    results: list[MatchResult | None] = [None] * len(items)
    for i in order:
        results[i] = _match_and_consume(items[i], documents, customers, rules, as_of, consume, keys_at(i))
    for result in results:
        assert result is not None
        yield result


def _reference_keys_found(payments: list[PaymentInput], rules: MatchRules) -> Callable[[int], Sequence[str]]:
    """The number keys of each payment's reference by its position, the references read in one pass
    over all of them (not one regex pass each); none for a payment that is not a receipt."""
    found = extract_number_keys_all([p.reference if p.amount > 0 else None for p in payments],
                                    rules.number_min_digits)
    return found.__getitem__


_date_of = attrgetter("date")


def _match_and_consume(payment: PaymentInput, documents: DocumentIndex, customers: CustomerIndex,
                       rules: MatchRules, as_of: date, consume: bool,
                       keys: Sequence[str] | None = None) -> MatchResult:
    result = match_payment(payment, documents, customers, rules, as_of, reference_keys=keys)
    if consume and result.status == "auto":
        settle = documents.consume
        for line in result.applications:
            discount, writeoff = line.discount, line.writeoff
            # Most lines take nothing off: the zero added once gives the same number, in the same
            # form, as added twice.
            settle(line.doc_id, abs(line.amount) + ZERO if discount is ZERO and writeoff is ZERO
                   else abs(line.amount) + discount + writeoff)
    return result
