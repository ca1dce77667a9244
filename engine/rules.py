"""The rules in the daemon: dunning and cash application run on the state store after each pull.

Both deciders read only the store (never the ERP), turn their decisions into outbox operations
and keep their own state in the store (planned communications, match verdicts), so a crash at any
point neither repeats nor loses a decision.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from engine.dunning_decider import DunningDecider, load_dunning_policy, plan_from_store
from engine.runner import register_decider_factory, register_deliverer_factory
from engine.sync import DecisionContext, DecisionGroup
from mapping.models import (
    CreditMemo,
    Customer,
    Invoice,
    Operation,
    OpType,
    Payment,
    Record,
    Stream,
    record_from_json_text,
)
from mapping.money import check_amount
from store import StateStore, idempotency_key
from store.cashapp import CashAppReads
from store.marks import RuleMarks
from store.state import now, ts

log = logging.getLogger("arbridge.rules")

__all__ = [
    "CashAppDecider",
    "DunningDecider",
    "deciders_from_config",
    "deliverers_from_config",
    "each_isolated",
    "load_dunning_policy",
    "plan_from_store",
]

T = TypeVar("T")
R = TypeVar("R")


class CashAppDecider:
    """Matches unapplied payments and bank statement lines to open documents.

    Sure matches become payment applications; the others wait in the review queue
    (``arbridge review``). Payments a clerk decided are left alone, and what clerks taught the
    matcher (payers' accounts and names) is used for every customer.

    A run matches the payments and statement lines new or changed since the last run, and those
    still waiting (in review, unmatched, or with an application not yet in the ERP), against the
    open documents as they stand, kept from run to run. The whole book is read on the first run,
    when the matching rules changed, and when asked (``full=True`` or the cycle's ``full`` option).
    """

    name = "cashapp"
    rule = "cashapp"
    # Records stored this long before a run started are read again by the next one: a page whose
    # transaction committed while the run was reading is never missed.
    settle = timedelta(minutes=5)

    def __init__(
        self,
        rules_path: str | None,
        auto_threshold: float | None,
        review_threshold: float | None,
        statement_inbox: str | None = None,
        *,
        full: bool = False,
    ) -> None:
        from rules.cashapp.settings import load_rules

        rules = load_rules(rules_path)
        thresholds: dict[str, float] = {}
        if auto_threshold is not None:
            thresholds["auto"] = auto_threshold
        if review_threshold is not None:
            thresholds["review"] = review_threshold
        if thresholds:
            rules = rules.model_copy(update={"thresholds": rules.thresholds.model_copy(update=thresholds)})
        self.rules = rules
        self.statement_inbox = statement_inbox
        self.full = full
        self.settings_digest = hashlib.sha256(rules.model_dump_json().encode()).hexdigest()
        # Whether the last run read the whole book (first run, new settings, or asked to), and
        # how many payments and lines it matched otherwise.
        self.read_whole_book = False
        self.rematched: int | None = None
        # Processor seconds of the last run's steps, when it made one pass (see ``_one_pass``).
        self.spent: dict[str, float] = {}

    def decide(self, ctx: DecisionContext) -> Iterator[DecisionGroup]:
        from pathlib import Path

        from engine.bank_statements import StatementInbox
        from engine.cashapp_book import BOOKS, KeptBook, Reads, WatchedIndex
        from engine.cashapp_review import payment_input_from_json
        from rules.cashapp import (
            DocumentIndex,
            match_payments,
            payment_from_model,
        )
        from store.cashapp import CashAppReads, CashAppState

        store, conn = ctx.store, ctx.connection
        state, reads, marks = CashAppState(store), CashAppReads(store), RuleMarks(store)
        # Taken before anything is read: what changes from now on is the next run's to read.
        started = now()
        clock = time.process_time()
        mark = marks.get(conn, self.rule)
        # What the last run in this process kept, if it is what the store's documents say.
        book = BOOKS.take(store.url, conn, mark)
        full = (
            self.full
            or getattr(ctx, "full", False)
            or mark is None
            or mark.get("settings") != self.settings_digest
        )
        self.read_whole_book = full
        self.rematched = None
        self.spent = {}
        day = ctx.as_of.date().isoformat()
        as_of = ctx.as_of.date()
        aliases = reads.aliases_digest(conn)
        noted = {"settings": self.settings_digest, "day": day, "aliases": aliases}
        if self.statement_inbox:
            StatementInbox(store, conn, Path(self.statement_inbox)).import_new(ctx.run_id)
        since = ""
        changed = _Changed()
        waiting: dict[str, str | None] = {}
        wanted: set[str] = set()
        new_lines: list[dict[str, Any]] = []
        reach = _Reach()
        kept_reads: dict[str, Reads] = {}
        unsent: set[str] = set()
        legacy = everyone = False
        touched: set[str | None] = set()
        if full:
            # Forgotten first: a run killed while the open documents are rebuilt reads the whole
            # book again next time, never a half-filled set of them.
            marks.clear(conn, self.rule)
            book = None
        else:
            assert mark is not None
            since = ts(datetime.fromisoformat(mark["read_from"]) - self.settle)
            changed = _open_documents_since(reads, conn, since)
            reach.customers.update(changed.document_customers)
            if book is not None:
                reach.changed_in_erp(book.apply(changed.opened, changed.closed))
            waiting, set_aside, unsent = reads.waiting(conn)
            new_lines = reads.bank_lines(conn, since, ())
            # Everything waits again on a new day (documents issued today open), after a change
            # of customers or of learned aliases: who paid may read differently.
            everyone = bool(mark.get("day") != day or mark.get("aliases") != aliases or changed.customers)
            if book is not None and not everyone:
                # A waiting payment is decided again when something its last decision read changed:
                # a document, or what another payment takes (``_Reach``).
                kept_reads = book.reads
                if book.customers is not None and book.aliases == aliases:
                    self.spent["changes"] = time.process_time() - clock
                    yield from self._one_pass(ctx, book, changed, reach, waiting, set_aside, unsent, since)
                    yield from self._finish(marks, conn, started, noted, book)
                    return
            # Without what its last decision read (the first runs in a process): a document of its
            # customer, or (payer unknown) any document, or what a payment or line of unknown payer
            # may have taken (any customer's documents).
            legacy = everyone or None in changed.payers or bool(new_lines)
            touched = changed.document_customers | changed.payers
            reach.expected.update(p for p in changed.payers if p is not None)
            wanted = changed.payments | set_aside
        self.read_whole_book = full

        whole: set[str | None] = set()

        def due(pid: str, customer: str | None) -> bool:
            seen = kept_reads.get(pid)
            if everyone:
                return True
            if seen is None:
                return (
                    legacy
                    or customer in touched
                    or customer in whole
                    or (customer is None and (changed.documents or reach.grown))
                )
            return reach.meets(seen, whole)

        def reached() -> set[str]:
            nonlocal whole
            whole = reach.all_customers()
            return {pid for pid, customer in waiting.items() if pid not in wanted and due(pid, customer)}

        wanted |= reached()
        # What each payment's decision read, noted as it is decided (see ``WatchedIndex``).
        seen_now: dict[str, Reads] = {}
        made: list[Any] = []
        # A payment that makes the matcher fail is set aside once, whichever attempt it failed in.
        failures: dict[str, tuple[Any, Exception]] = {}

        while True:
            if full:
                candidates: Iterable[Any] = store.iter_records(conn, Stream.PAYMENTS)
                lines = state.bank_lines(conn)
                settled = state.decided_by_clerk(conn)
                applied = settled | {r["payment_id"] for r in store.match_results(conn, status="auto")}
            else:
                waiting_lines = {pid for pid in wanted if pid not in changed.payments}
                candidates = (
                    record_from_json_text(Stream.PAYMENTS.value, data)
                    for data in reads.records(conn, Stream.PAYMENTS.value, sorted(wanted))
                )
                lines = reads.bank_lines(conn, since, waiting_lines)
                self.rematched = len(wanted) + len(new_lines)
                verdicts = reads.statuses(conn, [*wanted, *(str(x["payment_id"]) for x in lines)])
                settled = {pid for pid, status in verdicts.items() if status in ("accepted", "rejected")}
                applied = settled | {pid for pid, status in verdicts.items() if status == "auto"}
                # What an application still waiting for the ERP took is open again to the others.
                before = reads.verdicts(conn, [pid for pid in wanted if verdicts.get(pid) == "auto"])
                for _, customer, _, _, result in before.values():
                    reach.took(
                        customer, [str(a["invoice_id"]) for a in result.get("applications") or []], book
                    )
                if extra := reached():
                    wanted |= extra
                    continue
            payments: dict[str, Payment | Any] = {
                p.remote_id: p
                for p in candidates
                if isinstance(p, Payment) and p.unapplied_amount > Decimal(0) and p.remote_id not in settled
            }
            inputs = [payment_from_model(p) for p in payments.values()]
            # A bank line is decided once: after its application is queued it is the ERP's payment.
            for data in lines:
                if data["payment_id"] not in applied and data["payment_id"] not in payments:
                    line = payment_input_from_json(data)
                    payments[line.payment_id] = line
                    inputs.append(line)
            if not inputs:
                break

            invoices: list[Invoice] = []
            memos: list[CreditMemo] = []
            known: Iterable[Any] = ()
            customers: Any = None
            if not full:
                # A payment that names its customer is matched against that customer's documents
                # only (rules.cashapp.matcher): when all do, only theirs are read. Otherwise all
                # are, once in a process: later runs find them kept (``engine.cashapp_book``).
                payers = {item.customer_id for item in inputs}
                only = None if None in payers or "" in payers else {str(p) for p in payers}
                if book is None and only is None:
                    invoices, memos = _kept_open_documents(reads, conn, None)
                    book = KeptBook.of(mark or {}, _documents_of(invoices, memos))
                    invoices, memos = [], []
                elif book is None:
                    invoices, memos = _kept_open_documents(reads, conn, only)
                if book is not None:
                    if book.customers is None or book.aliases != aliases or changed.customers:
                        book.customers = _customer_index(
                            store.iter_records(conn, Stream.CUSTOMERS), state, conn
                        )
                        book.aliases = aliases
                    customers = book.customers
                else:
                    assert only is not None
                    known = (
                        record_from_json_text(Stream.CUSTOMERS.value, data)
                        for data in reads.records(conn, Stream.CUSTOMERS.value, sorted(only))
                    )
            else:
                known = store.iter_records(conn, Stream.CUSTOMERS)

            rebuilt: list[bool] = []

            def open_documents(
                book: Any = book, invoices: Any = invoices, memos: Any = memos, rebuilt: Any = rebuilt
            ) -> Any:
                if full and not rebuilt:
                    # The whole book's open documents, kept for the next runs as they are read.
                    rebuilt.append(True)
                    return DocumentIndex.from_models(*_open_documents_of_book(store, reads, conn))
                if full:
                    return DocumentIndex.from_models(*_kept_open_documents(reads, conn, None))
                if made and isinstance(made[-1], WatchedIndex):
                    return made[-1].fresh()
                index = book.index() if book is not None else WatchedIndex.from_models(invoices, memos)
                made.append(index)
                return index

            if customers is None:
                customers = _customer_index(known, state, conn)

            def failed(payment: Any, exc: Exception) -> None:
                failures.setdefault(payment.payment_id, (payment, exc))

            # An amount no ERP could hold (stored by an older release) never reaches the matcher.
            usable = []
            failures.clear()
            for item in inputs:
                try:
                    check_amount(item.amount, item.currency)
                except ValueError as exc:
                    failed(item, exc)
                    continue
                usable.append(item)

            def match(items: list[Any], documents: Any, customers: Any = customers) -> Iterator[Any]:
                if not isinstance(documents, WatchedIndex):
                    return match_payments(items, documents, customers, self.rules, as_of)
                # One at a time in the order ``match_payments`` takes them (by date, stable), so
                # what each decision reads is known.
                out: list[Any] = [None] * len(items)
                documents.reading()
                for i in sorted(range(len(items)), key=lambda i: items[i].date):
                    [out[i]] = match_payments([items[i]], documents, customers, self.rules, as_of)
                    seen_now[items[i].payment_id] = documents.reading()
                return iter(out)

            results = list(each_isolated(match, usable, open_documents, failed))
            if full or not made:
                break
            # What the new verdicts take may change what waiting payments would be decided.
            for result, _ in results:
                if result.status == "auto":
                    reach.takes([a.doc_id for a in result.applications], made[-1])
            # An application still waiting for the ERP takes its documents in a complete run: it
            # is decided again when a payment decided now read them.
            read_now = [seen_now[pid] for pid in wanted if pid in seen_now]
            read: Reads = (
                frozenset().union(*(c for c, _, _ in read_now)),
                frozenset().union(*(k for _, k, _ in read_now)),
                frozenset().union(*(p for _, _, p in read_now)),
            )
            extra = reached()
            for pid, took in _taken(reads, conn, unsent - wanted - extra, made[-1]).items():
                if took.meets(read):
                    extra.add(pid)
            if extra:
                wanted |= extra
                continue
            break

        for payment, error in failures.values():
            self._set_aside(store, conn, ctx.run_id, payments, payment, error)
        if book is not None:
            book.reads = {
                pid: seen
                for pid, seen in {**book.reads, **seen_now}.items()
                if pid in waiting or pid in seen_now
            }
            _keep_decided(book, results if inputs and made else [], payments if inputs else {}, waiting)
        if not inputs:
            if full:
                for documents in _open_documents_of_book(store, reads, conn):
                    for _ in documents:  # kept for the next runs, one chunk at a time
                        pass
            yield from self._finish(marks, conn, started, noted, book)
            return

        def quarantine(payment: Any, exc: Exception) -> None:
            self._set_aside(store, conn, ctx.run_id, payments, payment, exc)

        # In batches: one outbox lookup per thousand decisions.
        for i in range(0, len(results), 1000):
            yield from self._settle(store, conn, results[i : i + 1000], payments, quarantine)
        yield from self._finish(marks, conn, started, noted, book)

    def _one_pass(
        self,
        ctx: DecisionContext,
        book: Any,
        changed: _Changed,
        reach: _Reach,
        waiting: dict[str, str | None],
        set_aside: set[str],
        unsent: set[str],
        since: str,
    ) -> Iterator[DecisionGroup]:
        """Decide what changed and what it reaches in one pass in date order, as a full run would.

        New, changed and set-aside cash is decided at its place in the order; a waiting payment
        whose last decision is kept (``engine.cashapp_book.Decided``) is decided again only when a
        change before it reached what that decision read: a document the ERP changed, or one cash
        decided earlier in the pass took. Otherwise it takes again what it took, so the payments
        after it meet the documents as a full run leaves them. Waiting payments without a kept
        decision and waiting statement lines are decided again.
        """
        from engine.cashapp_book import Reads
        from engine.cashapp_review import payment_input_from_json
        from rules.cashapp import match_payments, payment_from_model

        store, conn = ctx.store, ctx.connection
        reads = CashAppReads(store)
        started = time.process_time()
        as_of = ctx.as_of.date()
        wanted = changed.payments | set_aside
        kept = {
            pid: book.decided[pid]
            for pid in waiting.keys() - wanted
            if pid in book.decided and pid in book.reads
        }
        forced = waiting.keys() - wanted - kept.keys()
        records: dict[str, Payment] = {p.remote_id: p for p in changed.paid}
        to_read = (set_aside | forced) - records.keys()
        for data in reads.records(conn, Stream.PAYMENTS.value, sorted(to_read)):
            p = record_from_json_text(Stream.PAYMENTS.value, data)
            if isinstance(p, Payment) and p.unapplied_amount > Decimal(0):
                records[p.remote_id] = p
        lines = reads.bank_lines(conn, since, to_read - records.keys())
        # A kept payment whose application waits for the ERP may have been accepted or rejected
        # by a clerk since; the others wait in review or unmatched.
        statuses = reads.statuses(
            conn,
            [*wanted, *forced, *(kept.keys() & unsent), *(str(x["payment_id"]) for x in lines)],
        )
        settled = {pid for pid, status in statuses.items() if status in ("accepted", "rejected")}
        applied = settled | {pid for pid, status in statuses.items() if status == "auto"}
        # What a payment decided again took before is open again to the payments after it.
        before = reads.verdicts(conn, [pid for pid in wanted | forced if statuses.get(pid) == "auto"])
        for _, customer, _, _, result in before.values():
            reach.took(customer, [str(a["invoice_id"]) for a in result.get("applications") or []], book)
        for pid in kept.keys() & settled:
            gone = kept.pop(pid)
            reach.took(gone.customer, [doc for doc, _ in gone.takes], book)

        payments: dict[str, Any] = {}
        order: list[tuple[tuple[Any, ...], str, Any]] = []
        for pid, p in records.items():
            if pid not in settled:
                payments[pid] = p
                order.append(((p.date, 0, pid), pid, payment_from_model(p)))
        for rank, stored in enumerate(lines):
            pid = str(stored["payment_id"])
            if pid not in applied and pid not in payments:
                line = payment_input_from_json(stored)
                payments[pid] = line
                # A full run meets the statement lines after the ERP's payments of their day.
                order.append(((line.date, 1, rank), pid, line))
        for pid, decided in kept.items():
            order.append(((decided.item.date, 0, pid), pid, None))
        order.sort(key=lambda entry: entry[0])

        clock = time.process_time()
        self.spent["waiting"] = clock - started
        index = book.index()
        customers = book.customers
        index.reading()
        seen_now: dict[str, Reads] = {}
        results: list[tuple[Any, Any]] = []
        failures: dict[str, tuple[Any, Exception]] = {}
        for _, pid, item in order:
            if item is None:
                last = kept[pid]
                if not reach.reaches(book.reads[pid]):
                    for doc_id, amount in last.takes:
                        index.consume(doc_id, amount)
                    continue
                if last.takes:
                    reach.took(last.customer, [doc for doc, _ in last.takes], index)
                item = last.item
                payments[pid] = last.record
            try:
                # An amount no ERP could hold (stored by an older release) never reaches the matcher.
                check_amount(item.amount, item.currency)
                [result] = match_payments([item], index, customers, self.rules, as_of)
            except Exception as exc:  # one bad payment must not stop the others
                index.reading()
                failures[pid] = (item, exc)
                continue
            seen_now[pid] = index.reading()
            if result.status == "auto":
                reach.takes([a.doc_id for a in result.applications], index)
            results.append((result, item))
        self.rematched = len(results) + len(failures)
        self.spent["pass"] = time.process_time() - clock

        for item, error in failures.values():
            self._set_aside(store, conn, ctx.run_id, payments, item, error)
        alive = waiting.keys() - failures.keys()
        book.reads = {
            pid: seen for pid, seen in {**book.reads, **seen_now}.items() if pid in alive or pid in seen_now
        }
        _keep_decided(book, results, payments, alive)

        def quarantine(payment: Any, exc: Exception) -> None:
            self._set_aside(store, conn, ctx.run_id, payments, payment, exc)

        # In batches: one outbox lookup per thousand decisions.
        clock = time.process_time()
        for i in range(0, len(results), 1000):
            yield from self._settle(store, conn, results[i : i + 1000], payments, quarantine)
        self.spent["settle"] = time.process_time() - clock

    @staticmethod
    def _set_aside(
        store: StateStore, conn: str, run_id: str, payments: dict[str, Any], payment: Any, exc: Exception
    ) -> None:
        reason = f"the matcher cannot decide this payment: {type(exc).__name__}: {exc}"
        log.error(
            "payment %s set aside: %s",
            payment.payment_id,
            reason,
            extra={"connection": conn, "run_id": run_id, "event": "quarantined"},
        )
        source = "payments" if isinstance(payments.get(payment.payment_id), Payment) else "bank_statements"
        store.quarantine_item(conn, source, payment.payment_id, reason, run_id=run_id)

    def _finish(
        self, marks: RuleMarks, conn: str, started: datetime, noted: dict[str, Any], book: Any
    ) -> Iterator[DecisionGroup]:
        """The run's mark, stored with or after every verdict above: only then may the next run
        start from there. What this run kept in the process is in step with that mark."""
        from engine.cashapp_book import BOOKS

        value = {**noted, "read_from": ts(started)}
        yield DecisionGroup((), lambda tx: marks.put(conn, self.rule, value, conn=tx))
        if book is not None:
            book.mark = value
            BOOKS.keep(marks.store.url, conn, book)

    @staticmethod
    def _settle(
        store: StateStore,
        conn: str,
        batch: list[tuple[Any, Any]],
        payments: dict[str, Any],
        failed: Callable[[Any, Exception], None],
    ) -> Iterator[DecisionGroup]:
        """A batch of verdicts to store; the sure ones come with their payment application for the ERP."""
        from rules.cashapp import to_payment_application

        ops: dict[str, Operation] = {}
        kept: list[tuple[Any, Any]] = []
        for result, payment in batch:
            if result.status == "auto" and result.applications:
                try:
                    ops[result.payment_id] = to_payment_application(result, payments[result.payment_id])
                except ValueError as exc:  # an application the ERP must not get (see mapping.models)
                    failed(payment, exc)
                    continue
            kept.append((result, payment))
        batch = kept
        keys = {pid: idempotency_key(conn, op) for pid, op in ops.items()}
        statuses = store.outbox_statuses(keys.values())
        before = CashAppReads(store).verdicts(conn, [result.payment_id for result, _ in batch])
        applications: list[Operation] = []
        verdicts: list[dict[str, Any]] = []
        for result, payment in batch:
            if statuses.get(keys.get(result.payment_id, "")) == "dropped":
                # The ERP refused this very application and an admin gave it up: deciding it
                # again would only meet the dropped row, so a clerk decides instead.
                ops.pop(result.payment_id)
                result = replace(
                    result,
                    status="review",
                    explanation="The ERP refused this application and an admin dropped it "
                    f"(arbridge outbox drop); change or reject it. {result.explanation}",
                )
            stored = result.to_json()
            stored["payment"] = {
                "date": payment.date.isoformat(),
                "amount": str(payment.amount),
                "currency": payment.currency,
                "payer_name": payment.payer_name,
                "payer_account": payment.payer_account,
                "reference": payment.reference,
                "source": "erp" if isinstance(payments[payment.payment_id], Payment) else "bank_statement",
            }
            op = ops.get(result.payment_id)
            if before.get(result.payment_id) == _verdict_row(result, stored) and (
                op is None or keys[result.payment_id] in statuses
            ):
                # Decided this very way before, its application (if any) queued: nothing to store.
                continue
            if op is not None:
                applications.append(op)
            verdicts.append(
                {
                    "payment_id": result.payment_id,
                    "status": result.status,
                    "customer_id": result.customer_id,
                    "confidence": result.confidence,
                    "rule": result.rule,
                    "result": stored,
                }
            )
        if verdicts:
            # The verdicts and their payment applications are stored together: a bank line whose
            # verdict says "auto" is not matched again, so its application must not be missing.
            # One group for the batch: one look-up and one write for its verdicts.
            yield DecisionGroup(applications, lambda tx: store.save_match_results(conn, verdicts, conn=tx))

    def handles(self, op: Operation) -> bool:
        return op.op_type == OpType.PAYMENT_APPLICATION

    def redecide(self, op: Operation, fresh: Record | None) -> Operation | None:
        """After a conflict on the payment: apply only if it is still unapplied as we saw it."""
        if not isinstance(fresh, Payment) or fresh.deleted or fresh.unapplied_amount <= 0:
            return None
        return op.model_copy(update={"base_version": fresh.version})


def _keep_decided(
    book: Any, results: list[tuple[Any, Any]], payments: dict[str, Any], waiting: Iterable[str]
) -> None:
    """Keep the decisions of ERP payments just made, and of those still waiting, in ``book``."""
    from engine.cashapp_book import Decided

    now_ = {
        item.payment_id: Decided.of(result, item, payments[item.payment_id])
        for result, item in results
        if isinstance(payments.get(item.payment_id), Payment)
    }
    alive = set(waiting)
    book.decided = {
        pid: d
        for pid, d in {**book.decided, **now_}.items()
        if (pid in alive or pid in now_) and pid in book.reads
    }


def _verdict_row(result: Any, stored: dict[str, Any]) -> tuple[Any, ...]:
    """A verdict as ``CashAppReads.verdicts`` gives the stored one back."""
    return (
        result.status,
        result.customer_id,
        result.confidence,
        result.rule,
        json.loads(json.dumps(stored, default=str)),
    )


def _open_documents_of_book(
    store: StateStore, reads: CashAppReads, conn: str
) -> tuple[Iterator[Invoice], Iterator[CreditMemo]]:
    """The open invoices and credit memos of the whole book, streamed; each is kept for the next
    runs as it goes by (in chunks: the book is never held whole)."""
    from rules.cashapp.model import document_from_credit_memo, document_from_invoice

    reads.keep_open_documents(conn, (), (), replace_all=True)
    pending: list[tuple[str, str, str | None, str]] = []

    def flush() -> None:
        reads.keep_open_documents(conn, pending, ())
        pending.clear()

    def invoices() -> Iterator[Invoice]:
        for i in store.iter_records(conn, Stream.INVOICES):
            if isinstance(i, Invoice) and document_from_invoice(i):
                pending.append(("invoices", i.remote_id, i.customer_remote_id, i.model_dump_json()))
                if len(pending) >= 5000:
                    flush()
                yield i
        flush()

    def memos() -> Iterator[CreditMemo]:
        for m in store.iter_records(conn, Stream.CREDIT_MEMOS):
            if isinstance(m, CreditMemo) and document_from_credit_memo(m):
                pending.append(("credit_memos", m.remote_id, m.customer_remote_id, m.model_dump_json()))
                if len(pending) >= 5000:
                    flush()
                yield m
        flush()

    return invoices(), memos()


@dataclass
class _Changed:
    """What changed since the matcher's last run, as far as waiting payments care."""

    payments: set[str] = field(default_factory=set)
    # The changed payments with cash still to apply.
    paid: list[Payment] = field(default_factory=list)
    # The customers of the changed payments (None: a payment without one).
    payers: set[str | None] = field(default_factory=set)
    documents: bool = False
    document_customers: set[str | None] = field(default_factory=set)
    customers: bool = False
    # The documents now open ``(stream, document)`` and those no longer open ``(stream, id)``.
    opened: list[tuple[str, Any]] = field(default_factory=list)
    closed: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Reach:
    """What changed for the waiting payments' decisions: the customers whose documents changed or
    were taken by a payment's verdict before, the documents payments decided now take, and the
    number keys of all of these.

    A waiting payment whose last decision read none of these would be decided the same way again:
    payments are decided against a running balance, and a decision reads only the documents of the
    customers and numbers it looks up (``engine.cashapp_book.WatchedIndex``).
    """

    customers: set[str | None] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    # Customers whose documents new cash is expected to take (its payer known before matching).
    expected: set[str] = field(default_factory=set)
    # The documents taken in this run or changed in the ERP, by customer: ``(currency, number key,
    # open amounts it had)``.
    taken: dict[str, list[tuple[str, str, set[Decimal]]]] = field(default_factory=dict)
    # Customers whose documents changed in ways ``taken`` does not list (a verdict released, all
    # its customer's documents count as changed): any question about an open document of theirs
    # may be answered differently.
    unlisted: set[str | None] = field(default_factory=set)
    # Whether a payment decided again takes (or took) documents.
    grown: bool = False

    def all_customers(self) -> set[str | None]:
        return self.customers | self.expected | set(self.taken)

    def meets(self, seen: Any, everyone: set[str | None] | None = None) -> bool:
        """Whether a decision that read ``seen`` may read differently now."""
        customers, keys, probes = seen
        if not customers.isdisjoint(self.all_customers() if everyone is None else everyone):
            return True
        if not keys.isdisjoint(self.keys):
            return True
        return self._answers_differ(probes)

    def reaches(self, seen: Any) -> bool:
        """``meets`` against what changed so far, for a pass that adds to it as it goes."""
        customers, keys, probes = seen
        if not customers.isdisjoint(self.customers):
            return True
        if any(c in self.taken or c in self.expected for c in customers):
            return True
        if not keys.isdisjoint(self.keys):
            return True
        return self._answers_differ(probes)

    def _answers_differ(self, probes: Any) -> bool:
        """Whether asking a customer for an open document of an amount or number may answer differently."""
        for customer, currency, amount, numbers in probes:
            if customer in self.unlisted:
                return True
            for held, key, amounts in self.taken.get(customer, ()):
                if held == currency and (key in numbers or amount in amounts):
                    return True
        return False

    def took(self, customer: str | None, doc_ids: Iterable[str], where: Any) -> None:
        """A verdict of ``customer`` took these documents (found in ``where`` if given): all of the
        customer's documents count as changed."""
        self.grown = True
        self.customers.add(customer)
        self.unlisted.add(customer)
        for doc_id in doc_ids:
            doc = None if where is None else where.get(doc_id)
            if doc is not None:
                self.customers.add(doc.customer_id)
                self.keys.add(doc.key)

    def changed_in_erp(self, states: Iterable[tuple[str, str, str, set[Decimal]]]) -> None:
        """Documents the ERP changed, as they were kept and as they are now
        (``engine.cashapp_book.State``): a read of their customers' documents or of their numbers
        may read differently; whether a customer has an open document of an amount or number is
        answered differently only if one of these fits the question."""
        for customer, currency, key, amounts in states:
            self.customers.add(customer)
            self.keys.add(key)
            self.taken.setdefault(customer, []).append((currency, key, amounts))

    def takes(self, doc_ids: Iterable[str], index: Any) -> None:
        """Payments decided now take these documents of ``index`` (a ``WatchedIndex``)."""
        self.grown = True
        for doc_id in doc_ids:
            doc = index.get(doc_id)
            if doc is not None:
                amounts = index.amounts.get(doc_id, {doc.open_amount, doc.remaining})
                self.taken.setdefault(doc.customer_id, []).append((doc.currency, doc.key, amounts))
                self.keys.add(doc.key)


def _taken(reads: CashAppReads, conn: str, ids: set[str], where: Any) -> dict[str, _Reach]:
    """What the sure verdicts of these payments took: their customers and documents."""
    out: dict[str, _Reach] = {}
    for pid, (status, customer, _, _, result) in reads.verdicts(conn, ids).items():
        if status == "auto":
            out[pid] = _Reach()
            out[pid].took(customer, [str(a["invoice_id"]) for a in result.get("applications") or []], where)
    return out


def _open_documents_since(reads: CashAppReads, conn: str, since: str) -> _Changed:
    """What changed at or after ``since``; the kept open documents are brought up to date with it."""
    from rules.cashapp.model import document_from_credit_memo, document_from_invoice

    out = _Changed()
    opened: list[tuple[str, str, str | None, str]] = []
    closed: list[tuple[str, str]] = []
    for stream, rid, data in reads.changed(
        conn, ("payments", "invoices", "credit_memos", "customers"), since
    ):
        if stream == "customers":
            out.customers = True
            continue
        record = record_from_json_text(stream, data)
        if isinstance(record, Payment):
            out.payments.add(rid)
            out.payers.add(record.customer_remote_id)
            if not record.deleted and record.unapplied_amount > Decimal(0):
                out.paid.append(record)
            continue
        out.documents = True
        out.document_customers.add(getattr(record, "customer_remote_id", None))
        if isinstance(record, Invoice):
            is_open = document_from_invoice(record)
        elif isinstance(record, CreditMemo):
            is_open = document_from_credit_memo(record)
        else:
            is_open = None
        if is_open is not None and not record.deleted:
            opened.append((stream, rid, getattr(record, "customer_remote_id", None), data))
            out.opened.append((stream, is_open))
        else:
            closed.append((stream, rid))
    reads.keep_open_documents(conn, opened, closed)
    out.closed = closed
    return out


def _kept_open_documents(
    reads: CashAppReads, conn: str, customers: set[str] | None
) -> tuple[list[Invoice], list[CreditMemo]]:
    """The open documents kept from run to run: of these customers, or all."""
    invoices = [
        i
        for i in (
            record_from_json_text("invoices", d) for d in reads.open_documents(conn, "invoices", customers)
        )
        if isinstance(i, Invoice)
    ]
    memos = [
        m
        for m in (
            record_from_json_text("credit_memos", d)
            for d in reads.open_documents(conn, "credit_memos", customers)
        )
        if isinstance(m, CreditMemo)
    ]
    return invoices, memos


def _documents_of(invoices: list[Invoice], memos: list[CreditMemo]) -> Iterator[tuple[str, Any]]:
    """The matcher's open documents of these records, with their stream."""
    from rules.cashapp.model import document_from_credit_memo, document_from_invoice

    for invoice in invoices:
        doc = document_from_invoice(invoice)
        if doc is not None:
            yield "invoices", doc
    for memo in memos:
        doc = document_from_credit_memo(memo)
        if doc is not None:
            yield "credit_memos", doc


def _customer_index(known: Iterable[Any], state: Any, conn: str) -> Any:
    """The matcher's index of these customers, with what clerks taught it."""
    from engine.cashapp_review import with_learned_aliases
    from rules.cashapp import CustomerIndex

    return CustomerIndex.from_models(
        with_learned_aliases([c for c in known if isinstance(c, Customer)], state.learned(conn))
    )


def each_isolated(
    match: Callable[[list[T], Any], Iterator[R]],
    items: list[T],
    fresh_state: Callable[[], Any],
    failed: Callable[[T, Exception], None],
) -> Iterator[tuple[R, T]]:
    """Each item with what ``match`` made of it; an item that makes it fail is handed to ``failed``.

    ``match(items, state)`` decides all items at once against a shared state (the matcher's open
    documents, which each sure match consumes). When it fails, the state may be half consumed, so
    the items are decided again one by one, in their order, against a fresh state: the one at
    fault is set aside and the others are decided.
    """
    try:
        results = list(match(items, fresh_state()))
    except Exception:
        state = fresh_state()
        for item in items:
            try:
                [result] = list(match([item], state))
            except Exception as exc:  # one bad payment must not stop the others
                failed(item, exc)
                continue
            yield result, item
        return
    yield from zip(results, items, strict=True)


def deciders_from_config(deployment: Any, connection: Any) -> Sequence[Any]:
    """The deciders a deployment's ``rules:`` section turns on."""
    out: list[Any] = []
    rules = getattr(deployment, "rules", None)
    dunning = getattr(rules, "dunning", None)
    if dunning is not None and dunning.enabled and dunning.policy:
        out.append(DunningDecider(str(dunning.policy), getattr(dunning, "payment_link", None)))
    cashapp = getattr(rules, "cashapp", None)
    if cashapp is not None and cashapp.enabled:
        statements = getattr(cashapp, "statements", None)
        inbox = None
        if statements is not None and statements.inbox is not None:
            owner = statements.connection or getattr(connection, "name", None)
            if owner == getattr(connection, "name", None):
                inbox = str(statements.inbox)
        out.append(
            CashAppDecider(
                str(cashapp.rules) if cashapp.rules else None,
                getattr(cashapp, "auto_threshold", None),
                getattr(cashapp, "review_threshold", None),
                inbox,
            )
        )
    return out


def deliverers_from_config(deployment: Any, connection: Any) -> Sequence[Any]:
    """The dunning deliverer, when dunning is on and at least one channel is configured."""
    dunning = getattr(getattr(deployment, "rules", None), "dunning", None)
    channels = getattr(dunning, "channels", None)
    if dunning is None or not dunning.enabled or not dunning.policy or channels is None:
        return []
    from engine.dunning_delivery import DunningDelivery, RetryPolicy, senders_from_config

    senders = senders_from_config(channels)
    if not senders:
        return []
    retry = dunning.retry
    return [
        DunningDelivery(
            load_dunning_policy(str(dunning.policy), dunning.payment_link),
            senders,
            template_dirs=(dunning.templates,) if dunning.templates else (),
            retry=RetryPolicy(retry.initial, retry.max, retry.attempts),
            expire_after=dunning.expire_after,
        )
    ]


register_decider_factory(deciders_from_config)
register_deliverer_factory(deliverers_from_config)
