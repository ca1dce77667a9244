"""Fixtures of the Dynamics GP connector's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.connectors.dynamics_gp.gp_support import SENTINEL_PASSWORD, ignore_without_odbc, new_sandbox

collect_ignore_glob = ignore_without_odbc()

if TYPE_CHECKING:
    from connectors.dynamics_gp import DynamicsGpConnector
    from sandboxes.dynamics_gp import GpSandbox


@pytest.fixture
def gp() -> Iterator[GpSandbox]:
    """The demo company: ten customers, forty invoices, credit memos, payments applied in GP."""
    sandbox = new_sandbox("demo")
    try:
        yield sandbox
    finally:
        sandbox.drop()
        sandbox.close()


def connector_for(sandbox: GpSandbox, login: str, **settings: object) -> DynamicsGpConnector:
    from connectors.base import ConnectorContext
    from connectors.dynamics_gp import DynamicsGpConnector

    built = DynamicsGpConnector.create(
        {
            "connection_string": sandbox.connection_string(user=login),
            "password": SENTINEL_PASSWORD,
            "schema": sandbox.schema,
            **settings,
        },
        ConnectorContext("gp-test"),
    )
    assert isinstance(built, DynamicsGpConnector)
    return built


@pytest.fixture
def login(gp: GpSandbox) -> str:
    return gp.create_login()
