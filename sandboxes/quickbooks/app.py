"""The HTTP side of the QuickBooks sandbox: a Flask app with Intuit's URL layout, served by waitress.

Waitress hands the app whole bodies only, so a request cut short by a dying client is never acted
on (QuickBooks does not act on one either: it waits for the rest and times out).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandboxes.quickbooks import render
from sandboxes.quickbooks.faults import system_fault

if TYPE_CHECKING:
    from sandboxes.quickbooks.server import QuickBooksSandbox

__all__ = ["create_app"]


def _params(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}


def _answer(status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=status, content_type=content_type)
    response.headers["intuit_tid"] = f"sandbox-{time.monotonic_ns()}"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def create_app(sandbox: QuickBooksSandbox) -> Flask:
    """The Flask app answering for ``sandbox``: OAuth endpoints, discovery, and the v3 API."""
    app = Flask("quickbooks-sandbox")

    @app.before_request
    def remember() -> None:
        params = _params(request.query_string.decode("latin-1"))
        g.params = params
        g.log_entry = {
            "method": request.method,
            "path": request.path,
            "query": params,
            "requestid": params.get("requestid"),
            "status": 500,
            "time": sandbox.clock().isoformat(),
        }

    @app.after_request
    def log(response: Response) -> Response:
        # Logged before the answer leaves, so a client reading the log after its reply finds it.
        entry = g.get("log_entry")
        if entry is not None:
            entry["status"] = response.status_code
            sandbox.requests_log.append(entry)
        return response

    @app.get("/.well-known/openid_configuration")
    def discovery() -> Response:
        return _answer(200, json.dumps(sandbox.discovery()).encode(), "application/json")

    @app.get("/connect/oauth2")
    def consent() -> Response:
        return _answer(302, b"", "text/plain", {"Location": sandbox.authorize_redirect(g.params)})

    @app.post("/oauth2/v1/tokens/<action>")
    def tokens(action: str) -> Response:
        form = dict(g.params)
        body = request.get_data()
        if "json" in (request.content_type or ""):
            try:
                decoded = json.loads(body or b"{}") or {}
            except ValueError:
                decoded = {}
            if isinstance(decoded, dict):
                form.update({k: str(v) for k, v in decoded.items()})
        else:
            form.update(_params(body.decode("utf-8", "replace")))
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, payload = sandbox.handle_oauth(request.path, form, headers)
        return _answer(status, json.dumps(payload).encode(), "application/json")

    @app.route("/<path:rest>", methods=["GET", "POST"])
    def api(rest: str) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = sandbox.handle_api(request.method, request.path, g.params, headers, request.get_data())
        if answer.raw is not None:
            raw = answer.raw
            return _answer(raw.status, raw.body, raw.content_type, raw.headers)
        payload = answer.payload or {}
        accept = headers.get("accept", "").lower()
        if "xml" in accept and "json" not in accept:
            return _answer(
                answer.status, render.to_xml(payload, sandbox.intuit), "application/xml;charset=UTF-8"
            )
        return _answer(answer.status, render.to_json(payload), "application/json;charset=UTF-8")

    @app.errorhandler(Exception)
    def failure(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return exc
        # A bug in the sandbox still answers, like QuickBooks' own 500.
        app.logger.exception("sandbox failure")
        fault = system_fault(f"System Failure Error: {type(exc).__name__}: {exc}")
        body = render.to_json(render.fault_payload(fault, sandbox.response_time()))
        return _answer(500, body, "application/json")

    return app
