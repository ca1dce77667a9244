"""The page behind each of the overview's DSO, Best Possible DSO, ADD and CEI figures: its documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Response, abort, g, jsonify, render_template, request

from service.workspace import connection_names
from service.workspace.auth import requires
from service.workspace.month_documents import DocumentList, MonthDocuments, month_documents
from service.workspace.overview import DSO_MONTHS, REFRESH_PER_VIEW, build_overview
from service.workspace.pages import _amount, _num, _users, _ws, blueprint
from store.insights import refresh

__all__: list[str] = []


def _month_documents() -> tuple[MonthDocuments, Any]:
    ws = _ws()
    today = ws.today()
    try:
        month = datetime.strptime(request.args.get("month", f"{today:%Y-%m}"), "%Y-%m").date()
    except ValueError:
        abort(400, description="month: expected YYYY-MM")
    currency = request.args.get("currency", "")
    names = connection_names(ws, request.args.getlist("connection"))
    for name in names:
        refresh(ws.store, name, max_records=REFRESH_PER_VIEW, margin=timedelta(0))
    try:
        found = month_documents(ws.store, names, currency, month, today)
    except ValueError as exc:
        abort(404, description=f"month: {exc}")
    # The overview's own figures of that month, to say where they differ (a roll-back below zero).
    overview = build_overview(ws.store, names, today, refresh_limit=0)
    shown = next(
        (m for f in overview.together if f.currency == currency for m in f.months if m.month == found.month),
        None,
    )
    return found, shown


@blueprint.get("/overview/month")
@requires("view", _users)
def month_figures() -> str:
    found, shown = _month_documents()
    return render_template(
        "month.html", user=g.user, d=found, shown=shown, dso_months=DSO_MONTHS, today=_ws().today(),
        active="overview",
    )  # fmt: skip


def _list_json(docs: DocumentList) -> dict[str, Any]:
    return {
        "title": docs.title,
        "count": docs.count,
        "amount": _amount(docs.amount),
        "amount_of": docs.amount_of,
        "complete": docs.complete,
        "documents": [
            {
                "connection": name,
                "type": doc.stream,
                "id": doc.remote_id,
                "date": doc.day.isoformat(),
                "due": doc.due.isoformat() if doc.due else None,
                "amount": _amount(doc.open if docs.amount_of == "open" else doc.flow),
            }
            for name, doc in docs.rows
        ],
    }


@blueprint.get("/overview/month.json")
@requires("view", _users)
def month_figures_json() -> Response:
    d, _ = _month_documents()
    return jsonify(
        {
            "month": f"{d.month:%Y-%m}",
            "end": d.end.isoformat(),
            "currency": d.currency,
            "connections": d.connections,
            "figures": {
                "ending_ar": _amount(d.ending_ar),
                "not_due_ar": _amount(d.not_due_ar),
                "dso_simple": _num(d.dso),
                "dso_count_back": _num(d.count_back.days),
                "best_possible_dso": _num(d.best_possible_dso),
                "average_days_delinquent": _num(d.average_days_delinquent),
                "cei": _num(d.cei),
            },
            "open_today": _list_json(d.open_today),
            "issued_since": _list_json(d.issued_since),
            "applied_since": _list_json(d.applied_since),
            "credit_sales": [
                {"month": f"{m:%Y-%m}", "days": days, **_list_json(s)} for m, days, s in d.sales
            ],
            "not_due": _list_json(d.not_due),
            "collected": _list_json(d.collected),
        }
    )
