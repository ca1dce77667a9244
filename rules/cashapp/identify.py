"""Who paid: each payment attributed to one customer, or declined with a reason.

The ERP's customer id, else a known bank account, else a fuzzy payer name, else a customer's name
inside the reference. Nothing here depends on what the payments before it took, so the payers of a
whole run are found at once before the first decision: each distinct customer id, account, payer
name and reference looked at once, and the names of all of them scored together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import attrgetter

from rules.cashapp.model import PaymentInput
from rules.cashapp.payers import CustomerIndex, name_parts_of_many
from rules.cashapp.settings import MatchRules


@dataclass(slots=True)
class PayerHit:
    """The customer a payment is attributed to, how sure we are, and how we know."""

    customer_id: str
    score: float
    how: str
    source: str = ""


@dataclass(slots=True)
class Payer:
    """Who paid, or why nobody was chosen; and the other customers the payer name fits as well."""

    hit: PayerHit | None
    note: str = ""
    ties: list[tuple[float, str]] = field(default_factory=list)
    rivals: list[tuple[float, str]] = field(default_factory=list)


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
    found = identify(payment, customers, rules)
    return found.hit, found.note


# Everything identifying a payer reads of a payment.
_key: Callable[[PaymentInput], tuple[str | None, ...]] = attrgetter(
    "customer_id", "payer_account", "payer_name", "reference")


def prepare_payers(payments: Sequence[PaymentInput], customers: CustomerIndex, rules: MatchRules) -> None:
    """Identify the payers of many payments at once, for :func:`identify` to hand out one by one.

    What is kept replaces what an earlier batch kept, and is forgotten when a customer changes; when
    the payers of all of ``payments`` are kept already, or are arriving from another process, nothing
    is identified here.
    """
    if customers.expects_payers(rules):  # found by another process (rules.cashapp.payers_ahead)
        return
    items = [p for p in payments if p.amount > 0]
    keys = payer_keys(items)
    if keys and all(customers.prepared_payer(key, rules) is not None for key in keys):
        return
    found = identify_all(items, customers, rules)
    customers.keep_payers(rules, dict(zip(keys, found, strict=True)))


def payer_keys(payments: Sequence[PaymentInput]) -> list[tuple[str | None, ...]]:
    """Each payment's key to its payer kept in a :class:`~rules.cashapp.payers.CustomerIndex`: all
    that identifying it reads (two payments of one key have one payer)."""
    return list(map(_key, payments))


def identify(payment: PaymentInput, customers: CustomerIndex, rules: MatchRules) -> Payer:
    """Who paid ``payment``: what :func:`prepare_payers` found for it, else found now."""
    found = customers.prepared_payer(_key(payment), rules)
    if isinstance(found, Payer):
        return found
    return identify_all([payment], customers, rules)[0]


def identify_all(payments: Sequence[PaymentInput], customers: CustomerIndex,
                 rules: MatchRules) -> list[Payer]:
    """Who paid each payment (see :func:`identify_payer`), in order."""
    ids = list(map(_customer_id, payments))
    found: list[Payer | None] = list(map(_by_ids(ids, customers, rules).get, ids))
    # Payments no id told: their position and account.
    rest = [i for i, payer in enumerate(found) if payer is None]
    accounts = [payments[i].payer_account for i in rest]
    distinct = list(dict.fromkeys(filter(None, accounts)))
    by_account: dict[str | None, Payer | str] = dict(zip(
        distinct, map(_by_account, distinct, customers.owners_of_accounts(distinct), repeat(customers),
                      repeat(rules)), strict=True))
    by_account[None] = by_account[""] = ""
    # Payments no id or account told: their position and what the account said.
    unsure: list[tuple[int, str]] = []
    for i, told in zip(rest, map(by_account.__getitem__, accounts), strict=True):
        if isinstance(told, Payer):
            found[i] = told
        else:
            unsure.append((i, told))
    if unsure:
        _by_name(payments, unsure, found, customers, rules)
    return found  # type: ignore[return-value]


_customer_id: Callable[[PaymentInput], str | None] = attrgetter("customer_id")


def _by_ids(ids: list[str | None], customers: CustomerIndex, rules: MatchRules) -> dict[str | None, Payer]:
    """The payer of each customer id given with a payment (one for all payments giving it)."""
    score = rules.payer_scores.customer_id
    by_id: dict[str | None, Payer] = {}
    for cid in dict.fromkeys(filter(None, ids)):
        known = customers.get(cid)
        label = f"{cid} ({known.name})" if known else cid
        by_id[cid] = Payer(PayerHit(cid, score, f"customer {label} given with the payment", "customer_id"))
    return by_id


def _by_account(account: str, owners: set[str], customers: CustomerIndex, rules: MatchRules) -> Payer | str:
    """The one customer holding ``account``, or a note on why the account tells nothing."""
    if len(owners) == 1:
        cid = next(iter(owners))
        known = customers.get(cid)
        label = f"{cid} ({known.name})" if known else cid
        how = f"customer {label} by bank account {account}"
        return Payer(PayerHit(cid, rules.payer_scores.bank_account, how, "bank_account"))
    if len(owners) > 1:
        return f"bank account {account} belongs to {len(owners)} customers"
    return ""


# What a payer name says when it names nobody, and the customers it fits equally.
_Declined = tuple[str, list[tuple[float, str]]]
_NOTHING: _Declined = ("", [])


def _by_name(payments: Sequence[PaymentInput], unsure: list[tuple[int, str]], found: list[Payer | None],
             customers: CustomerIndex, rules: MatchRules) -> None:
    """The payer name, then a name inside the reference, for the payments no id or account told."""
    by_name = _by_payer_names(list({name: None for i, _ in unsure if (name := payments[i].payer_name)}),
                              customers, rules)
    left: list[tuple[int, list[str], list[tuple[float, str]]]] = []
    for i, note in unsure:
        said = by_name.get(payments[i].payer_name or "", _NOTHING)
        if isinstance(said, Payer):
            found[i] = said
        else:
            left.append((i, [n for n in (note, said[0]) if n], said[1]))
    by_reference = _by_references(list({ref: None for i, _, _ in left if (ref := payments[i].reference)}),
                                  customers, rules)
    for i, notes, ties in left:
        said_too = by_reference.get(payments[i].reference or "", "")
        if isinstance(said_too, Payer):
            found[i] = said_too
            continue
        if said_too:
            notes.append(said_too)
        found[i] = Payer(None, "; ".join(notes), ties)


def _by_payer_names(payer_names: list[str], customers: CustomerIndex,
                    rules: MatchRules) -> dict[str, Payer | _Declined]:
    """Per payer name: the customer it names, or what it says when it names none."""
    names, scores = rules.names, rules.payer_scores
    # A lower score neither wins, nor ties the best (within the margin), nor makes a rival.
    at_least = min(names.min_score - names.margin, names.rival_min_score)
    by_name: dict[str, Payer | _Declined] = {}
    # The customers each payer name fits besides the one chosen (or besides none, when it chose none).
    asked: list[tuple[list[tuple[float, str]], str | None, str | None]] = []
    said: list[tuple[str, PayerHit | str]] = []
    for name, ranked in zip(payer_names, customers.score_many_names(payer_names, names.max_token_customers,
                                                                    at_least), strict=True):
        hit = decide_name(ranked, names.min_score, names.margin)
        if isinstance(hit, str):
            if not hit:
                by_name[name] = _NOTHING
                continue
            asked.append((ranked, name, None))
            said.append((name, f"payer name '{name}' {hit}"))
        else:
            score, cid = hit
            known = customers.get(cid)
            asked.append((ranked, name, cid))
            said.append((name, PayerHit(cid, scores.name * score / 100,
                                        f"customer {cid} ({known.name if known else cid}) by payer name "
                                        f"'{name}' (similarity {score:.0f})", "name")))
    for (name, what), fits in zip(said, fittings(asked, customers, names.rival_min_score), strict=True):
        by_name[name] = Payer(what, rivals=fits) if isinstance(what, PayerHit) else (what, fits)
    return by_name


def _by_references(references: list[str], customers: CustomerIndex,
                   rules: MatchRules) -> dict[str, Payer | str]:
    """Per reference: the customer named inside it, or what it says when it names none."""
    names, scores = rules.names, rules.payer_scores
    at_least = min(names.in_reference_min_score - names.margin, names.rival_min_score)
    by_reference: dict[str, Payer | str] = {}
    hits: list[tuple[str, PayerHit]] = []
    asked: list[tuple[list[tuple[float, str]], str | None, str | None]] = []
    for reference, ranked in zip(references, customers.score_many_texts(references, names.max_token_customers,
                                                                        at_least), strict=True):
        hit = decide_name(ranked, names.in_reference_min_score, names.margin)
        if isinstance(hit, str):
            by_reference[reference] = f"reference {hit}" if hit else ""
        else:
            score, cid = hit
            known = customers.get(cid)
            hits.append((reference, PayerHit(cid, scores.name_in_reference * score / 100,
                                             f"customer {cid} ({known.name if known else cid}) named in the "
                                             f"reference (similarity {score:.0f})", "name_in_reference")))
            asked.append((ranked, None, cid))
    for (reference, found), fits in zip(hits, fittings(asked, customers, names.rival_min_score), strict=True):
        by_reference[reference] = Payer(found, rivals=fits)
    return by_reference


def fittings(asked: Sequence[tuple[list[tuple[float, str]], str | None, str | None]],
             customers: CustomerIndex, min_score: float) -> list[list[tuple[float, str]]]:
    """For each (ranked, payer name, chosen): the customers the payer name fits, other than ``chosen``, best
    first: a high score in ``ranked``, or a name one word apart; the namesakes' names scored together.

    "KOCH PHARMA" fits Koch Pharma and Koch Pharma Nord alike, however long the extra word is.
    """
    found: list[dict[str, float]] = []
    # Per namesake to score: where its score goes, and its name and customer.
    slots: list[tuple[dict[str, float], str]] = []
    pairs: list[tuple[str, str]] = []
    # The payer names split at trading-name markers in one pass over all of them.
    split = iter(name_parts_of_many([payer_name for _, payer_name, _ in asked if payer_name]))
    parts_of = [next(split) if payer_name else () for _, payer_name, _ in asked]
    parts = list(dict.fromkeys(chain.from_iterable(parts_of)))
    namesakes = dict(zip(parts, customers.namesakes_of_many(parts), strict=True)) if parts else {}
    for (ranked, _, chosen), own_parts in zip(asked, parts_of, strict=True):
        fits = {cid: score for score, cid in ranked if cid != chosen and score >= min_score}
        found.append(fits)
        for part in own_parts:
            # A namesake two parts share is scored by the first (set operations keep the C loops).
            new = namesakes[part].difference(fits, (chosen,))
            if new:
                fits.update(dict.fromkeys(new, 0.0))
                slots += zip(repeat(fits), new)
                pairs += zip(repeat(part), new)
    if pairs:
        for (fits, cid), score in zip(slots, customers.score_name_pairs(pairs), strict=True):
            fits[cid] = score
    return [sorted(zip(fits.values(), fits.keys(), strict=True), reverse=True) for fits in found]


def decide_name(ranked: list[tuple[float, str]], min_score: float, margin: float) -> tuple[float, str] | str:
    """The best-scored customer, or why none is: nobody scores ``min_score`` (""), or two within
    ``margin`` of each other."""
    if not ranked or ranked[0][0] < min_score:
        return ""
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < margin:
        return f"fits customers {ranked[0][1]} and {ranked[1][1]} equally well, so neither is chosen"
    return ranked[0]
