"""The HTTP side of the NetSuite sandbox: a Flask app serving the WSDL and the SOAP endpoint.

Waitress hands the app whole bodies only, so an envelope cut short by a dying client is never
acted on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from sandboxes.netsuite.schema import VERSION

if TYPE_CHECKING:
    from sandboxes.netsuite.server import NetSuiteSandbox

__all__ = ["create_app"]

XML = "text/xml; charset=utf-8"


def create_app(sandbox: NetSuiteSandbox) -> Flask:
    """The Flask app answering for ``sandbox``."""
    app = Flask("netsuite-sandbox")

    @app.get(f"/wsdl/v{VERSION}_0/<path:name>")
    def wsdl(name: str) -> Response:
        status, data, content_type = sandbox.serve_file(name)
        return Response(data, status=status, content_type=content_type)

    @app.post(f"/services/NetSuitePort_{VERSION}")
    def soap() -> Response:
        status, data = sandbox.handle_soap(request.get_data(), request.headers.get("SOAPAction"))
        return Response(data, status=status, content_type=XML)

    @app.errorhandler(Exception)
    def failure(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return exc
        app.logger.exception("sandbox failure")
        return Response(sandbox.unexpected_fault(exc), status=500, content_type=XML)

    return app
