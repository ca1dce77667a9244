"""What one demo cycle did, told in words a newcomer understands.

Everything is read back from the state store after the cycle: which customers are due which
reminder (and whether it went out, or would with a channel), what cash application did with the
payments QuickBooks shows as unapplied, and what was written back to the ERP. Long lists end with
"… and N more" and the command that shows them all.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from engine.sync import CycleReport
from mapping.models import Customer, Payment, Stream
from store import StateStore

Echo = Callable[[str], None]
SHOWN = 5

_CHANNEL_WORDS = {
    "email": "by e-mail",
    "letter": "by letter",
    "call": "as a call task",
    "webhook": "by webhook",
}
_STREAM_WORDS = {
    "customers": "customers",
    "invoices": "invoices",
    "credit_memos": "credit memos",
    "payments": "payments",
}


def money(amount: Any, currency: Any) -> str:
    return f"{Decimal(str(amount)):,.2f} {currency}"


def _some(lines: Iterable[str], total: int, more: str, echo: Echo) -> None:
    shown = 0
    for line in lines:
        if shown == SHOWN:
            break
        echo(f"    {line}")
        shown += 1
    if total > shown:
        echo(f"    … and {total - shown} more ({more})")


class DemoStory:
    """Reads one connection's store after a cycle and tells it."""

    def __init__(self, store: StateStore, report: CycleReport, erp: str, echo: Echo) -> None:
        self.store = store
        self.report = report
        self.connection = report.connection
        self.erp = erp
        self.echo = echo
        self._names: dict[str, str] = {}
        self.waiting_reminders = 0

    def customer(self, customer_id: str) -> str:
        if customer_id not in self._names:
            found = self.store.get_record(self.connection, Stream.CUSTOMERS, customer_id)
            name = found.name if isinstance(found, Customer) else None
            self._names[customer_id] = (
                f"{name} (customer {customer_id})" if name else f"customer {customer_id}"
            )
        return self._names[customer_id]

    def tell(self, *, channels: list[str]) -> None:
        self.pulled()
        self.reminders(channels)
        self.cash_application()
        self.written_back()

    # -- pull --------------------------------------------------------------------------------------

    def pulled(self) -> None:
        r = self.report
        self.echo(f"\nPulled from {self.erp} in {r.seconds:.1f}s ({r.api_calls} API calls):")
        for stream, n in r.pulled.items():
            words = _STREAM_WORDS.get(stream, stream)
            parts = [f"{n.get('new', 0)} new", f"{n.get('changed', 0)} changed"]
            parts += [f"{n[k]} {k}" for k in ("deleted", "quarantined") if n.get(k)]
            self.echo(f"  {words:<13} {', '.join(parts)}")
        for q in (
            self.store.quarantined(self.connection, limit=SHOWN)
            if any(n.get("quarantined") for n in r.pulled.values())
            else []
        ):
            self.echo(f"    set aside: {q['stream']} {q['remote_id']}: {q['field_path']}: {q['reason']}")

    # -- dunning -----------------------------------------------------------------------------------

    def reminders(self, channels: list[str]) -> None:
        from store.dunning import DunningActions

        book = DunningActions(self.store)
        sent = [r for r in book.with_status(self.connection, ["sent"]) if self._this_run(r.sent_at)]
        waiting = book.with_status(self.connection, ["planned"])
        self.waiting_reminders = len(waiting)
        self.echo("\nReminders (the dunning rules):")
        if not sent and not waiting:
            self.echo("  no customer is due a reminder today")
            return
        if sent:
            self.echo(f"  {len(sent)} reminder(s) went out:")
            _some((self._reminder(r) for r in sent), len(sent), "arbridge status lists them", self.echo)
        if waiting and not channels:
            self.echo(
                f"  {len(waiting)} customer(s) are due a reminder. The demo configures no channel "
                "(e-mail, letter, call, webhook), so none was sent; with one, these would go out:"
            )
        elif waiting:
            self.echo(f"  {len(waiting)} reminder(s) wait for their send time or channel:")
        _some(
            (self._reminder(r) for r in waiting),
            len(waiting),
            "arbridge dunning preview lists them all",
            self.echo,
        )

    def _this_run(self, when: Any) -> bool:
        started = self.store.runs(self.connection, limit=1)
        return bool(started) and when is not None and when >= started[0].started_at

    def _reminder(self, row: Any) -> str:
        payload = row.payload
        invoices = payload.get("invoice_ids") or []
        to = f" to {row.recipient}" if row.recipient else ""
        due = money(payload.get("total_due", 0), payload.get("currency", ""))
        return (
            f"{self.customer(row.customer_id)}: level {row.level} reminder "
            f"{_CHANNEL_WORDS.get(row.channel, 'by ' + row.channel)}{to} about "
            f"{len(invoices)} invoice(s), {due} due, on {row.send_at:%Y-%m-%d %H:%M} UTC"
        )

    # -- cash application --------------------------------------------------------------------------

    def cash_application(self) -> None:
        results = self.store.match_results(self.connection)
        self.echo("\nCash application (payments not fully applied in the ERP):")
        if not results:
            self.echo("  every payment is applied in the ERP: nothing to match")
            return
        by_status: dict[str, list[dict[str, Any]]] = {}
        for row in results:
            by_status.setdefault(row["status"], []).append(row)
        titles = {
            "auto": "applied automatically (sure of the customer and the invoices)",
            "review": "waiting for a clerk, with a proposal (arbridge review)",
            "unmatched": "left unapplied: no open invoice fits",
            "accepted": "applied after a clerk accepted",
            "rejected": "left unapplied by a clerk",
        }
        for status, title in titles.items():
            rows = by_status.get(status, [])
            if not rows:
                continue
            self.echo(f"  {len(rows)} {title}:")
            more = "arbridge review lists them" if status == "review" else "arbridge status counts them"
            _some((self._payment(r) for r in rows), len(rows), more, self.echo)

    def _payment(self, row: dict[str, Any]) -> str:
        result = row["result"]
        pay = dict(result.get("payment") or {})
        found = self.store.get_record(self.connection, Stream.PAYMENTS, row["payment_id"])
        if isinstance(found, Payment):  # the ERP's own record, for what the demo shows of it
            who = self.customer(found.customer_remote_id) if found.customer_remote_id else None
            pay.update(amount=str(found.amount), currency=found.currency, payer_name=found.payer_name or who)
            if found.unapplied_amount != found.amount:
                pay["unapplied"] = str(found.unapplied_amount)
        payer = pay.get("payer_name") or (
            self.customer(row["customer_id"]) if row["customer_id"] else "an unknown payer"
        )
        amount = money(pay.get("amount", 0), pay.get("currency", ""))
        if pay.get("unapplied"):
            amount += f" ({money(pay['unapplied'], pay.get('currency', ''))} of it not applied)"
        text = f"payment {row['payment_id']} from {payer}, {amount}"
        applied = [
            f"invoice {a['invoice_id']} {money(a['amount'], pay.get('currency', ''))}"
            for a in result.get("applications") or []
        ]
        if applied and row["status"] in ("auto", "accepted"):
            return f"{text} → {', '.join(applied)}"
        if applied:
            return f"{text}: proposed {', '.join(applied)} (confidence {float(row['confidence'] or 0):.2f})"
        reason = str(result.get("explanation") or "").strip()
        return f"{text}: {reason}" if reason else text

    # -- write-back --------------------------------------------------------------------------------

    def written_back(self) -> None:
        keys = [
            json.loads(e["detail"])["key"]
            for e in self.store.audit_entries(self.connection, limit=100_000)
            if e["run_id"] == self.report.run_id and e["event"] == "written"
        ]
        self.echo(f"\nWritten back to {self.erp}:")
        if not keys:
            self.echo(
                "  nothing this cycle: a reminder's status reaches the ERP with the send that makes it "
                "true, and no payment was applied"
                if self.waiting_reminders
                else "  nothing this cycle: the ERP already shows every decision"
            )
        rows = [row for key in reversed(keys) for row in self.store.outbox_find(key, limit=1)]
        kinds = Counter(r.op_type for r in rows)
        words = {
            "collection_status": "invoice(s) got a collection status",
            "payment_application": "payment application(s)",
            "note": "note(s) on a record",
        }
        for kind, count in sorted(kinds.items()):
            self.echo(f"  {count} {words.get(kind, kind)}:")
            these = [r for r in rows if r.op_type == kind]
            _some(
                (self._write(r) for r in these), len(these), "arbridge outbox list --status done", self.echo
            )
        stats = self.store.outbox_stats(self.connection)["counts"]
        waiting = stats.get("pending", 0) + stats.get("sending", 0)
        self.echo(
            f"  the outbox holds {stats.get('done', 0)} confirmed write(s), {waiting} waiting and "
            f"{stats.get('parked', 0)} the ERP refused (arbridge outbox list)"
        )

    def _write(self, row: Any) -> str:
        p = row.payload
        if row.op_type == "collection_status":
            level = f", level {p['dunning_level']}" if p.get("dunning_level") is not None else ""
            nxt = f", next action {p['next_action_date']}" if p.get("next_action_date") else ""
            status = str(p.get("collection_status")).replace("_", " ")
            return f"{row.target_type} {row.target_id}: {status}{level}{nxt}"
        if row.op_type == "payment_application":
            parts = ", ".join(
                f"{a['target_type']} {a['target_id']} {money(a['amount'], p['currency'])}"
                for a in p.get("allocations", [])
            )
            payer = self.customer(p["customer_remote_id"])
            return f"{money(p['amount'], p['currency'])} from {payer} to {parts}"
        return f"{row.target_type} {row.target_id}: {str(p.get('text', ''))[:80]}"
