"""Many QuickBooks Online sandbox companies served by one process, each under a path of its own.

A :class:`QuickBooksSandbox` is one company (one realm id, one OAuth app). Here each company's app
is mounted under ``/c{index}`` of one waitress server, so a connection's ``base_url`` and
``token_url`` name its company and every company keeps its own tokens, data and request log.

Run as ``python -m benchmarks.qbo_companies --companies 200``: it prints ``serving PORT`` once
every company answers, then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from sandboxes.quickbooks.app import create_app
from sandboxes.quickbooks.server import QuickBooksSandbox
from sandboxes.serving import BackgroundServer

__all__ = ["REFRESH_TOKEN", "company_settings", "main"]

# Every company accepts this refresh token once; each connection then rotates its own in the store.
REFRESH_TOKEN = "workers-benchmark-refresh-token"
_FIRST_REALM = 9130355000


def _prefix(index: int) -> str:
    return f"/c{index:04d}"


def company_settings(port: int, index: int, secret_reference: str) -> dict[str, str]:
    """The QuickBooks connection settings for company ``index`` of the server on ``port``."""
    base = f"http://127.0.0.1:{port}{_prefix(index)}"
    return {
        "base_url": base,
        "token_url": f"{base}/oauth2/v1/tokens/bearer",
        "auth_url": f"{base}/connect/oauth2",
        "realm_id": str(_FIRST_REALM + index),
        "client_id": "sandbox-client",
        "client_secret": secret_reference,
        "collection_status_field_id": "1",
    }


def serve(companies: int, port: int, threads: int) -> BackgroundServer:
    """Build ``companies`` demo companies and serve them all on ``port``; returns the running server."""
    apps: dict[str, Any] = {}
    for index in range(companies):
        # Throttling off as in the other benchmarks: the figures are arbridge's, not Intuit's limits.
        company = QuickBooksSandbox(
            seed="demo", realm_id=str(_FIRST_REALM + index), throttle=False, refresh_grace_seconds=3600
        )
        company.issue_refresh_token(REFRESH_TOKEN)
        apps[_prefix(index)] = create_app(company)
    return BackgroundServer(
        DispatcherMiddleware(NotFound(), apps), port=port, threads=threads, name="qbo-companies"
    ).start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free one")
    parser.add_argument("--threads", type=int, default=8, help="requests served at once")
    args = parser.parse_args()
    server = serve(args.companies, args.port, args.threads)
    print(f"serving {server.port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.close()
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    sys.exit(main())
