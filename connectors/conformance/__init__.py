"""The connector conformance kit: named behavioural tests every connector must pass.

Implement a ``ConformanceTarget`` for your connector and its test ERP, then in a test module::

    from connectors.conformance import conformance_tests

    TestAcmeConformance = conformance_tests(AcmeTarget)
"""

from connectors.conformance.manifest import load_manifest, manifest_path, manifest_problems
from connectors.conformance.quality import RULES, quality_problems
from connectors.conformance.suite import ConformanceSuite, conformance_tests
from connectors.conformance.target import ConformanceTarget

__all__ = [
    "RULES",
    "ConformanceSuite",
    "ConformanceTarget",
    "conformance_tests",
    "load_manifest",
    "manifest_path",
    "manifest_problems",
    "quality_problems",
]
