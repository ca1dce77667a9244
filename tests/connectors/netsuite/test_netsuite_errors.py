"""Governance, authentication and fault classification."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from connectors.errors import AuthError, PermanentError, ThrottledError, TransientError
from connectors.netsuite import NetSuiteConnector
from connectors.netsuite.client import classify_fault
from mapping.models import Stream
from sandboxes.netsuite import NetSuiteSandbox

SENTINEL = "s3cr3t-sentinel-value-9f2c"


@pytest.mark.parametrize("kind", ["concurrent", "request", "session"])
def test_concurrency_fault_is_throttling_and_retried(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector, kind: str
) -> None:
    waits: list[float] = []
    connector.client.sleep = waits.append
    sandbox.exceed_concurrency(2, kind=kind)
    records = [r for p in connector.read(Stream.CUSTOMERS, None) for r in p.records]
    assert len(records) == len(sandbox.ids("customer"))
    assert [r.status for r in sandbox.requests_log[:3]] == [500, 500, 200]
    assert len(waits) == 2


def test_throttling_that_outlasts_the_retries_is_raised_as_throttled(
    sandbox: NetSuiteSandbox, make_connector: Callable[..., NetSuiteConnector]
) -> None:
    conn = make_connector(max_retries=3)
    sandbox.exceed_concurrency(10)
    with pytest.raises(ThrottledError) as info:
        list(conn.read(Stream.INVOICES, None))
    assert info.value.erp_code == "WS_REQUEST_BLOCKED"
    assert sandbox.calls() == 3


def test_client_keeps_under_its_concurrency_cap(sandbox: NetSuiteSandbox, make_connector) -> None:
    import threading

    sandbox.concurrency_limit = 2
    sandbox.latency = 0.05
    conn = make_connector(max_concurrency=2, max_retries=1)
    assert conn.client.zeep is not None  # built first, so every thread below sends at once
    errors: list[Exception] = []

    def pull() -> None:
        try:
            list(conn.read(Stream.CUSTOMERS, None))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(r.status == 200 for r in sandbox.requests_log)


def test_bad_token_signature_is_an_auth_failure(
    sandbox: NetSuiteSandbox, make_connector: Callable[..., NetSuiteConnector]
) -> None:
    conn = make_connector(token_secret="not-the-secret")
    with pytest.raises(AuthError) as info:
        list(conn.read(Stream.CUSTOMERS, None))
    assert info.value.erp_code == "INVALID_LOGIN_CREDENTIALS"
    # The failure is remembered: no second login attempt hammers the account until an admin acts.
    with pytest.raises(AuthError):
        list(conn.read(Stream.INVOICES, None))
    assert sandbox.calls() == 1
    result = conn.check()
    assert not result.ok and "token" in result.message
    assert sandbox.calls() == 2


def test_check_passes_with_good_credentials(connector: NetSuiteConnector) -> None:
    result = connector.check()
    assert result.ok and result.details["customers"] == "16"


def test_secrets_never_show_in_repr_errors_or_settings(
    sandbox: NetSuiteSandbox, make_connector: Callable[..., NetSuiteConnector]
) -> None:
    conn = make_connector(consumer_secret=SENTINEL, token_secret=SENTINEL)
    with pytest.raises(AuthError) as info:
        list(conn.read(Stream.CUSTOMERS, None))
    shown = " ".join(
        [repr(conn), str(conn.settings), repr(conn.settings), str(info.value), repr(conn.client.credentials)]
    )
    assert SENTINEL not in shown
    assert all(SENTINEL.encode() not in r.body for r in sandbox.requests_log)


def test_schema_violation_is_a_permanent_error_not_a_retry(
    sandbox: NetSuiteSandbox, connector: NetSuiteConnector
) -> None:
    good = connector.client.envelope("searchMoreWithId", searchId="WEBSERVICES_1", pageIndex=2)
    bad = good.replace(b"pageIndex>", b"pageNumber>")
    with pytest.raises(PermanentError) as info:
        connector.client._send("searchMoreWithId", bad)
    assert "envelope" in str(info.value)


@pytest.mark.parametrize(
    ("sample", "family"),
    [
        ("login/failure_concurrent_requests.xml", ThrottledError),
        ("login/failure_invalid_credentials.xml", AuthError),
    ],
)
def test_real_fault_samples_are_classified(specs_dir: Path, sample: str, family: type) -> None:
    path = specs_dir / "netsuite" / "samples" / "netsweet-netsuite-gem" / sample
    error = classify_fault(etree.parse(str(path)).getroot())
    assert type(error) is family


def test_unexpected_error_fault_is_transient() -> None:
    envelope = etree.fromstring(
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        b"<soapenv:Fault><faultcode>soapenv:Server.userException</faultcode><faultstring>x</faultstring>"
        b'<detail><f:unexpectedErrorFault xmlns:f="urn:faults_2019_1.platform.webservices.netsuite.com">'
        b"<f:code>UNEXPECTED_ERROR</f:code><f:message>An unexpected error occurred.</f:message>"
        b"</f:unexpectedErrorFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    assert isinstance(classify_fault(envelope), TransientError)
