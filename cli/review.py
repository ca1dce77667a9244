"""``arbridge review accept|change|reject|aliases|forget``: a clerk's verdicts from the command line."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import click

from cli.options import CONFIG_OPTION, load_deployment, selected_connections
from engine.cashapp_review import (
    LEARNED_KINDS,
    ReviewError,
    ReviewQueue,
    Verdict,
    parse_applications,
    parse_settlements,
)
from engine.runner import open_store


def _money(text: Any) -> str:
    try:
        return f"{Decimal(str(text)):,.2f}"
    except ArithmeticError:
        return str(text)


def print_queue(queues: list[ReviewQueue], echo: Callable[[str], None]) -> None:
    """Each pending item: the payment, the proposal, its confidence and the matcher's reasons."""
    total = 0
    for queue in queues:
        for row in queue.pending():
            total += 1
            result, pay = row["result"], row["result"].get("payment") or {}
            payer = (
                ", ".join(x for x in (pay.get("payer_name"), pay.get("payer_account")) if x)
                or "payer unknown"
            )
            echo(
                f"{row['payment_id']}  [{queue.connection}]  {pay.get('date', '')}  "
                f"{_money(pay.get('amount', ''))} {pay.get('currency', '')}  from {payer}"
            )
            if pay.get("reference"):
                echo(f"    reference: {pay['reference']}")
            echo(
                f"    proposed: customer {result.get('customer_id') or '?'}, rule {result.get('rule')}, "
                f"confidence {float(result.get('confidence') or 0):.2f}"
            )
            for a in result.get("applications") or []:
                extras = "".join(
                    f", {name} {_money(a[name])}"
                    for name in ("discount", "writeoff")
                    if Decimal(str(a.get(name) or 0)) != 0
                )
                echo(f"      {a['invoice_id']}: {_money(a['amount'])}{extras}")
            if Decimal(str(result.get("unapplied") or 0)) != 0:
                echo(f"      unapplied: {_money(result['unapplied'])}")
            echo(f"    why: {result.get('explanation', '')}")
    echo(f"{total} item(s) waiting for review" if total else "nothing waiting for review")


def _queue_for(ctx: click.Context, payment_id: str) -> ReviewQueue:
    queues: list[ReviewQueue] = ctx.obj["queues"]
    holding = [q for q in queues if q.state.match_result(q.connection, payment_id) is not None]
    if len(holding) == 1:
        return holding[0]
    if not holding:
        raise click.ClickException(f"no match result for payment {payment_id!r}")
    names = ", ".join(q.connection for q in holding)
    raise click.ClickException(
        f"payment {payment_id!r} is in several connections ({names}); add --connection"
    )


def _report(verdict: Verdict) -> None:
    line = f"{verdict.payment_id}: {verdict.status}"
    if verdict.key:
        line += f"; payment application queued for the ERP (key {verdict.key[:16]})"
    click.echo(line)
    for item in verdict.learned:
        click.echo(f"  learned {item}")


def _run(action: Callable[[], Verdict]) -> None:
    try:
        _report(action())
    except ReviewError as exc:
        click.echo(f"arbridge review: {exc}", err=True)
        sys.exit(1)


_BY = click.option(
    "--by", default=None, help="Who decides (default: the logged-in user); kept in the audit log."
)


@click.command("accept")
@click.argument("payment_id")
@_BY
@click.pass_context
def accept_command(ctx: click.Context, payment_id: str, by: str | None) -> None:
    """Apply the proposed match as it stands."""
    queue = _queue_for(ctx, payment_id)
    _run(lambda: queue.accept(payment_id, by=by or getpass.getuser()))


@click.command("change")
@click.argument("payment_id")
@click.option(
    "--apply",
    "applications",
    multiple=True,
    required=True,
    metavar="INVOICE=AMOUNT",
    help="Cash to apply to a document (repeatable); a credit memo's amount is netted.",
)
@click.option(
    "--discount",
    "discounts",
    multiple=True,
    metavar="INVOICE=AMOUNT",
    help="Early-payment discount granted on an applied invoice (repeatable).",
)
@click.option(
    "--writeoff",
    "writeoffs",
    multiple=True,
    metavar="INVOICE=AMOUNT",
    help="Short payment written off on an applied invoice, a bank fee say (repeatable).",
)
@_BY
@click.pass_context
def change_command(
    ctx: click.Context,
    payment_id: str,
    applications: tuple[str, ...],
    discounts: tuple[str, ...],
    writeoffs: tuple[str, ...],
    by: str | None,
) -> None:
    """Apply other documents or amounts than proposed (checked against what is open)."""
    queue = _queue_for(ctx, payment_id)
    try:
        wanted = parse_applications(applications)
        discount = parse_settlements(discounts, "discount")
        writeoff = parse_settlements(writeoffs, "writeoff")
    except ReviewError as exc:
        raise click.UsageError(str(exc)) from exc
    _run(
        lambda: queue.change(
            payment_id, wanted, by=by or getpass.getuser(), discounts=discount, writeoffs=writeoff
        )
    )


@click.command("reject")
@click.argument("payment_id")
@click.option("--reason", default=None, help="Why; kept in the audit log.")
@_BY
@click.pass_context
def reject_command(ctx: click.Context, payment_id: str, reason: str | None, by: str | None) -> None:
    """Apply nothing: the payment stays unapplied and the matcher leaves it alone."""
    queue = _queue_for(ctx, payment_id)
    _run(lambda: queue.reject(payment_id, by=by or getpass.getuser(), reason=reason))


def print_aliases(queues: list[ReviewQueue], echo: Callable[[str], None]) -> None:
    """Each customer's learned bank accounts and names, with the payment, clerk and time they came from."""
    total = 0
    for queue in queues:
        customer = None
        for row in queue.aliases():
            total += 1
            if row["customer_id"] != customer:
                customer = row["customer_id"]
                echo(f"{customer}  [{queue.connection}]  {row['customer_name'] or 'not in the ERP data'}")
            taught = f"from payment {row['payment_id']}"
            taught += f" by {row['learned_by']}" if row["learned_by"] else ""
            taught += f", {str(row['learned_at'])[:19].replace('T', ' ')} UTC" if row["learned_at"] else ""
            echo(f"    {LEARNED_KINDS[row['kind']]:<12}  {row['value']}  ({taught})")
    echo(f"{total} learned alias(es)" if total else "nothing learned")


@click.command("aliases")
@click.pass_context
def aliases_command(ctx: click.Context) -> None:
    """List the bank accounts and names the matcher learned from accepted matches."""
    print_aliases(ctx.obj["queues"], click.echo)


@click.command("forget")
@click.option("--customer", "customer_id", required=True, help="The customer id the alias was learned for.")
@click.option("--account", default=None, help="A learned bank account (spacing and case do not matter).")
@click.option("--name", default=None, help="A learned payer name.")
@_BY
@click.pass_context
def forget_command(
    ctx: click.Context, customer_id: str, account: str | None, name: str | None, by: str | None
) -> None:
    """Remove a wrongly learned bank account or name; the matcher stops using it on the next cycle."""
    if (account is None) == (name is None):
        raise click.UsageError("give one of --account or --name")
    kind, value = ("bank_account", account) if account is not None else ("name", name or "")
    queues: list[ReviewQueue] = ctx.obj["queues"]
    holding = [q for q in queues if q.holds_alias(customer_id, kind, value)]
    if not holding:
        click.echo(
            f"arbridge review: customer {customer_id} has no learned {LEARNED_KINDS[kind]} {value!r}",
            err=True,
        )
        sys.exit(1)
    if len(holding) > 1:
        names = ", ".join(q.connection for q in holding)
        raise click.ClickException(
            f"customer {customer_id!r} learned it in several connections ({names}); add --connection"
        )
    queue = holding[0]
    try:
        removed = queue.forget(customer_id, kind, value, by=by or getpass.getuser())
    except ReviewError as exc:
        click.echo(f"arbridge review: {exc}", err=True)
        sys.exit(1)
    for item in removed:
        click.echo(f"{customer_id}: forgot {LEARNED_KINDS[kind]} {item}; not used from the next cycle on")


@click.group("review", invoke_without_command=True)
@CONFIG_OPTION
@click.option("--connection", "connection_name", default=None, help="Only this connection's queue.")
@click.pass_context
def review_group(ctx: click.Context, config_path: str, connection_name: str | None) -> None:
    """The cash-application review queue: list what waits for a clerk, then accept, change or reject it.

    ``aliases`` lists what accepted matches taught the matcher; ``forget`` removes a wrong one.
    """
    deployment = load_deployment(config_path)
    names = tuple(n for n in (connection_name,) if n)
    store = open_store(deployment)
    ctx.call_on_close(store.close)
    ctx.obj["queues"] = [ReviewQueue(store, c.name) for c in selected_connections(deployment, names)]
    if ctx.invoked_subcommand is None:
        print_queue(ctx.obj["queues"], click.echo)


for _command in (accept_command, change_command, reject_command, aliases_command, forget_command):
    review_group.add_command(_command)
