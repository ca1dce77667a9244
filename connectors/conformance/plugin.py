"""pytest plugin of the conformance kit (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a connector conformance-kit test")
