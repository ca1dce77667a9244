"""Fixtures for the QuickBooks sandbox tests: a running sandbox and an authorised HTTP session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qbo_sandbox_support import Api, FakeClock

from sandboxes.quickbooks import QuickBooksSandbox


@pytest.fixture(autouse=True)
def _vendor_specs(specs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sandbox started here reads Intuit's schema from where the ``specs_dir`` fixture found it."""
    monkeypatch.setenv("ARBRIDGE_SPECS", str(specs_dir))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock, specs_dir: Path) -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox(clock=clock, specs=specs_dir) as running:
        yield running


@pytest.fixture
def api(sandbox: QuickBooksSandbox) -> Api:
    return Api(sandbox)
