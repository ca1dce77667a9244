"""The conformance kit against the Business Central sandbox, over real sockets."""

from __future__ import annotations

from pathlib import Path

from connectors.conformance import conformance_tests, quality_problems
from tests.connectors.business_central.bc_target import BusinessCentralTarget

TestBusinessCentralConformance = conformance_tests(BusinessCentralTarget)


def test_quality_checklist_is_complete() -> None:
    path = Path(__file__).resolve().parents[3] / "connectors" / "business_central" / "quality.yaml"
    assert quality_problems(path) == []
