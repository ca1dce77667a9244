"""Fixtures for the QuickBooks sandbox tests: a running sandbox and an authorised HTTP session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qbo_sandbox_support import Api, FakeClock

from sandboxes.quickbooks import QuickBooksSandbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox(clock=clock) as running:
        yield running


@pytest.fixture
def api(sandbox: QuickBooksSandbox) -> Api:
    return Api(sandbox)
