"""The pytest plugin of the connector conformance kit (entry point ``pytest11: arbridge_conformance``).

Loaded into every pytest run of an environment where arbridge is installed, so it only registers
the ``conformance`` marker; the tests come from ``connectors.conformance.conformance_tests``.
"""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    """Register the marker the generated conformance tests carry (``pytest -m conformance``)."""
    config.addinivalue_line(
        "markers", "conformance: a behavioural test of the arbridge connector conformance kit"
    )
