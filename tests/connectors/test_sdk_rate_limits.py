"""The SDK keeps every connector under its ERP's declared request budget, shared per account."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence
from typing import ClassVar

import pytest
import requests
from zeep.transports import Transport

from connectors.base import Capabilities, CheckResult, Connector, ConnectorContext, Cursor, Page
from connectors.limits import RateLimiter, forget_limiters, shared_limiter
from connectors.quickbooks import QuickBooksConnector
from connectors.rest import MockTransport, RestSession, fake_response, session_for
from mapping.models import Stream


class _BudgetedConnector(Connector):
    name: ClassVar[str] = "budgeted"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset({Stream.INVOICES}), requests_per_minute=120, max_concurrency=3
    )

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        yield from ()


class _SameCompanyConnector(_BudgetedConnector):
    def budget_key(self) -> str:
        return "budgeted:company-42"


@pytest.fixture(autouse=True)
def _fresh_budgets() -> Iterator[None]:
    forget_limiters()
    yield
    forget_limiters()


def _window_peak(stamps: Sequence[float], seconds: float = 60.0) -> int:
    """The most requests any window of ``seconds`` saw (``stamps`` in order)."""
    return max(bisect.bisect_left(stamps, t + seconds) - i for i, t in enumerate(stamps))


def test_a_connector_gets_a_limiter_built_from_its_declared_capabilities() -> None:
    connector = _BudgetedConnector.create({}, ConnectorContext("acme"))
    assert connector.limiter.per_minute == 120
    assert connector.limiter.concurrency == 3
    # The same connection asks again: the same budget, not a fresh one.
    assert connector.limiter is _BudgetedConnector.create({}, ConnectorContext("acme")).limiter


def test_two_connections_to_one_erp_company_spend_one_budget() -> None:
    first = _SameCompanyConnector.create({}, ConnectorContext("acme-ar"))
    second = _SameCompanyConnector.create({}, ConnectorContext("acme-cash"))
    other = _BudgetedConnector.create({}, ConnectorContext("globex"))
    assert first.limiter is second.limiter
    assert other.limiter is not first.limiter


def test_a_process_given_half_an_accounts_budget_spends_half() -> None:
    connector = _BudgetedConnector.create({}, ConnectorContext("acme", budget_share=0.5))
    assert connector.limiter.per_minute == 60
    assert connector.limiter.concurrency == 1


def test_a_budget_of_any_size_never_lets_more_into_a_minute_than_declared() -> None:
    for per_minute in (1, 7, 60, 500, 4000):
        now = [0.0]
        stamps: list[float] = []

        def sleep(seconds: float, now: list[float] = now) -> None:
            now[0] += seconds

        limiter = RateLimiter(per_minute, None, clock=lambda now=now: now[0], sleep=sleep)
        for _ in range(per_minute * 3 + 2):
            with limiter:
                stamps.append(now[0])
        assert _window_peak(stamps) <= per_minute, f"{per_minute}/min let {_window_peak(stamps)} through"
        # And the budget is used, not wasted: at least 85% of it over a few minutes.
        spent_per_minute = (len(stamps) - 1) / stamps[-1] * 60
        assert spent_per_minute >= 0.85 * per_minute, f"{per_minute}/min spent {spent_per_minute:.1f}"


def test_a_connector_without_a_known_budget_is_not_slowed_down() -> None:
    limiter = RateLimiter(None, None, sleep=lambda s: pytest.fail(f"slept {s}s without a budget"))
    for _ in range(10_000):
        with limiter:
            pass
    assert limiter.taken == 10_000


def test_threads_of_one_process_never_exceed_the_concurrency_limit() -> None:
    limiter = shared_limiter("acme:threads", None, 3)
    inside, peak = [0], [0]
    lock = threading.Lock()
    release = threading.Event()
    entered = threading.Semaphore(0)

    def call() -> None:
        with limiter:
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            entered.release()
            release.wait(5)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for _ in range(3):
        assert entered.acquire(timeout=5)
    # Three are in; the other five must wait however long the three take.
    assert not entered.acquire(timeout=0.3)
    release.set()
    for t in threads:
        t.join(5)
    assert peak[0] == 3


def test_every_request_of_a_rest_session_waits_for_the_budget() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(60, 2, burst=5, clock=lambda: now[0], sleep=sleep)
    transport = MockTransport(lambda request: fake_response(200, json={"ok": True}))
    session = RestSession(limiter=limiter, transport=transport)
    stamps = []
    for _ in range(15):
        session.get("https://erp.example/api/invoices")
        stamps.append(now[0])
    assert len(transport.requests) == 15
    assert limiter.taken == 15
    assert stamps[4] == 0.0, "the burst goes through at once"
    assert stamps[-1] >= 10 * 60 / 55 - 0.01, "the rest is paced at the refill rate"


def test_a_zeep_transport_built_on_the_session_is_limited_too() -> None:
    limiter = RateLimiter(100, 1)
    answered = []

    def handler(request: requests.PreparedRequest) -> requests.Response:
        answered.append(request.url)
        return fake_response(200, text="<ok/>", headers={"Content-Type": "text/xml"})

    session = RestSession(limiter=limiter, transport=MockTransport(handler))
    Transport(session=session).post("https://erp.example/soap", "<envelope/>", {"SOAPAction": "x"})
    assert answered == ["https://erp.example/soap"]
    assert limiter.taken == 1


def test_session_for_a_connector_uses_its_account_budget() -> None:
    connector = _SameCompanyConnector.create({}, ConnectorContext("acme"))
    transport = MockTransport(lambda request: fake_response(204))
    session = session_for(connector, transport=transport)
    session.get("https://erp.example/ping")
    session.get("https://erp.example/ping")
    assert session.limiter is connector.limiter
    assert connector.limiter.taken == 2


def test_quickbooks_spends_the_sdk_budget_of_its_company() -> None:
    settings = {
        "realm_id": "9130",
        "client_id": "app",
        "client_secret": "s3cret",
        "refresh_token": "r3fresh",
        "base_url": "https://sandbox-quickbooks.api.intuit.com",
    }
    first = QuickBooksConnector.create(settings, ConnectorContext("ar"))
    second = QuickBooksConnector.create(settings, ConnectorContext("cash"))
    assert first.client.limiter is second.client.limiter is first.limiter
    assert first.limiter.per_minute == 500 and first.limiter.concurrency == 10
    other = QuickBooksConnector.create({**settings, "realm_id": "7777"}, ConnectorContext("other"))
    assert other.client.limiter is not first.client.limiter
