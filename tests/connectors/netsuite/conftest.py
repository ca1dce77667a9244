"""Fixtures: a fresh sandbox per test and a connector pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorContext
from connectors.limits import forget_limiters
from connectors.netsuite import NetSuiteConnector
from sandboxes.netsuite import NetSuiteSandbox


@pytest.fixture(autouse=True)
def _vendor_specs(specs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sandbox started here reads Oracle's files from where the ``specs_dir`` fixture found them."""
    monkeypatch.setenv("ARBRIDGE_SPECS", str(specs_dir))


@pytest.fixture(autouse=True)
def _fresh_account_budget() -> Iterator[None]:
    """Each test's connectors start with a fresh request budget for the sandbox's account."""
    forget_limiters()
    yield
    forget_limiters()


@pytest.fixture
def sandbox() -> Iterator[NetSuiteSandbox]:
    with NetSuiteSandbox(seed="demo") as sb:
        yield sb


def settings_for(sb: NetSuiteSandbox, **overrides: Any) -> dict[str, Any]:
    """Connection settings for a sandbox, as an admin would write them.

    The WSDL is the very file the sandbox serves, read where it lies: one zeep parse serves every
    test of the process (the served copy is loaded by the tests that are about it).
    """
    settings: dict[str, Any] = {
        "account": sb.account,
        "consumer_key": sb.consumer_key,
        "consumer_secret": sb.consumer_secret,
        "token_id": sb.token_id,
        "token_secret": sb.token_secret,
        "wsdl_url": sb.files.wsdl.as_uri(),
        "endpoint": sb.url,
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def make_connector(sandbox: NetSuiteSandbox) -> Iterator[Callable[..., NetSuiteConnector]]:
    made: list[NetSuiteConnector] = []

    def make(**overrides: Any) -> NetSuiteConnector:
        conn = NetSuiteConnector.create(settings_for(sandbox, **overrides), ConnectorContext("netsuite-test"))
        assert isinstance(conn, NetSuiteConnector)
        conn.client.sleep = lambda seconds: None  # backoff is asserted on, never waited for
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def connector(make_connector: Callable[..., NetSuiteConnector]) -> NetSuiteConnector:
    return make_connector()


@pytest.fixture
def sandbox_settings() -> Callable[..., dict[str, Any]]:
    """``settings_for`` as a fixture, for tests that start their own sandbox."""
    return settings_for
