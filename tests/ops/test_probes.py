"""Liveness and readiness probes tell an orchestrator whether the daemon is stuck or cannot sync."""

from __future__ import annotations

from collections.abc import Callable

import requests

from service.http import Health, OpsServer
from store import StateStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_healthz_turns_503_when_the_loop_stops_making_progress(make_server: Callable[..., OpsServer]) -> None:
    clock = FakeClock()
    health = Health(stall_after_s=300, clock=clock)
    server = make_server(health=health)

    clock.now += 299
    fresh = requests.get(f"{server.url}/healthz", timeout=5)
    clock.now += 2
    stalled = requests.get(f"{server.url}/healthz", timeout=5)
    health.beat()
    recovered = requests.get(f"{server.url}/healthz", timeout=5)

    assert fresh.status_code == 200
    assert stalled.status_code == 503
    assert stalled.json() == {"status": "stalled", "last_progress_age_s": 301.0}
    assert recovered.status_code == 200


def test_readyz_reports_a_connection_needing_reauth(
    make_server: Callable[..., OpsServer], store: StateStore
) -> None:
    server = make_server()
    before = requests.get(f"{server.url}/readyz", timeout=5)
    store.set_needs_reauth("acme-qbo", "invalid_grant: refresh token revoked by jane.doe@example.com")
    after = requests.get(f"{server.url}/readyz", timeout=5)

    assert before.status_code == 200 and before.json() == {"ready": True, "reasons": []}
    assert after.status_code == 503
    assert after.json() == {"ready": False, "reasons": ["connection 'acme-qbo' needs re-authentication"]}
    # The ERP's message can name a person; the unauthenticated probe does not repeat it.
    assert "jane.doe" not in after.text


def test_readyz_reports_an_unreachable_store(
    make_server: Callable[..., OpsServer], store: StateStore
) -> None:
    server = make_server()
    store.engine.dispose()
    store.ping = lambda: False  # type: ignore[method-assign]
    answer = requests.get(f"{server.url}/readyz", timeout=5)
    assert answer.status_code == 503
    assert answer.json()["reasons"] == ["state store unreachable"]
