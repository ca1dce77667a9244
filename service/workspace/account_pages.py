"""The workspace's customers (statements of account) and dunning (reminders to settle)."""

from __future__ import annotations

from typing import Any, cast

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from service.workspace.auth import requires
from service.workspace.pages import _export, _users, _ws, blueprint

__all__: list[str] = []


# -- customers ----------------------------------------------------------------------------------------


@blueprint.get("/customers")
@requires("view", _users)
def customers() -> Any:
    from service.workspace.customers import find_customers

    ws = _ws()
    search = request.args.get("q", "")[:100]
    found = [(name, find_customers(ws.store, name, search)) for name in ws.connections]
    if request.args.get("format") in ("csv", "xlsx"):
        rows = [[name, c.remote_id, c.name, c.email or "", c.phone or ""] for name, cs in found for c in cs]
        return _export("customers", ["connection", "id", "name", "email", "phone"], rows)
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
    if request.args.get("format") in ("csv", "xlsx"):
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
        return _export(
            f"statement-{customer_id}",
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
