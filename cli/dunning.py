"""Dunning commands that read the state store: preview, resend, mark-sent, worklist, and status lines.

``arbridge dunning preview`` shows what the daemon would send and what waits for a person, and
sends nothing; ``resend`` and ``mark-sent`` are the person's decisions about an e-mail in doubt
(or a failed action); ``arbridge worklist`` ranks customers for collectors.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import click

from cli.options import CONFIG_OPTION, as_of_option, connection_option, load_deployment, open_store
from engine.dunning_delivery import IDEMPOTENT_CHANNELS, commit_sent, owner_is_gone, senders_from_config
from engine.dunning_worklist import worklist_from_store
from mapping.models import Customer, Invoice, Stream
from rules.dunning import Channel, PlannedAction, SmtpEmailSender, action_from_json
from rules.dunning.contact import zone_for
from rules.dunning.csvio import FileError
from rules.dunning.currencies import check_currency
from rules.dunning.fx import FxRates, read_fx_rates
from rules.dunning.recheck import why_not_send
from store import StateStore
from store.dunning import NEEDS_DECISION, DunningActionRow, DunningActions, DunningCalls

__all__ = [
    "call_command",
    "channel_warnings",
    "dunning_notes",
    "dunning_status",
    "dunning_status_lines",
    "mark_sent_command",
    "preview_command",
    "resend_command",
    "worklist_command",
]

_CONNECTIONS = connection_option()
_AS_OF = as_of_option("Look at this moment instead of now.")


def _now_or(as_of: datetime | None) -> datetime:
    return as_of if as_of is not None else datetime.now(UTC)


def _connections(deployment: Any, names: tuple[str, ...]) -> list[Any]:
    known = {c.name: c for c in deployment.connections}
    missing = [n for n in names if n not in known]
    if missing:
        click.echo(
            f"arbridge: no connection named {', '.join(missing)} (configured: {', '.join(known)})", err=True
        )
        sys.exit(2)
    return [known[n] for n in names] if names else list(deployment.connections)


def _money(amount: Any, currency: Any) -> str:
    return f"{Decimal(str(amount)):,} {currency}"


# -- preview -------------------------------------------------------------------------------------------


class _Preview:
    """What one connection would send, read from the store without changing it."""

    def __init__(self, deployment: Any, store: StateStore, connection: str, as_of: datetime) -> None:
        self.deployment = deployment
        self.dunning = deployment.rules.dunning
        self.store = store
        self.connection = connection
        self.as_of = as_of
        self.book = DunningActions(store)
        self.configured = set(self.dunning.channels.configured)
        email = senders_from_config(self.dunning.channels).get(Channel.EMAIL)
        self.email = email if isinstance(email, SmtpEmailSender) else None
        self.policy = self._policy()
        self.default_zone = str(self.policy.default_time_zone) if self.policy is not None else "UTC"

    def _customer(self, customer_id: str) -> Customer | None:
        found = self.store.get_record(self.connection, Stream.CUSTOMERS, customer_id)
        return found if isinstance(found, Customer) else None

    def item(self, row: DunningActionRow | PlannedAction, note: str | None = None) -> dict[str, Any]:
        payload = row.payload if isinstance(row, DunningActionRow) else row.to_json()
        customer = self._customer(str(payload["customer_id"]))
        out: dict[str, Any] = {
            "key": payload["key"],
            "customer_id": payload["customer_id"],
            "customer_name": customer.name if customer else None,
            "level": payload["level"],
            "channel": payload["channel"],
            "recipient": payload.get("recipient"),
            "total_due": _money(payload["total_due"], payload["currency"]),
            "send_at": payload["send_at"],
        }
        if payload["channel"] == Channel.EMAIL.value and self.email is not None:
            out["message_id"] = self.email.message_id(str(payload["key"]))
        if isinstance(row, DunningActionRow):
            out["status"] = row.status
            out["attempts"] = row.attempts
            if row.last_error:
                out["error"] = row.last_error
            if row.next_attempt_at and row.status == "planned":
                out["next_try"] = row.next_attempt_at.isoformat()
        if note:
            out["note"] = note
        return out

    def _what_happens(self, row: DunningActionRow) -> str | None:
        """Why a due action would not go out at the next cycle, as the dispatcher would decide."""
        if row.next_attempt_at is None and self.as_of - row.send_at > self.dunning.expire_after:
            return "will expire: too late to send"
        if row.channel not in self.configured:
            return f"waits: no {row.channel} channel is configured"
        action = action_from_json(row.payload)
        customer = self._customer(action.customer_id)
        invoices: dict[str, Invoice] = {}
        for invoice_id in action.invoice_ids:
            inv = self.store.get_record(self.connection, Stream.INVOICES, invoice_id)
            if isinstance(inv, Invoice):
                invoices[invoice_id] = inv
        zone = zone_for(customer.time_zone if customer else None, self.default_zone)
        reason = why_not_send(action, customer, invoices, self.as_of.astimezone(zone).date())
        return f"will be cancelled: {reason}" if reason else None

    def _policy(self) -> Any:
        if not self.dunning.enabled or not self.dunning.policy:
            return None
        from engine.rules import load_dunning_policy

        return load_dunning_policy(str(self.dunning.policy), self.dunning.payment_link)

    def build(self) -> dict[str, Any]:
        zone = ZoneInfo(self.default_zone)
        local = self.as_of.astimezone(zone)
        end_of_day = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        out: dict[str, list[dict[str, Any]]] = {
            "send_now": [],
            "later_today": [],
            "retrying": [],
            "not_yet_planned": [],
            "in_flight": [],
            "in_doubt": [],
            "failed": [],
        }
        for row in self.book.with_status(self.connection, ["planned"]):
            if row.next_attempt_at is not None and row.next_attempt_at > self.as_of:
                out["retrying"].append(self.item(row))
            elif row.send_at <= self.as_of:
                out["send_now"].append(self.item(row, self._what_happens(row)))
            elif row.send_at < end_of_day:
                out["later_today"].append(self.item(row))
        for row in self.book.with_status(self.connection, ["sending"]):
            gone = owner_is_gone(row.claimed_by, row.claimed_at, self.as_of) and row.claimed_by is not None
            if gone and row.committed_at is not None and Channel(row.channel) not in IDEMPOTENT_CHANNELS:
                out["in_doubt"].append(self.item(row, "the sending process stopped mid-send"))
            elif gone:
                out["send_now"].append(
                    self.item(row, "an interrupted send: goes out again at the next cycle")
                )
            else:
                out["in_flight"].append(self.item(row, f"being sent by {row.claimed_by}"))
        for row in self.book.with_status(self.connection, NEEDS_DECISION):
            out[row.status].append(self.item(row))
        if self.policy is not None:
            from engine.rules import plan_from_store

            for item in plan_from_store(self.policy, self.store, self.connection, self.as_of):
                if not isinstance(item, PlannedAction) or item.send_at >= end_of_day:
                    continue
                known = self.book.get(item.key)
                if known is None or known.status in ("cancelled", "expired"):
                    out["not_yet_planned"].append(self.item(item))
        return out


def _line(item: dict[str, Any]) -> str:
    who = f"{item['customer_id']} {item['customer_name'] or ''}".strip()
    parts = [item["key"], f"level {item['level']}", item["channel"]]
    if item.get("recipient"):
        parts.append(item["recipient"])
    parts += [who, item["total_due"]]
    text = "  ".join(parts)
    if item.get("next_try"):
        text += f" — next try {item['next_try']}"
    if item.get("message_id") and item.get("status") == "in_doubt":
        text += f" — Message-ID {item['message_id']}"
    for extra in ("note", "error"):
        if item.get(extra):
            text += f" — {item[extra]}"
    return text


_TITLES = {
    "send_now": "to send now",
    "later_today": "later today",
    "retrying": "waiting to retry",
    "not_yet_planned": "not yet planned (the next cycle plans these)",
    "in_flight": "being sent right now",
}


def _print_preview(name: str, sections: dict[str, list[dict[str, Any]]], config_path: str) -> None:
    counts = ", ".join(
        f"{len(items)} {_TITLES.get(k, k.replace('_', ' '))}" for k, items in sections.items() if items
    )
    click.echo(f"\n{name}: {counts or 'nothing to send'}")
    for key, title in _TITLES.items():
        if sections[key]:
            click.echo(f"  {title}:")
            for item in sections[key]:
                click.echo(f"    {_line(item)}")
    if sections["in_doubt"]:
        click.echo(
            "  IN DOUBT — the relay may have these e-mails. Search its log for the Message-ID, then run\n"
            f"    arbridge dunning mark-sent -c {config_path} KEY   if it is there (nothing is sent), or\n"
            f"    arbridge dunning resend -c {config_path} KEY      if it is not (sent at the next cycle):"
        )
        for item in sections["in_doubt"]:
            click.echo(f"    {_line(item)}")
    if sections["failed"]:
        click.echo(f"  FAILED — fix the cause, then: arbridge dunning resend -c {config_path} KEY")
        for item in sections["failed"]:
            click.echo(f"    {_line(item)}")


@click.command("preview")
@CONFIG_OPTION
@_CONNECTIONS
@_AS_OF
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def preview_command(config_path: str, names: tuple[str, ...], as_of: datetime | None, as_json: bool) -> None:
    """Show what would be sent today and what waits for a decision, from the store; sends nothing."""
    as_of = _now_or(as_of)
    deployment = load_deployment(config_path, store_only=True)
    store = open_store(deployment)
    try:
        result = {
            conn.name: _Preview(deployment, store, conn.name, as_of).build()
            for conn in _connections(deployment, names)
        }
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"as_of": as_of.isoformat(), "connections": result}, indent=2, default=str))
        return
    click.echo(
        f"dunning preview as of {as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC — nothing is sent by this command"
    )
    for name, sections in result.items():
        _print_preview(name, sections, config_path)


# -- a person's decisions ---------------------------------------------------------------------------------


def _one_action(store: StateStore, key: str) -> DunningActionRow:
    if len(key) < 8:
        raise click.UsageError("give the action key, or at least its first 8 characters")
    found = DunningActions(store).find(key)
    if not found:
        raise click.ClickException(f"no dunning action with a key starting {key!r}")
    if len(found) > 1:
        keys = ", ".join(r.key for r in found)
        raise click.ClickException(f"{key!r} matches several dunning actions: {keys}; give more of the key")
    return found[0]


def _decide(config_path: str, key: str, note: str, resend: bool) -> None:
    deployment = load_deployment(config_path, store_only=True)
    store = open_store(deployment)
    try:
        row = _one_action(store, key)
        book = DunningActions(store)
        allowed = ("in_doubt", "failed", "expired") if resend else ("planned", "in_doubt", "failed")
        if row.status not in allowed:
            when = f" on {row.sent_at.isoformat()}" if row.sent_at else ""
            raise click.ClickException(
                f"{row.key} is {row.status}{when}; only {' or '.join(allowed)} actions can be "
                + ("sent again" if resend else "marked as sent")
            )
        who = getpass.getuser()
        text = f"{'resend' if resend else 'marked as sent'} by {who}" + (f": {note}" if note else "")

        def audited(moved: bool, conn: Any) -> bool:
            # The decision and its audit entry are one transaction: a kill keeps both or neither.
            if moved:
                store.audit(
                    "dunning_resend" if resend else "dunning_marked_sent",
                    connection=row.connection,
                    subject=f"customer/{row.customer_id}",
                    detail={"key": row.key, "was": row.status, "by": who, "note": note},
                    conn=conn,
                )
            return moved

        if resend:
            with store.transaction() as conn:
                moved = audited(book.resend(row.key, text, conn=conn), conn)
        else:
            # It reached the customer: its invoices' statuses go to the ERP with the mark.
            moved = commit_sent(
                store,
                row.connection,
                action_from_json(row.payload),
                lambda conn: audited(book.mark_sent(row.key, text, conn=conn), conn),
                decided_on=datetime.now(UTC).date(),
            )
        if not moved:
            raise click.ClickException(f"{row.key} changed meanwhile; run the command again")
    finally:
        store.close()
    if resend:
        click.echo(f"{row.key}: will be sent at the next cycle of {row.connection}")
    else:
        click.echo(f"{row.key}: recorded as sent; it will not be sent again")


@click.command("resend")
@CONFIG_OPTION
@click.argument("key")
@click.option("--note", default="", help="What was checked, for the audit log.")
def resend_command(config_path: str, key: str, note: str) -> None:
    """Send an in-doubt, failed or expired dunning action (again) at the next cycle."""
    _decide(config_path, key, note, resend=True)


@click.command("mark-sent")
@CONFIG_OPTION
@click.argument("key")
@click.option("--note", default="", help="What was checked (e.g. the relay log line), for the audit log.")
def mark_sent_command(config_path: str, key: str, note: str) -> None:
    """Record that a dunning action (in doubt, failed or still planned) did reach the customer."""
    _decide(config_path, key, note, resend=False)


# -- a collector's calls ----------------------------------------------------------------------------------


def _day(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a date written YYYY-MM-DD, e.g. 2026-12-01") from None


@click.command("call")
@CONFIG_OPTION
@click.argument("customer_id")
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(["reached", "no-answer", "promise", "dispute"]),
    help="What the call achieved.",
)
@click.option(
    "--invoice",
    "invoices",
    multiple=True,
    help="An invoice the promise or dispute is about (repeatable); a promise covers all of the "
    "customer's overdue invoices by default.",
)
@click.option("--promise-date", callback=_day, help="promise: the day the customer will pay by (YYYY-MM-DD).")
@click.option(
    "--until",
    callback=_day,
    help="dispute: the last day the invoices are left out of reminders (YYYY-MM-DD; 30 days by default).",
)
@click.option("--note", default="", help="What was said, for the audit log.")
@click.option("--by", "by", default=None, help="Who called (default: the logged-in user).")
@connection_option("The customer's connection, when several hold it (repeatable).")
@_AS_OF
def call_command(
    config_path: str,
    customer_id: str,
    outcome: str,
    invoices: tuple[str, ...],
    promise_date: date | None,
    until: date | None,
    note: str,
    by: str | None,
    names: tuple[str, ...],
    as_of: datetime | None,
) -> None:
    """Record what a call to a customer achieved: reached, no answer, a promise to pay, a dispute.

    A call is not a dunning level: it counts against the policy's call caps and leaves the levels'
    gaps alone. A promise pauses the invoices until the day after its date, a dispute until
    --until; the next cycle writes "promised" or "disputed" to the ERP.
    """
    if outcome == "promise" and promise_date is None:
        raise click.UsageError("a promise needs --promise-date")
    if outcome == "dispute" and not invoices:
        raise click.UsageError("a dispute needs the --invoice it is about (repeatable)")
    if outcome not in ("promise", "dispute") and (promise_date or until):
        raise click.UsageError("--promise-date and --until belong to a promise or a dispute")
    as_of = _now_or(as_of)
    deployment = load_deployment(config_path, store_only=True)
    store = open_store(deployment)
    try:
        holders = [
            c.name
            for c in _connections(deployment, names)
            if isinstance(store.get_record(c.name, Stream.CUSTOMERS, customer_id), Customer)
        ]
        if not holders:
            raise click.ClickException(f"no customer {customer_id} in the store (is the id the ERP's?)")
        if len(holders) > 1:
            raise click.UsageError(f"customer {customer_id} is in {', '.join(holders)}: add --connection")
        connection = holders[0]
        records = store.customer_records(connection, Stream.INVOICES, customer_id)
        open_ids = {
            i.remote_id for i in records if isinstance(i, Invoice) and not i.deleted and i.open_amount > 0
        }
        unknown = [i for i in invoices if i not in open_ids]
        if unknown:
            raise click.ClickException(
                f"{', '.join(unknown)}: not an open invoice of customer {customer_id} in {connection}"
            )
        named = (list(invoices) or sorted(open_ids)) if outcome == "promise" else list(invoices)
        if outcome == "dispute" and until is None:
            until = as_of.date() + timedelta(days=30)
        who = by or getpass.getuser()
        kind = outcome.replace("-", "_")
        detail = {
            "outcome": kind,
            "invoice_ids": named,
            "promised_date": promise_date.isoformat() if promise_date else None,
            "until": until.isoformat() if until else None,
            "by": who,
            "note": note,
        }
        with store.transaction() as conn:
            DunningCalls(store).record(
                connection,
                customer_id,
                at=as_of,
                outcome=kind,
                invoice_ids=named,
                promised_date=promise_date,
                until=until,
                note=note or None,
                recorded_by=who,
                conn=conn,
            )
            store.audit(
                "dunning_call",
                connection=connection,
                subject=f"customer/{customer_id}",
                detail=detail,
                conn=conn,
            )
    finally:
        store.close()
    said = {
        "reached": "reached",
        "no_answer": "not reached",
        "promise": f"promised to pay {', '.join(named)} by {promise_date}",
        "dispute": f"disputes {', '.join(named)}; left out of reminders until {until}",
    }[kind]
    click.echo(f"{customer_id} [{connection}]: {said}; recorded (counts against the call caps)")


# -- check ------------------------------------------------------------------------------------------------


def channel_warnings(deployment: Any) -> list[str]:
    """What ``arbridge check`` says about dunning that is enabled but cannot do all it should."""
    dunning = deployment.rules.dunning
    if not dunning.enabled or not dunning.policy or not dunning.policy.is_file():
        return []
    from config.dunning_policy import PolicyError, load_dunning_policy

    try:
        policy = load_dunning_policy(dunning.policy)
    except PolicyError:
        return []  # loading the configuration already refused it
    out: list[str] = []
    connections = [c for c in deployment.connections if getattr(c, "enabled", True)]
    if not any(Stream.INVOICES in (c.streams or ()) for c in connections):
        out.append(
            "rules.dunning: enabled, but no enabled connection reads invoices: there is nothing to remind of"
        )
    used: set[str] = set()
    for pol in policy.policies.values():
        for level in pol.levels:
            used.update(c.value for c in level.channels)
            used.update(a.channel.value for a in level.also)
        if pol.courtesy is not None:
            used.update(c.value for c in pol.courtesy.channels)
    configured = set(dunning.channels.configured)
    if not configured:
        out.append(
            "rules.dunning.channels: enabled, but no channel is configured: reminders are planned and never "
            "sent, so nothing is written to the ERP as reminded (arbridge dunning preview lists them)"
        )
    else:
        out += [
            f"rules.dunning.channels.{name}: the policy sends by {name}, which is not configured; "
            "those reminders wait (and expire)"
            for name in sorted(used - configured)
        ]
    if "email" in configured and not policy.sender.opt_out_text:
        out.append(
            "rules.dunning: e-mails carry no opt-out statement: no sender.opt_out_text in the policy "
            "(US Regulation F §1006.6(e) asks for one on consumer debt)"
        )
    if not any(getattr(getattr(c, "write_back", None), "enabled", False) for c in connections):
        out.append(
            "rules.dunning: no connection has write_back enabled: reminders go out, but the ERP never "
            "shows their status"
        )
    return out


def dunning_notes(deployment: Any) -> list[str]:
    """What ``arbridge check`` tells about dunning that is not a problem: which policy is used."""
    dunning = deployment.rules.dunning
    if dunning.enabled and getattr(dunning, "builtin_policy", False):
        return [
            f"rules.dunning.policy: none configured: the built-in policy is used ({dunning.policy}: "
            "reminders at 7, 21 and 35 days overdue, no fees, no interest)"
        ]
    return []


# -- status ----------------------------------------------------------------------------------------------


def dunning_status(store: StateStore, connection: str) -> dict[str, Any]:
    """Counts by state and the actions a person must decide about, for ``arbridge status``."""
    book = DunningActions(store)
    counts = book.counts(connection)
    waiting = [
        {
            "key": r.key,
            "status": r.status,
            "customer_id": r.customer_id,
            "channel": r.channel,
            "recipient": r.recipient,
            "error": r.last_error,
        }
        for r in book.with_status(connection, NEEDS_DECISION, limit=20)
    ]
    return {"counts": counts, "needs_decision": waiting}


def dunning_status_lines(info: dict[str, Any], config_path: str) -> list[str]:
    """The ``arbridge status`` lines of one connection's dunning (none when it never planned any)."""
    counts = info["counts"]
    if not counts:
        return []
    order = ["sent", "planned", "sending", "in_doubt", "failed", "cancelled", "expired"]
    shown = ", ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in order if counts.get(s))
    lines = [f"  dunning: {shown}"]
    for item in info["needs_decision"]:
        to = f" to {item['recipient']}" if item["recipient"] else ""
        lines.append(f"    {item['status'].upper()} {item['key']} {item['channel']}{to}: {item['error']}")
    if info["needs_decision"]:
        lines.append(f"    decide with: arbridge dunning preview -c {config_path}")
    return lines


# -- worklist --------------------------------------------------------------------------------------------


def _fx(deployment: Any, rates_path: str | None, currency: str | None) -> FxRates | None:
    """The rates the worklist ranks with: the command line's, else the configuration's, else none."""
    configured = deployment.rules.dunning.worklist
    reporting = currency or configured.reporting_currency
    path = rates_path or configured.fx_rates
    if reporting is None:
        if path is not None:
            raise click.BadParameter("give --reporting-currency with --fx-rates", param_hint="--fx-rates")
        return None
    try:
        return read_fx_rates(path, reporting) if path is not None else FxRates(check_currency(reporting))
    except (FileError, ValueError) as exc:
        click.echo(f"arbridge: {exc}", err=True)
        sys.exit(2)


@click.command("worklist")
@CONFIG_OPTION
@_CONNECTIONS
@_AS_OF
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1), help="How many customers.")
@click.option(
    "--fx-rates",
    "rates_path",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV of rates into the reporting currency (currency, rate, date); default: "
    "rules.dunning.worklist.fx_rates.",
)
@click.option(
    "--reporting-currency",
    "currency",
    help="Rank every customer in this currency (ISO 4217); "
    "default: rules.dunning.worklist.reporting_currency.",
)
@click.option(
    "--predict-late",
    is_flag=True,
    help="Rank payment behaviour by the predicted chance of paying more than 60 days late, learned "
    "from the store's paid invoices, instead of the average days late.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def worklist_command(
    config_path: str,
    names: tuple[str, ...],
    as_of: datetime | None,
    top: int,
    rates_path: str | None,
    currency: str | None,
    predict_late: bool,
    as_json: bool,
) -> None:
    """Customers to call first: ranked by amount at risk, days overdue and payment behaviour, explained.

    Each line says what stops the call: invoices promised or disputed are shown and not counted
    as at risk, nor are unapplied payments and open credits.
    """
    as_of = _now_or(as_of)
    deployment = load_deployment(config_path, store_only=True)
    fx = _fx(deployment, rates_path, currency)
    store = open_store(deployment)
    default_zone = "UTC"
    dunning = deployment.rules.dunning
    if dunning.policy and dunning.policy.is_file():
        from rules.dunning import load_policy

        default_zone = load_policy(dunning.policy).default_time_zone
    try:
        result = {
            conn.name: worklist_from_store(
                store,
                conn.name,
                as_of,
                top=top,
                default_time_zone=default_zone,
                fx_rates=fx,
                predict_late=predict_late,
                prediction=deployment.prediction,
            )
            for conn in _connections(deployment, names)
        }
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "as_of": as_of.isoformat(),
                    "connections": {
                        name: {"customers": r.customers, "entries": [e.to_json() for e in r.entries]}
                        for name, r in result.items()
                    },
                },
                indent=2,
            )
        )
        return
    for name, ranking in result.items():
        click.echo(
            f"{name}: top {len(ranking.entries)} of {ranking.customers} customer(s) with overdue invoices, "
            f"as of {as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )
        for e in ranking.entries:
            if e.reporting_currency and e.ranked_amount:
                amounts = _money(e.ranked_amount, e.reporting_currency) + " at risk"
            else:
                at_risk = {k: v for k, v in e.amount_at_risk.items() if v > 0}
                amounts = (
                    ", ".join(_money(v, k) for k, v in at_risk.items()) + " at risk"
                    if at_risk
                    else ("nothing at risk")
                )
            click.echo(
                f"{e.rank:>4}. {e.customer_id} {e.customer_name} — {amounts}, oldest "
                f"{e.oldest_days_overdue} days — score {e.score}"
            )
            if e.held:
                click.echo(f"      stops the call: {'; '.join(e.held)}")
            click.echo(f"      {e.explanation}")
