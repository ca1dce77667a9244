"""The workspace's blueprint, its guard and filters, and the login, overview and invoice pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
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
from service.workspace.charts import band_chart, bar_chart, line_chart
from service.workspace.forecast_panel import CollectionsForecast, collections_forecast
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
    current_user(ws.users, ws.token, ws.sso)


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
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return url_for("workspace.overview")
    return target


@blueprint.get("/")
def home() -> Response:
    return cast(Response, redirect(url_for("workspace.overview")))


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    ws = _ws()
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""), user=None, sso=ws.sso)
    address = request.remote_addr or "unknown"
    name = request.form.get("username", "").strip()

    def refused(why: str, error: str, status: HTTPStatus) -> Any:
        """A login refused before the password is checked, audited with the reason."""
        ws.store.audit(
            "workspace_login_refused", subject=f"user/{name[:100]}", detail={"address": address, "why": why}
        )
        return render_template(
            "login.html", next=request.form.get("next", ""), user=None, sso=ws.sso, error=error
        ), status

    if ws.sso is not None and not ws.sso.password_login:
        return refused(
            "password login is turned off",
            "Logging in with a password is turned off here: use single sign-on.",
            HTTPStatus.FORBIDDEN,
        )
    if ws.throttle.blocked(address):
        return refused(
            "throttled",
            "Too many failed logins from this address: wait a few minutes.",
            HTTPStatus.TOO_MANY_REQUESTS,
        )
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
            "login.html", next=request.form.get("next", ""), user=None, error=message, sso=ws.sso
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
    forecast = _forecast(data)
    return render_template(
        "overview.html",
        user=g.user,
        data=data,
        charts=charts,
        dso_months=DSO_MONTHS,
        active="overview",
        forecast=forecast,
        forecast_charts=[(p, _forecast_chart(p)) for p in forecast.parts],
    )


def _forecast(data: Overview) -> CollectionsForecast:
    """The next weeks' expected collections of the overview's connections, from their stored models."""
    ws = _ws()
    return collections_forecast(ws.store, list(data.connections), data.as_of, ws.fx_rates(), ws.forecasts)


def _forecast_chart(part: Any) -> Any:
    return band_chart(
        [w.start.strftime("%d %b") for w in part.weeks],
        [w.expected for w in part.weeks],
        [w.low for w in part.weeks],
        [w.high for w in part.weeks],
        title=f"Expected collections per week, {part.currency}, with the 80 % band",
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
            "forecast": _forecast(data).to_json(),
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


# -- exports ------------------------------------------------------------------------------------------


def _export(stem: str, header: list[str], rows: list[list[Any]], fmt: str | None = None) -> Response:
    """A table as CSV or XLSX: ``fmt``, else the ``format`` argument of the request."""
    from service.workspace.exports import table

    try:
        return table(stem, fmt or request.args.get("format", "csv"), header, rows)
    except ValueError as exc:
        abort(400, description=f"format: {exc}")


@blueprint.get("/overview.<fmt>")
@requires("view", _users)
def overview_table(fmt: str) -> Response:
    if fmt not in ("csv", "xlsx"):
        abort(404, description=f"no /overview.{fmt}: csv, xlsx or json")
    data = _overview()
    rows: list[list[Any]] = []
    for scope, group in [("all connections", data.together), *data.connections.items()]:
        for f in group:
            for label, (n, amount) in f.aging.items():
                rows.append([data.as_of, scope, f.currency, label, n, amount])
    return _export("aging", ["as_of", "scope", "currency", "bucket", "invoices", "open_amount"], rows, fmt)


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
