"""The collectors' worklist over the state store: one customer at a time, the top N kept.

Customers, invoices, credit memos and payments are read in customer order (keyset-paginated store
queries), so only one customer's documents are in memory at a time; payment behaviour comes from
the payments applied to its invoices (``history_from_records``), what stops a call from the
promises and disputes in the ERP and on recorded calls, the net position from the unapplied
payments and open credits. The ranking keeps the best ``top`` entries in a heap: memory grows with
``top``, not with the number of invoices.

With ``predict_late``, a first pass reads the connection's stored payment-date model
(``engine.payment_model``: fitted on the first use, then on the ``prediction.refit`` schedule) and
predicts its open ones; each customer's payment behaviour
is then the predicted chance that its overdue amount is paid more than 60 days late, explained on
its line. That pass keeps a few numbers per invoice, which a store of millions of invoices holds
in some hundred megabytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import groupby
from typing import Any, Generic, TypeVar

from mapping.models import CreditMemo, Customer, Invoice, Payment, Record, Stream
from rules.dunning import (
    CustomerDocuments,
    HistoryEntry,
    Ranking,
    history_from_records,
    rank_customers,
    summarize_history,
)
from rules.dunning.fx import FxRates
from rules.dunning.worklist import LateRisk
from store import StateStore
from store.dunning import DunningCalls

__all__ = ["worklist_from_store"]

R = TypeVar("R", bound=Record)


def _typed(records: Iterable[Record], kind: type[R]) -> Iterator[R]:
    return (r for r in records if isinstance(r, kind))


class _ByCustomer(Generic[R]):
    """Hands out one customer's records at a time from a stream sorted by customer id."""

    def __init__(self, records: Iterable[R], key: Callable[[R], str]) -> None:
        self._groups = groupby(records, key=key)
        self._head = next(self._groups, None)

    def take(self, customer_id: str) -> list[R]:
        """The records of ``customer_id``; those of customers sorting before it are skipped."""
        while self._head is not None and self._head[0] < customer_id:
            self._head = next(self._groups, None)
        if self._head is None or self._head[0] != customer_id:
            return []
        found = list(self._head[1])
        self._head = next(self._groups, None)
        return found


def _customer_groups(
    store: StateStore,
    connection: str,
    default_terms_days: int,
    risks: Mapping[str, LateRisk] | None = None,
) -> Iterator[CustomerDocuments]:
    # All the streams come in the same byte order of customer id, so one pass merges them.
    customers = _ByCustomer(_typed(store.iter_records(connection, Stream.CUSTOMERS), Customer), _remote_id)
    payments = _ByCustomer(
        _typed(store.iter_records(connection, Stream.PAYMENTS, order_by_customer=True), Payment),
        _payer,
    )
    memos = _ByCustomer(
        _typed(store.iter_records(connection, Stream.CREDIT_MEMOS, order_by_customer=True), CreditMemo),
        _memo_customer,
    )
    # Call outcomes are a few per customer called, not per invoice: they are read whole.
    calls: dict[str, list[HistoryEntry]] = {}
    for line in DunningCalls(store).history(connection):
        entry = HistoryEntry.from_json(line)
        if entry is not None:
            calls.setdefault(entry.customer_id, []).append(entry)
    invoices = _typed(store.iter_records(connection, Stream.INVOICES, order_by_customer=True), Invoice)
    for customer_id, own in groupby(invoices, key=lambda i: i.customer_remote_id):
        mine = list(own)
        found = customers.take(customer_id)
        paid = payments.take(customer_id)
        entries = [
            *history_from_records(customer_id, mine, paid, default_terms_days=default_terms_days),
            *calls.get(customer_id, ()),
        ]
        yield CustomerDocuments(
            customer_id,
            found[0] if found else None,
            mine,
            summarize_history(entries).get(customer_id),
            credit_memos=memos.take(customer_id),
            payments=paid,
            late_risk=risks.get(customer_id) if risks else None,
        )


def _memo_customer(memo: CreditMemo) -> str:
    return memo.customer_remote_id


def _remote_id(customer: Customer) -> str:
    return customer.remote_id


def _payer(payment: Payment) -> str:
    return payment.customer_remote_id or ""


def worklist_from_store(
    store: StateStore,
    connection: str,
    as_of: datetime,
    *,
    top: int | None = 20,
    default_time_zone: str = "UTC",
    default_terms_days: int = 30,
    fx_rates: FxRates | None = None,
    predict_late: bool = False,
    prediction: Any = None,
) -> Ranking:
    """Rank a connection's customers with overdue invoices, read from the store.

    Args:
        store: the state store.
        connection: the connection whose records are ranked.
        as_of: the ranking time.
        top: how many entries to keep (None: all).
        default_time_zone: the zone of customers without one (the dunning policy's).
        default_terms_days: days after the issue date for invoices without a due date.
        fx_rates: rates into one reporting currency, to rank amounts in several currencies.
        predict_late: rank payment behaviour by the predicted chance of paying late.
        prediction: the deployment's ``prediction`` settings (None: the defaults).

    Returns:
        The first ``top`` entries and how many customers had overdue invoices.
    """
    risks = _late_risks(store, connection, as_of, default_terms_days, prediction) if predict_late else None
    groups = _customer_groups(store, connection, default_terms_days, risks)
    return rank_customers(
        groups,
        as_of,
        default_time_zone=default_time_zone,
        default_terms_days=default_terms_days,
        limit=top,
        fx_rates=fx_rates,
    )


def _late_risks(
    store: StateStore, connection: str, as_of: datetime, default_terms_days: int, prediction: Any
) -> dict[str, LateRisk]:
    """Per customer, the predicted chance that its overdue amount is paid more than 60 days late."""
    # Imported here: numpy and LightGBM load only when the prediction is asked for.
    import numpy as np

    from engine.payment_model import load_books, predictor_for

    paid, still_open = load_books(store, connection, default_terms_days)
    today = as_of.date()
    # The stored model (fitted on the first use, then on the daemon's schedule), not a fit per call.
    found = predictor_for(store, connection, paid, prediction).predict(still_open, today)
    overdue = still_open.due < today.toordinal()
    weight = still_open.amount * overdue
    risks: dict[str, LateRisk] = {}
    order = np.lexsort((-weight, still_open.customer_id.astype(str)))
    customers = still_open.customer_id[order].tolist()
    for customer_id, rows in groupby(zip(customers, order.tolist(), strict=True), key=lambda r: r[0]):
        mine = [i for _, i in rows if overdue[i]]
        if not mine:
            continue
        total = float(weight[mine].sum())
        chance = float((found.p_late[60][mine] * weight[mine]).sum() / total) if total else 0.0
        if chance != chance:  # no history at all: no chance is claimed
            continue
        risks[customer_id] = LateRisk(round(chance, 4), found.why_of(mine[0]))
    return risks
