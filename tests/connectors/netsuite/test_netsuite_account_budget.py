"""NetSuite's concurrency limit is the account's: the SDK's one limiter keeps every connection under it.

NetSuite refuses a request beyond the account's concurrent-request limit with
``ExceededConcurrentRequestLimitFault``. Two connections to one account in one process take their
slots from one budget; two processes on one account each take the share the admin gives them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from config import default_config
from connectors.limits import RateLimiter
from connectors.netsuite import NetSuiteConnector
from engine.runner import make_connector as connector_of
from engine.runner import open_store
from mapping.models import Stream
from sandboxes.netsuite import NetSuiteSandbox
from tests.connectors.netsuite.conftest import settings_for


def pull_at_once(connectors: list[NetSuiteConnector], threads_each: int) -> list[Exception]:
    """Every connector reads its customers from several threads at the same moment."""
    for conn in connectors:
        assert conn.client.zeep is not None  # parsed first, so every thread below sends at once
    errors: list[Exception] = []

    def pull(conn: NetSuiteConnector) -> None:
        try:
            list(conn.read(Stream.CUSTOMERS, None))
        except Exception as exc:  # collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=pull, args=(c,)) for c in connectors for _ in range(threads_each)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_two_connections_to_one_netsuite_account_stay_under_its_concurrency_limit_together(
    sandbox: NetSuiteSandbox, make_connector: Callable[..., NetSuiteConnector]
) -> None:
    sandbox.concurrency_limit = 2
    sandbox.latency = 0.3
    first, second = (make_connector(max_retries=1, page_size=5) for _ in range(2))

    errors = pull_at_once([first, second], threads_each=3)

    assert errors == []
    assert sandbox.requests_log and all(r.status == 200 for r in sandbox.requests_log)
    assert isinstance(first.limiter, RateLimiter) and first.limiter is second.limiter


def test_a_connection_given_half_the_account_keeps_half_of_the_requests_in_flight(
    tmp_path: Path, sandbox: NetSuiteSandbox
) -> None:
    # Another process (or integration) uses the other half of the account's four slots.
    sandbox.concurrency_limit = 2
    sandbox.latency = 0.3
    cfg = default_config(
        tmp_path / "state",
        overrides={
            "connections": [
                {
                    "name": "ns",
                    "connector": "netsuite",
                    "budget_share": 0.5,
                    "settings": settings_for(sandbox, max_concurrency=4, max_retries=1, page_size=5),
                }
            ]
        },
    )
    store = open_store(cfg)
    conn = connector_of(cfg.connections[0], store)
    assert isinstance(conn, NetSuiteConnector)
    conn.client.sleep = lambda seconds: None

    errors = pull_at_once([conn], threads_each=6)

    store.close()
    assert errors == []
    assert all(r.status == 200 for r in sandbox.requests_log)
    assert conn.limiter.concurrency == 2
