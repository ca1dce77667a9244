"""The workspace's routes: login, overview, review queue, worklist (see ``service.workspace``)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from analytics.aging import DEFAULT_EDGES
from service.workspace import WEB_DIR, Workspace, connection_names
from service.workspace.auth import (
    can,
    check_csrf,
    csrf_token,
    current_user,
    requires,
    start_session,
)
from service.workspace.calls import OUTCOMES, CallError, log_call
from service.workspace.charts import bar_chart, line_chart
from service.workspace.overview import DSO_MONTHS, CurrencyFigures, Overview, build_overview
from store.users import Users

__all__ = ["blueprint"]

blueprint = Blueprint(
    "workspace",
    __name__,
    template_folder=str(WEB_DIR / "templates"),
    static_folder=str(WEB_DIR / "static"),
    static_url_path="/assets",
)

# Scripts, styles and images from the daemon only; nothing inline but the server's SVG markup.
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _ws() -> Workspace:
    return cast(Workspace, current_app.extensions["arbridge.workspace"])


def _users() -> Users:
    return _ws().users


@blueprint.before_request
def _guard() -> None:
    ws = _ws()
    if ws.https_only and request.scheme != "https":
        abort(
            403,
            description="the workspace answers over HTTPS only when the daemon listens beyond this machine: "
            "open it through the TLS-terminating reverse proxy",
        )
    if request.method == "POST":
        check_csrf()
    current_user(ws.users, ws.token)


@blueprint.after_request
def _headers(answer: Response) -> Response:
    answer.headers["Content-Security-Policy"] = _CSP
    answer.headers["X-Frame-Options"] = "DENY"
    answer.headers["Referrer-Policy"] = "same-origin"
    return answer


@blueprint.app_template_global()
def csrf() -> str:
    return csrf_token()


@blueprint.app_template_global("can")
def _can(permission: str) -> bool:
    return can(permission)


@blueprint.app_template_filter("money")
def _money(value: Any) -> str:
    if value is None:
        return "—"
    return f"{Decimal(str(value)):,.2f}"


@blueprint.app_template_filter("days")
def _days(value: Any) -> str:
    return "—" if value is None else f"{Decimal(str(value)):,.1f}"


@blueprint.errorhandler(HTTPException)
def _error(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    return render_template("error.html", code=code, message=exc.description, user=g.get("user")), code


# -- logging in ---------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path on this server: a login link cannot send the user elsewhere."""
    if not target:
        return url_for("workspace.overview")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("workspace.overview")
    return target


@blueprint.get("/")
def home() -> Response:
    return cast(Response, redirect(url_for("workspace.overview")))


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    ws = _ws()
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""), user=None)
    address = request.remote_addr or "unknown"
    name = request.form.get("username", "").strip()
    if ws.throttle.blocked(address):
        ws.store.audit(
            "workspace_login_refused",
            subject=f"user/{name[:100]}",
            detail={"address": address, "why": "throttled"},
        )
        return render_template(
            "login.html", next=request.form.get("next", ""), user=None,
            error="Too many failed logins from this address: wait a few minutes.",
        ), HTTPStatus.TOO_MANY_REQUESTS  # fmt: skip
    result = ws.users.login(name, request.form.get("password", ""))
    if result.user is None:
        ws.throttle.failed(address)
        ws.store.audit(
            "workspace_login_failed",
            subject=f"user/{name[:100]}",
            detail={"address": address, "why": result.reason},
        )
        message = "Wrong user name or password."
        if result.locked_until is not None:
            message += " After several wrong passwords the account waits a while before the next try."
        return render_template(
            "login.html", next=request.form.get("next", ""), user=None, error=message
        ), HTTPStatus.UNAUTHORIZED
    start_session(result.user)
    ws.store.audit("workspace_login", subject=f"user/{name}", detail={"by": name, "address": address})
    return redirect(_safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout() -> Response:
    user = g.get("user")
    if user is not None:
        _ws().store.audit("workspace_logout", subject=f"user/{user.username}", detail={"by": user.username})
    session.clear()
    return cast(Response, redirect(url_for("workspace.login")))


# -- overview -----------------------------------------------------------------------------------------


def _edges() -> tuple[int, ...]:
    text = request.args.get("buckets", "")
    if not text:
        return DEFAULT_EDGES
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        abort(400, description="buckets: expected days such as 30,60,90,120")


def _overview() -> Overview:
    ws = _ws()
    names = connection_names(ws, request.args.getlist("connection"))
    try:
        return build_overview(ws.store, names, ws.today(), edges=_edges(), fx=ws.fx_rates())
    except ValueError as exc:
        abort(400, description=f"buckets: {exc}")


def _charts(figures: CurrencyFigures) -> dict[str, Any]:
    months = [m.month.strftime("%b %y") for m in figures.months]
    return {
        "aging": bar_chart(
            [(label, amount) for label, (_, amount) in figures.aging.items()],
            title=f"Aging of open AR, {figures.currency}",
        ),
        "dso": line_chart(
            months,
            [
                ("DSO (count-back)", [m.count_back.days for m in figures.months]),
                ("DSO (simple)", [m.dso for m in figures.months]),
                ("Best Possible DSO", [m.best_possible_dso for m in figures.months]),
            ],
            title=f"DSO, days, {figures.currency}",
        ),
        "cei": line_chart(
            months, [("CEI %", [m.cei for m in figures.months])], title=f"CEI per month, {figures.currency}"
        ),
    }


@blueprint.get("/overview")
@requires("view", _users)
def overview() -> str:
    data = _overview()
    charts = {
        key: [(f, _charts(f)) for f in group]
        for key, group in [("together", data.together), *data.connections.items()]
    }
    charts["reporting"] = [(data.reporting, _charts(data.reporting))] if data.reporting else []
    return render_template(
        "overview.html", user=g.user, data=data, charts=charts, dso_months=DSO_MONTHS, active="overview"
    )


def _figures_json(f: CurrencyFigures) -> dict[str, Any]:
    return {
        "currency": f.currency,
        "open_ar": _amount(f.open_ar),
        "overdue_ar": _amount(f.overdue_ar),
        "aging": {label: {"invoices": n, "amount": _amount(a)} for label, (n, a) in f.aging.items()},
        "months": [
            {
                "month": m.month.strftime("%Y-%m"),
                "ending_ar": _amount(m.ending_ar),
                "overdue_ar": _amount(m.overdue_ar),
                "credit_sales": _amount(m.credit_sales),
                "dso_simple": _num(m.dso),
                "dso_count_back": _num(m.count_back.days),
                "dso_count_back_complete": m.count_back.complete,
                "best_possible_dso": _num(m.best_possible_dso),
                "average_days_delinquent": _num(m.average_days_delinquent),
                "cei": _num(m.cei),
            }
            for m in f.months
        ],
    }


def _amount(value: Decimal) -> str:
    """An amount with cents, or with as many places as it has beyond them (ten-thousandths at most)."""
    cents = value.quantize(Decimal("0.01"))
    return str(cents if cents == value else value.normalize())


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@blueprint.get("/overview.json")
@requires("view", _users)
def overview_json() -> Response:
    data = _overview()
    return jsonify(
        {
            "as_of": data.as_of.isoformat(),
            "buckets": [b.label for b in data.buckets],
            "together": [_figures_json(f) for f in data.together],
            "reporting": None
            if data.reporting is None
            else {
                **_figures_json(data.reporting),
                "rates": data.rates_used,
                "not_converted": data.unconverted,
            },
            "connections": {name: [_figures_json(f) for f in fs] for name, fs in data.connections.items()},
            "operations": {
                name: {
                    "match_results": ops.match_results,
                    "dunning": ops.dunning,
                    "parked_writes": ops.parked_writes,
                    "pending_writes": ops.pending_writes,
                    "quarantined": ops.quarantined,
                    "last_run": ops.last_run,
                }
                for name, ops in data.operations.items()
            },
        }
    )


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
        )
    except CallError as exc:
        flash(f"{customer_id}: {exc}", "error")
        return cast(Response, redirect(url_for("workspace.worklist")))
    flash(f"{customer_id} [{connection}]: {said}; the next cycle honours it.", "ok")
    return cast(Response, redirect(url_for("workspace.worklist")))


# -- exports ------------------------------------------------------------------------------------------


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    answer = Response(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return answer


@blueprint.get("/overview.csv")
@requires("view", _users)
def overview_csv() -> Response:
    data = _overview()
    rows: list[list[Any]] = []
    for scope, group in [("all connections", data.together), *data.connections.items()]:
        for f in group:
            for label, (n, amount) in f.aging.items():
                rows.append([data.as_of.isoformat(), scope, f.currency, label, n, _amount(amount)])
    return _csv("aging.csv", ["as_of", "scope", "currency", "bucket", "invoices", "open_amount"], rows)


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


# -- customers ----------------------------------------------------------------------------------------


@blueprint.get("/customers")
@requires("view", _users)
def customers() -> Any:
    from service.workspace.customers import find_customers

    ws = _ws()
    search = request.args.get("q", "")[:100]
    found = [(name, find_customers(ws.store, name, search)) for name in ws.connections]
    if request.args.get("format") == "csv":
        rows = [[name, c.remote_id, c.name, c.email or "", c.phone or ""] for name, cs in found for c in cs]
        return _csv("customers.csv", ["connection", "id", "name", "email", "phone"], rows)
    return render_template("customers.html", user=g.user, found=found, search=search, active="customers")


@blueprint.get("/customers/<connection>/<customer_id>")
@requires("view", _users)
def customer(connection: str, customer_id: str) -> Any:
    from service.workspace.customers import statement

    ws = _ws()
    if connection not in ws.connections:
        abort(404, description=f"no connection {connection!r}")
    found = statement(ws.store, connection, customer_id, ws.today())
    if found is None:
        abort(404, description=f"no customer {customer_id} in {connection}")
    if request.args.get("format") == "csv":
        today = ws.today()
        rows = [
            [
                i.number or i.remote_id,
                i.issue_date,
                i.due_date or "",
                (today - (i.due_date or i.issue_date)).days,
                i.currency,
                i.open_amount,
            ]
            for i in found.open_invoices
        ]
        return _csv(
            f"statement-{customer_id}.csv",
            ["invoice", "issued", "due", "days_overdue", "currency", "open"],
            rows,
        )
    if request.args.get("format") == "pdf":
        from service.workspace.statement_pdf import statement_pdf

        answer = Response(statement_pdf(found, connection), content_type="application/pdf")
        answer.headers["Content-Disposition"] = f'attachment; filename="statement-{customer_id}.pdf"'
        return answer
    return render_template(
        "customer.html", user=g.user, connection=connection, s=found, today=ws.today(), active="customers"
    )


# -- dunning ------------------------------------------------------------------------------------------


@blueprint.get("/dunning")
@requires("view", _users)
def dunning() -> str:
    from service.workspace.dunning import board

    ws = _ws()
    boards = [board(ws.store, name, ws.clock()) for name in ws.connections]
    return render_template("dunning.html", user=g.user, boards=boards, active="dunning")


@blueprint.post("/dunning/<key>/<decision>")
@requires("dunning_decide", _users)
def dunning_decision(key: str, decision: str) -> Response:
    from service.workspace.dunning import DecisionError, decide

    if decision not in ("mark-sent", "resend"):
        abort(404, description=f"no decision {decision!r}: mark-sent or resend")
    ws = _ws()
    try:
        row = decide(
            ws.store,
            key,
            resend=decision == "resend",
            by=g.user.username,
            note=request.form.get("note", "")[:500],
            now=ws.clock(),
        )
    except DecisionError as exc:
        flash(str(exc), "error")
        return cast(Response, redirect(url_for("workspace.dunning")))
    said = "will be sent at the next cycle" if decision == "resend" else "recorded as sent; never sent again"
    flash(f"{key} ({row.customer_id}): {said}.", "ok")
    return cast(Response, redirect(url_for("workspace.dunning")))


# -- the invoices behind a figure ---------------------------------------------------------------------


@blueprint.get("/invoices")
@requires("view", _users)
def invoices() -> str:
    from analytics.aging import buckets_from_edges, due_date_ranges
    from mapping.models import Invoice, Stream
    from service.workspace.overview import REFRESH_PER_VIEW
    from store.insights import open_invoice_ids, refresh

    ws = _ws()
    today = ws.today()
    currency = request.args.get("currency", "")
    label = request.args.get("bucket", "")
    try:
        ranges = {lbl: (lo, hi) for lbl, lo, hi in due_date_ranges(today, buckets_from_edges(_edges()))}
    except ValueError as exc:
        abort(400, description=f"buckets: {exc}")
    # Besides the buckets: all open invoices, and all overdue ones (what the overview's totals hold).
    ranges["open"] = (None, None)
    ranges["overdue"] = (None, today - timedelta(days=1))
    if label not in ranges:
        abort(404, description=f"no aging bucket {label!r}")
    due_from, due_to = ranges[label]
    names = connection_names(ws, request.args.getlist("connection"))
    shown: list[tuple[str, Invoice]] = []
    total = 0
    for name in names:
        refresh(ws.store, name, max_records=REFRESH_PER_VIEW, margin=timedelta(0))
        ids, count = open_invoice_ids(ws.store, name, currency, due_from=due_from, due_to=due_to)
        total += count
        for remote_id in ids:
            record = ws.store.get_record(name, Stream.INVOICES, remote_id)
            if isinstance(record, Invoice):
                shown.append((name, record))
    return render_template(
        "invoices.html", user=g.user, shown=shown, total=total, label=label, currency=currency, today=today,
        names=names, active="overview",
    )  # fmt: skip
