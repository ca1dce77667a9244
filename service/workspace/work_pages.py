"""The workspace's queues: the review queue's verdicts and the worklist's calls and assignments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, cast

from flask import Response, abort, flash, g, jsonify, redirect, render_template, request, url_for

from service.workspace import connection_names
from service.workspace.auth import requires
from service.workspace.calls import OUTCOMES, CallError, log_call
from service.workspace.pages import _export, _users, _ws, blueprint

__all__: list[str] = []


# -- review queue -------------------------------------------------------------------------------------


def _queue(connection: str) -> Any:
    from engine.cashapp_review import ReviewQueue

    if connection not in _ws().connections:
        abort(404, description=f"no connection {connection!r}")
    return ReviewQueue(_ws().store, connection)


@blueprint.get("/review")
@requires("view", _users)
def review() -> str:
    queues = [(name, _queue(name).pending()) for name in _ws().connections]
    return render_template("review.html", user=g.user, queues=queues, active="review")


@blueprint.post("/review/<connection>/<payment_id>/<verdict>")
@requires("review", _users)
def review_verdict(connection: str, payment_id: str, verdict: str) -> Response:
    from engine.cashapp_review import ReviewError

    queue = _queue(connection)
    by = g.user.username
    try:
        if verdict == "accept":
            queue.accept(payment_id, by=by)
            flash(f"{payment_id}: accepted; the payment application is queued for the ERP.", "ok")
        elif verdict == "change":
            from engine.cashapp_review import parse_applications, parse_settlements

            def lines(name: str) -> list[str]:
                text = request.form.get(name, "")
                return text.replace(";", " ").split()

            queue.change(
                payment_id,
                parse_applications(lines("apply")),
                by=by,
                discounts=parse_settlements(lines("discount"), "discount"),
                writeoffs=parse_settlements(lines("writeoff"), "writeoff"),
            )
            flash(f"{payment_id}: changed; the payment application is queued for the ERP.", "ok")
        elif verdict == "reject":
            queue.reject(payment_id, by=by, reason=request.form.get("reason") or None)
            flash(f"{payment_id}: rejected; it stays unapplied and the matcher leaves it alone.", "ok")
        else:
            abort(404, description=f"no verdict {verdict!r}: accept, change or reject")
    except ReviewError as exc:
        flash(f"{payment_id}: {exc}", "error")
    return cast(Response, redirect(url_for("workspace.review")))


# -- worklist -----------------------------------------------------------------------------------------


@blueprint.get("/worklist")
@requires("view", _users)
def worklist() -> str:
    from engine.dunning_worklist import worklist_from_store

    ws = _ws()
    now = ws.clock()
    zone = ws.time_zone()
    from store.users import Assignments

    mine = request.args.get("mine") == "1"
    book = Assignments(ws.store)
    rankings = []
    for name in connection_names(ws, request.args.getlist("connection")):
        ranking = worklist_from_store(ws.store, name, now, top=None if mine else 50, default_time_zone=zone)
        assigned = book.of(name)
        entries = ranking.entries
        if mine:
            entries = [e for e in entries if assigned.get(e.customer_id) == g.user.username]
        rankings.append((name, ranking.customers, entries, assigned))
    collectors = [u.username for u in ws.users.all() if u.role in ("collector", "admin")]
    return render_template(
        "worklist.html",
        user=g.user,
        rankings=rankings,
        outcomes=OUTCOMES,
        today=ws.today(),
        active="worklist",
        collectors=collectors,
        mine=mine,
    )


@blueprint.post("/worklist/<connection>/<customer_id>/assign")
@requires("log_call", _users)
def worklist_assign(connection: str, customer_id: str) -> Response:
    from store.users import Assignments, UserError

    ws = _ws()
    if connection not in ws.connections:
        abort(404, description=f"no connection {connection!r}")
    to = request.form.get("to", "").strip() or None
    try:
        Assignments(ws.store).assign(connection, customer_id, to, by=g.user.username)
    except UserError as exc:
        flash(f"{customer_id}: {exc}", "error")
        return cast(Response, redirect(url_for("workspace.worklist")))
    flash(f"{customer_id} [{connection}]: {'assigned to ' + to if to else 'no longer assigned'}.", "ok")
    return cast(Response, redirect(url_for("workspace.worklist")))


def _day(name: str) -> date | None:
    text = request.form.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        abort(400, description=f"{name}: expected a date written YYYY-MM-DD, not {text!r}")


@blueprint.post("/worklist/<connection>/<customer_id>/call")
@requires("log_call", _users)
def worklist_call(connection: str, customer_id: str) -> Response:
    ws = _ws()
    if connection not in ws.connections:
        abort(404, description=f"no connection {connection!r}")
    invoices = [i.strip() for i in request.form.get("invoices", "").replace(";", ",").split(",") if i.strip()]
    try:
        said = log_call(
            ws.store,
            connection,
            customer_id,
            outcome=request.form.get("outcome", ""),
            at=ws.clock(),
            by=g.user.username,
            invoices=invoices,
            promised_date=_day("promised_date"),
            until=_day("until"),
            note=request.form.get("note", "")[:2000],
            note_to_erp=ws.writes_notes(connection),
        )
    except CallError as exc:
        flash(f"{customer_id}: {exc}", "error")
        return cast(Response, redirect(url_for("workspace.worklist")))
    flash(f"{customer_id} [{connection}]: {said}; the next cycle honours it.", "ok")
    return cast(Response, redirect(url_for("workspace.worklist")))


# -- the queues as JSON ---------------------------------------------------------------------------------


@blueprint.get("/worklist.json")
@requires("view", _users)
def worklist_json() -> Response:
    from engine.dunning_worklist import worklist_from_store

    ws = _ws()
    now = ws.clock()
    return jsonify(
        {
            "as_of": now.isoformat(),
            "connections": {
                name: {"customers": r.customers, "entries": [e.to_json() for e in r.entries]}
                for name in connection_names(ws, request.args.getlist("connection"))
                for r in [worklist_from_store(ws.store, name, now, top=50, default_time_zone=ws.time_zone())]
            },
        }
    )


@blueprint.get("/review.json")
@requires("view", _users)
def review_json() -> Response:
    return jsonify({name: _queue(name).pending() for name in _ws().connections})


@blueprint.get("/worklist.<fmt>")
@requires("view", _users)
def worklist_table(fmt: str) -> Response:
    from engine.dunning_worklist import worklist_from_store

    if fmt not in ("csv", "xlsx"):
        abort(404, description=f"no /worklist.{fmt}: csv, xlsx or json")
    ws = _ws()
    now = ws.clock()
    rows: list[list[Any]] = []
    for name in connection_names(ws, request.args.getlist("connection")):
        ranking = worklist_from_store(ws.store, name, now, top=None, default_time_zone=ws.time_zone())
        for e in ranking.entries:
            for currency, amount in sorted(e.amount_at_risk.items()) or [("", Decimal(0))]:
                who = [name, e.rank, e.customer_id, e.customer_name]
                rows.append([*who, currency, amount, e.oldest_days_overdue, e.overdue_invoices, e.score])
                rows[-1].append("; ".join(e.held))
    header = ["connection", "rank", "customer", "name", "currency", "at_risk", "oldest_days_overdue"]
    return _export("worklist", [*header, "overdue_invoices", "score", "held"], rows, fmt)
