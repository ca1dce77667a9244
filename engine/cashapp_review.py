"""The review queue: a clerk accepts, changes or rejects the matches the matcher was not sure of.

An accepted or changed match becomes a payment application in the outbox, under the same
idempotency rules as the matcher's own decisions, so the connector writes it to the ERP exactly
once on its next cycle. Every verdict is in the audit log. An accepted match teaches the matcher:
the payer's bank account and name become the customer's, so the next payment from that account
is applied without a clerk.

A verdict is stored in one transaction: the verdict, its outbox row, what it taught the matcher
and its audit entry are all kept or none is. A process killed (or a store found busy) in between
leaves the item waiting for review as it was, and the clerk's verdict can simply be given again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from mapping.models import CreditMemo, Customer, Invoice, Operation, Payment, Stream
from rules.cashapp.model import Application, MatchResult, PaymentInput, result_from_json
from rules.cashapp.normalize import normalize_account, normalize_name
from rules.cashapp.ops import learn_from_accepted, to_payment_application
from store import StateStore, idempotency_key
from store.cashapp import CashAppState

LEARNED_KINDS = {"bank_account": "bank account", "name": "name"}


class ReviewError(ValueError):
    """A verdict that cannot be carried out; the message tells the clerk why."""


@dataclass(frozen=True)
class Verdict:
    """What a clerk's decision did."""

    payment_id: str
    status: str
    key: str | None = None
    learned: tuple[str, ...] = ()


def parse_applications(items: tuple[str, ...] | list[str]) -> list[tuple[str, Decimal]]:
    """``INVOICE=AMOUNT`` pairs from the command line.

    Raises:
        ReviewError: a pair without ``=`` or an amount that is not a positive number.
    """
    out: list[tuple[str, Decimal]] = []
    for item in items:
        doc_id, amount = _pair(item)
        if amount <= 0:
            raise ReviewError(f"expected INVOICE=AMOUNT with a positive amount, got {item!r}")
        out.append((doc_id, amount))
    return out


def parse_settlements(items: tuple[str, ...] | list[str], what: str) -> dict[str, Decimal]:
    """``INVOICE=AMOUNT`` pairs settling documents without cash (a discount or a write-off).

    Raises:
        ReviewError: a malformed pair, a negative amount, or one document given twice.
    """
    out: dict[str, Decimal] = {}
    for item in items:
        doc_id, amount = _pair(item)
        if amount < 0:
            raise ReviewError(f"expected --{what} INVOICE=AMOUNT with an amount of 0 or more, got {item!r}")
        if doc_id in out:
            raise ReviewError(f"--{what} given twice for {doc_id}")
        out[doc_id] = amount
    return out


def _pair(item: str) -> tuple[str, Decimal]:
    doc_id, sep, text = item.partition("=")
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not sep or not doc_id.strip() or not amount.is_finite():
        raise ReviewError(f"expected INVOICE=AMOUNT, got {item!r}")
    return doc_id.strip(), amount


def payment_input_from_json(data: dict[str, Any]) -> PaymentInput:
    """A stored bank line back into the matcher's payment type."""
    from datetime import date

    return PaymentInput(
        payment_id=str(data["payment_id"]),
        date=date.fromisoformat(str(data["date"])),
        amount=Decimal(str(data["amount"])),
        currency=str(data["currency"]),
        customer_id=data.get("customer_id"),
        payer_name=data.get("payer_name"),
        payer_account=data.get("payer_account"),
        reference=data.get("reference"),
    )


class ReviewQueue:
    """The review items of one connection and the clerk's verdicts on them."""

    def __init__(self, store: StateStore, connection: str) -> None:
        self.store = store
        self.connection = connection
        self.state = CashAppState(store)

    def pending(self) -> list[dict[str, Any]]:
        """Items waiting for a clerk, by payment id."""
        return self.store.match_results(self.connection, status="review")

    def accept(self, payment_id: str, *, by: str) -> Verdict:
        """Apply the proposal as it stands."""
        row = self._waiting(payment_id)
        proposal = result_from_json(row["result"])
        wanted = [(a.doc_id, a.amount, a.discount, a.writeoff) for a in proposal.applications]
        if not wanted:
            raise ReviewError(f"payment {payment_id} has no proposal to accept; use change --apply")
        return self._apply(row, proposal, wanted, by=by, changed=False)

    def change(
        self,
        payment_id: str,
        applications: list[tuple[str, Decimal]],
        *,
        by: str,
        discounts: dict[str, Decimal] | None = None,
        writeoffs: dict[str, Decimal] | None = None,
    ) -> Verdict:
        """Apply the clerk's own applications instead of the proposal.

        ``discounts`` and ``writeoffs`` settle part of an applied invoice without cash: an
        early-payment discount the customer took, or a short payment written off.
        """
        row = self._waiting(payment_id)
        if not applications:
            raise ReviewError("give at least one --apply INVOICE=AMOUNT")
        discounts, writeoffs = discounts or {}, writeoffs or {}
        applied = {doc_id for doc_id, _ in applications}
        for what, given in (("discount", discounts), ("writeoff", writeoffs)):
            stray = sorted(set(given) - applied)
            if stray:
                raise ReviewError(f"--{what} {stray[0]}: the document is not among the --apply ones")
        wanted = [
            (doc_id, amount, discounts.get(doc_id, Decimal(0)), writeoffs.get(doc_id, Decimal(0)))
            for doc_id, amount in applications
        ]
        return self._apply(row, result_from_json(row["result"]), wanted, by=by, changed=True)

    def reject(self, payment_id: str, *, by: str, reason: str | None = None) -> Verdict:
        """Apply nothing: the payment stays unapplied in the ERP and the matcher leaves it alone."""
        row = self._waiting(payment_id)
        result = {**row["result"], "review": {"verdict": "rejected", "by": by, "reason": reason}}
        with self.store.transaction() as conn:
            if not self.state.close_review(
                self.connection, payment_id, status="rejected", result=result, by=by, conn=conn
            ):
                raise ReviewError(f"payment {payment_id} was decided by someone else meanwhile")
            self.store.audit(
                "review_rejected",
                connection=self.connection,
                subject=f"payment/{payment_id}",
                detail={"by": by, "reason": reason, "proposal": row["result"].get("applications")},
                conn=conn,
            )
        return Verdict(payment_id, "rejected")

    def aliases(self) -> list[dict[str, Any]]:
        """What clerks taught the matcher, per customer, with the customer's name where known."""
        rows = self.state.learned_aliases(self.connection)
        names: dict[str, str | None] = {}
        for row in rows:
            cid = row["customer_id"]
            if cid not in names:
                record = self.store.get_record(self.connection, Stream.CUSTOMERS, cid)
                names[cid] = record.name if isinstance(record, Customer) else None
            row["customer_name"] = names[cid]
        return rows

    def holds_alias(self, customer_id: str, kind: str, value: str) -> bool:
        """Whether the customer has this learned alias (compared as the matcher compares them)."""
        return bool(self._same_aliases(customer_id, kind, value))

    def forget(self, customer_id: str, kind: str, value: str, *, by: str) -> tuple[str, ...]:
        """Remove a wrongly learned bank account or name; the matcher stops using it next cycle.

        Matches already applied with it stay applied: undoing them is the ERP's business.

        Raises:
            ReviewError: the customer has no such learned alias.
        """
        if kind not in LEARNED_KINDS:
            raise ValueError(f"a learned alias is a bank_account or a name, not {kind!r}")
        same = self._same_aliases(customer_id, kind, value)
        with self.store.transaction() as conn:
            removed = self.state.forget(
                self.connection, customer_id, kind, [r["value"] for r in same], conn=conn
            )
            if not removed:
                raise ReviewError(
                    f"customer {customer_id} has no learned {LEARNED_KINDS[kind]} {value!r} "
                    f"in connection {self.connection!r}"
                )
            self._audit_forgotten(conn, customer_id, kind, same, removed, by)
        return tuple(removed)

    def _audit_forgotten(
        self,
        conn: Any,
        customer_id: str,
        kind: str,
        same: list[dict[str, Any]],
        removed: list[str],
        by: str,
    ) -> None:
        self.store.audit(
            "alias_forgotten",
            connection=self.connection,
            subject=f"customer/{customer_id}",
            detail={
                "by": by,
                "kind": kind,
                "values": removed,
                "taught": [
                    {
                        "value": r["value"],
                        "payment_id": r["payment_id"],
                        "by": r["learned_by"],
                        "at": r["learned_at"],
                    }
                    for r in same
                    if r["value"] in removed
                ],
            },
            conn=conn,
        )

    # -- helpers ----------------------------------------------------------------------------------

    def _waiting(self, payment_id: str) -> dict[str, Any]:
        row = self.state.match_result(self.connection, payment_id)
        if row is None:
            raise ReviewError(f"no match result for payment {payment_id!r} in connection {self.connection!r}")
        if row["status"] != "review":
            raise ReviewError(f"payment {payment_id} is not waiting for review (it is {row['status']})")
        return row

    def _same_aliases(self, customer_id: str, kind: str, value: str) -> list[dict[str, Any]]:
        # A clerk types an account as the bank prints it; spacing and case must not matter.
        norm = normalize_account if kind == "bank_account" else normalize_name
        wanted = norm(value)
        return [
            r
            for r in self.state.learned_aliases(self.connection)
            if r["customer_id"] == customer_id and r["kind"] == kind and wanted and norm(r["value"]) == wanted
        ]

    def _payment(self, payment_id: str) -> Payment | PaymentInput:
        record = self.store.get_record(self.connection, Stream.PAYMENTS, payment_id)
        if isinstance(record, Payment):
            if record.deleted or record.unapplied_amount <= 0:
                raise ReviewError(f"payment {payment_id} is no longer unapplied in the ERP")
            return record
        line = self.state.bank_line(self.connection, payment_id)
        if line is None:
            raise ReviewError(f"payment {payment_id} is neither in the ERP's payments nor a bank line")
        return payment_input_from_json(line)

    def _document(self, doc_id: str) -> Invoice | CreditMemo:
        for stream in (Stream.INVOICES, Stream.CREDIT_MEMOS):
            record = self.store.get_record(self.connection, stream, doc_id)
            if isinstance(record, Invoice | CreditMemo) and not record.deleted:
                return record
        raise ReviewError(f"no open invoice or credit memo {doc_id!r}")

    def _apply(
        self,
        row: dict[str, Any],
        proposal: MatchResult,
        wanted: list[tuple[str, Decimal, Decimal, Decimal]],
        *,
        by: str,
        changed: bool,
    ) -> Verdict:
        payment_id = str(row["payment_id"])
        payment = self._payment(payment_id)
        cash_available = payment.unapplied_amount if isinstance(payment, Payment) else payment.amount
        lines: list[Application] = []
        customers: set[str] = set()
        for doc_id, amount, discount, writeoff in wanted:
            doc = self._document(doc_id)
            memo = isinstance(doc, CreditMemo)
            open_amount = abs(doc.open_amount)
            settled = abs(amount) + discount + writeoff
            if doc.currency != payment.currency:
                raise ReviewError(f"{doc_id} is in {doc.currency}, the payment in {payment.currency}")
            if memo and (discount or writeoff):
                raise ReviewError(f"{doc_id} is a credit memo; a discount or write-off settles an invoice")
            if settled > open_amount:
                raise ReviewError(
                    f"{doc_id}: {_settled_text(amount, discount, writeoff)} is more than "
                    f"its open amount {open_amount}"
                )
            customers.add(doc.customer_remote_id)
            lines.append(
                Application(
                    doc_id,
                    -abs(amount) if memo else abs(amount),
                    discount,
                    writeoff,
                    "credit_memo" if memo else "invoice",
                    doc.number or doc_id,
                )
            )
        if len(customers) != 1:
            raise ReviewError(f"the documents belong to {len(customers)} customers; apply one customer's")
        cash = sum((line.amount for line in lines), Decimal(0))
        if cash <= 0:
            raise ReviewError("the applications must apply some cash (credit memos net against invoices)")
        if cash > cash_available:
            raise ReviewError(f"the applications add up to {cash}, more than the {cash_available} unapplied")
        customer_id = customers.pop()
        how = "changed" if changed else "accepted"
        result = MatchResult(
            payment_id=payment_id,
            status="auto",
            customer_id=customer_id,
            confidence=1.0 if changed else proposal.confidence,
            rule="clerk_change" if changed else proposal.rule,
            applications=lines,
            unapplied=cash_available - cash,
            explanation=f"{how.capitalize()} in review by {by}. {proposal.explanation}".strip(),
            components=proposal.components,
        )
        op = to_payment_application(result, payment, customer_id)
        key = self._check_not_dropped(op)
        teach = self._to_learn(customer_id, payment)
        stored = {**result.to_json(), "status": "accepted", "review": {"verdict": how, "by": by, "key": key}}
        # All or nothing: the verdict, the write for the ERP, what it teaches and its audit entry.
        with self.store.transaction() as conn:
            if not self.state.close_review(
                self.connection, payment_id, status="accepted", result=stored, by=by, conn=conn
            ):
                raise ReviewError(f"payment {payment_id} was decided by someone else meanwhile")
            # The outbox does not add a key it holds already: a verdict given again after an
            # earlier one was lost to a kill queues the same row, once.
            self.store.enqueue(self.connection, [op], conn=conn)
            learned = tuple(
                f"{kind} {value}"
                for kind, value in teach
                if self.state.learn(
                    self.connection, customer_id, kind, value, payment_id=_pid(payment), by=by, conn=conn
                )
            )
            self.store.audit(
                f"review_{how}",
                connection=self.connection,
                subject=f"payment/{payment_id}",
                detail={
                    "by": by,
                    "key": key,
                    "customer_id": customer_id,
                    "applications": stored["applications"],
                    "proposal": row["result"].get("applications"),
                    "learned": list(learned),
                },
                conn=conn,
            )
        return Verdict(payment_id, how, key, learned)

    def _check_not_dropped(self, op: Operation) -> str:
        """The operation's outbox key; refused when an admin dropped this very write before."""
        key = idempotency_key(self.connection, op)
        if self.store.outbox_statuses([key]).get(key) == "dropped":
            raise ReviewError(
                "this very application was refused by the ERP and dropped by an admin "
                f"(outbox key {key[:16]}); change it to another application, or reject the payment"
            )
        return key

    def _to_learn(self, customer_id: str, payment: Payment | PaymentInput) -> list[tuple[str, str]]:
        """The payer's bank account and name, where the customer does not know them yet."""
        record = self.store.get_record(self.connection, Stream.CUSTOMERS, customer_id)
        known = self.state.learned(self.connection).get(customer_id, {"bank_account": [], "name": []})
        base = record if isinstance(record, Customer) else None
        if base is None:
            return []
        customer = base.model_copy(
            update={
                "bank_accounts": [*base.bank_accounts, *known["bank_account"]],
                "aliases": [*base.aliases, *known["name"]],
            }
        )
        taught = learn_from_accepted(customer, payment)
        new_accounts = taught.bank_accounts[len(customer.bank_accounts) :]
        new_names = taught.aliases[len(customer.aliases) :]
        return [("bank_account", v) for v in new_accounts] + [("name", v) for v in new_names]


def _settled_text(amount: Decimal, discount: Decimal, writeoff: Decimal) -> str:
    settled = abs(amount) + discount + writeoff
    if not discount and not writeoff:
        return str(settled)
    parts = [f"cash {abs(amount)}"]
    parts += [f"discount {discount}"] if discount else []
    parts += [f"write-off {writeoff}"] if writeoff else []
    return " + ".join(parts) + f" = {settled}"


def _pid(payment: Payment | PaymentInput) -> str:
    return payment.remote_id if isinstance(payment, Payment) else payment.payment_id


def with_learned_aliases(
    customers: list[Customer], learned: dict[str, dict[str, list[str]]]
) -> list[Customer]:
    """The customers with what clerks taught the matcher added to their accounts and aliases."""
    out = []
    for c in customers:
        extra = learned.get(c.remote_id)
        if extra:
            c = c.model_copy(
                update={
                    "bank_accounts": [*c.bank_accounts, *extra["bank_account"]],
                    "aliases": [*c.aliases, *extra["name"]],
                }
            )
        out.append(c)
    return out
