"""Dunning planner benchmark: plan for many customers and invoices on one core.

    python -m benchmarks.dunning [--customers 100000 --invoices 1000000] [--history-per-customer 4]

Prints one JSON line per scenario: ``{name, n, seconds, per_second, api_calls, peak_rss_mb}``.
Each scenario runs in a fresh process so that its peak memory is its own. Inputs are generated
lazily, customer by customer, in ``remote_id`` order (as a store query ``ORDER BY`` gives them), so
the planner's memory is what it keeps, not the test data. Scenarios:

* ``dunning.inputs`` — generating the records alone (the floor under ``dunning.plan``);
* ``dunning.plan`` — the full plan, history summarised first, inputs streamed (includes generation);
* ``dunning.plan.long_history`` — the same with ten times the history: memory must stay flat;
* ``dunning.worklist`` — the top 20 of the same customers, given one at a time with their invoices
  and payment history, as ``arbridge worklist`` reads them from the store;
* ``dunning.worklist.unsorted`` — the top 20 through ``worklist()``, whose inputs come in any order
  (it keeps a small summary per customer, never the invoices).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from pathlib import Path
from typing import TypeVar

from mapping.models import Customer, DocumentStatus, Invoice
from rules.dunning import (
    CustomerDocuments,
    HistoryEntry,
    PlannedAction,
    load_policy,
    plan,
    rank_customers,
    summarize_history,
    worklist,
)

M = TypeVar("M", Customer, Invoice)
AS_OF = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = Path(__file__).resolve().parents[1] / "config" / "dunning-policy.example.yaml"
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/London", "America/Los_Angeles"]
CURRENCIES = ["EUR", "USD", "GBP"]
TOP = 20  # arbridge worklist's default --top


def _defaults(model: type[Customer] | type[Invoice]) -> dict[str, object]:
    # Defaults resolved once per model, not per record: resolving a default factory inspects its
    # signature, which would dominate the generation time.
    out = {
        name: field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
        if not field.is_required()
    }
    out["seen_at"] = AS_OF
    return out


def _record(model: type[M], values: dict[str, object]) -> M:
    """A record without validation or default resolution: what ``model_construct`` does, minus its
    per-field loop. The store hands the planner validated records; this only keeps test-data
    generation from dominating the measurement."""
    obj = model.__new__(model)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def _customers(n: int) -> Iterator[Customer]:
    base = _defaults(Customer)
    rnd = random.Random(1)
    for i in range(n):
        yield _record(
            Customer,
            {
                **base,
                **dict(
                    remote_id=f"C{i:07d}",
                    name=f"Customer {i}",
                    email=f"ap{i}@example.com",
                    phone="+49 30 123456",
                    time_zone=ZONES[i % len(ZONES)],
                    language="de" if i % 3 == 0 else "en",
                    country="DE",
                    tags=["key-account"] if i % 50 == 0 else [],
                    risk_score=Decimal(rnd.randint(0, 100)),
                    opt_out_channels=["email"] if i % 40 == 0 else [],
                    remote_modified_at=AS_OF,
                ),
            },
        )


def _invoices(n_customers: int, n_invoices: int) -> Iterator[Invoice]:
    rnd = random.Random(2)
    per = n_invoices // n_customers
    extra = n_invoices - per * n_customers
    today = AS_OF.date()
    base = _defaults(Invoice)
    for i in range(n_customers):
        cid = f"C{i:07d}"
        for j in range(per + (1 if i < extra else 0)):
            due = today - timedelta(days=rnd.randint(-20, 120))
            amount = Decimal(rnd.randint(1000, 500000)) / 100
            yield _record(
                Invoice,
                {
                    **base,
                    **dict(
                        remote_id=f"I{i:07d}-{j}",
                        customer_remote_id=cid,
                        number=f"INV-{i:07d}-{j}",
                        currency=CURRENCIES[(i + j) % 7 % 3],
                        issue_date=due - timedelta(days=30),
                        due_date=due,
                        total=amount,
                        open_amount=amount,
                        status=DocumentStatus.OPEN,
                        disputed=rnd.random() < 0.02,
                        promise_to_pay_date=today + timedelta(days=3) if rnd.random() < 0.01 else None,
                        dunning_block=False,
                        dunning_level=None,
                        deleted=False,
                        remote_modified_at=AS_OF,
                    ),
                },
            )


def _history(n_customers: int, per_customer: int) -> Iterator[HistoryEntry]:
    """Past actions spread over three years (older ones fall out of the caps' horizon) and payments."""
    rnd = random.Random(3)
    for i in range(n_customers):
        cid = f"C{i:07d}"
        for k in range(per_customer):
            at = AS_OF - timedelta(days=rnd.randint(1, 3 * 365), minutes=k)
            if k % 2:
                due = at.date() - timedelta(days=30)
                yield HistoryEntry(
                    kind="payment",
                    customer_id=cid,
                    due_date=due,
                    paid_date=due + timedelta(days=rnd.randint(0, 40)),
                )
            else:
                yield HistoryEntry(
                    kind="action",
                    customer_id=cid,
                    at=at,
                    currency=CURRENCIES[k % 3],
                    level=1 + k % 3,
                    channel="email",
                    # The same two invoices however long the history: events repeat, invoices do not.
                    invoice_ids=(f"I{i:07d}-{(k // 2) % 2}",),
                )


def _groups(n_customers: int, n_invoices: int, history_per_customer: int) -> Iterator[CustomerDocuments]:
    """Each customer with its invoices and history summary, one at a time (the store's path)."""
    invoices = groupby(_invoices(n_customers, n_invoices), key=lambda i: i.customer_remote_id)
    history = groupby(_history(n_customers, history_per_customer), key=lambda h: h.customer_id)
    for customer, (cid, own), (_, events) in zip(_customers(n_customers), invoices, history, strict=True):
        assert customer.remote_id == cid
        yield CustomerDocuments(cid, customer, list(own), summarize_history(events, AS_OF).get(cid))


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_scenario(name: str, customers: int, invoices: int, history_per_customer: int) -> dict[str, object]:
    """Run one scenario in this process and return its result line."""
    policy = load_policy(POLICY)
    start = time.perf_counter()
    n = 0
    if name == "dunning.inputs":
        for _ in _customers(customers):
            n += 1
        for _ in _invoices(customers, invoices):
            pass
    elif name.startswith("dunning.plan"):
        per = history_per_customer * (10 if name.endswith("long_history") else 1)
        planned = 0
        for item in plan(
            policy,
            _customers(customers),
            _invoices(customers, invoices),
            [],
            _history(customers, per),
            AS_OF,
            presorted=True,
        ):
            planned += isinstance(item, PlannedAction)
        n = customers
    elif name == "dunning.worklist":
        ranking = rank_customers(_groups(customers, invoices, history_per_customer), AS_OF, limit=TOP)
        n = ranking.customers
    elif name == "dunning.worklist.unsorted":
        top = worklist(
            _customers(customers),
            _invoices(customers, invoices),
            _history(customers, history_per_customer),
            AS_OF,
            limit=TOP,
        )
        assert len(top) <= TOP
        n = customers
    seconds = time.perf_counter() - start
    return {
        "name": name,
        "n": n,
        "invoices": invoices,
        "seconds": round(seconds, 2),
        "per_second": round(n / seconds, 1) if seconds else None,
        "api_calls": 0,
        "peak_rss_mb": _peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    """Run every scenario in its own process and print one JSON line each."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--history-per-customer", type=int, default=4)
    parser.add_argument("--scenario", help="run only this scenario, in this process")
    args = parser.parse_args(argv)
    if args.scenario:
        line = run_scenario(args.scenario, args.customers, args.invoices, args.history_per_customer)
        print(json.dumps(line), flush=True)
        return
    scenarios = (
        "dunning.inputs",
        "dunning.plan",
        "dunning.plan.long_history",
        "dunning.worklist",
        "dunning.worklist.unsorted",
    )
    for name in scenarios:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.dunning",
            "--scenario",
            name,
            "--customers",
            str(args.customers),
            "--invoices",
            str(args.invoices),
            "--history-per-customer",
            str(args.history_per_customer),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        print(out.strip(), flush=True)


if __name__ == "__main__":
    main()
