"""The conformance kit against the SAP Business One Service Layer sandbox, over real sockets."""

from __future__ import annotations

from pathlib import Path

from connectors.conformance import conformance_tests, quality_problems
from tests.connectors.sap_business_one.b1_target import SapBusinessOneTarget

TestSapBusinessOneConformance = conformance_tests(SapBusinessOneTarget)


def test_quality_checklist_is_complete() -> None:
    path = Path(__file__).resolve().parents[3] / "connectors" / "sap_business_one" / "quality.yaml"
    assert quality_problems(path) == []
