"""The collectors' worklist over the state store: one customer at a time, the top N kept.

Customers, invoices and payments are read in customer order (three keyset-paginated store
queries), so only one customer's documents are in memory at a time; payment behaviour comes from
the payments applied to its invoices (``history_from_records``). The ranking keeps the best
``top`` entries in a heap: memory grows with ``top``, not with the number of invoices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import groupby
from typing import Generic, TypeVar

from mapping.models import Customer, Invoice, Payment, Record, Stream
from rules.dunning import (
    CustomerDocuments,
    Ranking,
    history_from_records,
    rank_customers,
    summarize_history,
)
from store import StateStore

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
    store: StateStore, connection: str, default_terms_days: int
) -> Iterator[CustomerDocuments]:
    # All three streams come in the same byte order of customer id, so one pass merges them.
    customers = _ByCustomer(_typed(store.iter_records(connection, Stream.CUSTOMERS), Customer), _remote_id)
    payments = _ByCustomer(
        _typed(store.iter_records(connection, Stream.PAYMENTS, order_by_customer=True), Payment),
        _payer,
    )
    invoices = _typed(store.iter_records(connection, Stream.INVOICES, order_by_customer=True), Invoice)
    for customer_id, own in groupby(invoices, key=lambda i: i.customer_remote_id):
        mine = list(own)
        found = customers.take(customer_id)
        entries = history_from_records(
            customer_id, mine, payments.take(customer_id), default_terms_days=default_terms_days
        )
        yield CustomerDocuments(
            customer_id, found[0] if found else None, mine, summarize_history(entries).get(customer_id)
        )


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
) -> Ranking:
    """Rank a connection's customers with overdue invoices, read from the store.

    Args:
        store: the state store.
        connection: the connection whose records are ranked.
        as_of: the ranking time.
        top: how many entries to keep (None: all).
        default_time_zone: the zone of customers without one (the dunning policy's).
        default_terms_days: days after the issue date for invoices without a due date.

    Returns:
        The first ``top`` entries and how many customers had overdue invoices.
    """
    groups = _customer_groups(store, connection, default_terms_days)
    return rank_customers(
        groups,
        as_of,
        default_time_zone=default_time_zone,
        default_terms_days=default_terms_days,
        limit=top,
    )
