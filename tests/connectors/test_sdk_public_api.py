"""The names integrators import from the connector SDK: a change here is deliberate."""

from __future__ import annotations

from types import ModuleType

import pytest

import connectors.base
import connectors.conformance
import connectors.limits
import connectors.rest

PUBLIC = {
    connectors.base: [
        "AuthError",
        "BadRecordError",
        "Capabilities",
        "CheckResult",
        "ConflictError",
        "Connector",
        "ConnectorContext",
        "ConnectorError",
        "ConnectorSettings",
        "Cursor",
        "ErrorKind",
        "KeyValueStore",
        "MemoryKeyValueStore",
        "OutboundOp",
        "Page",
        "PermanentError",
        "RateLimiter",
        "Reject",
        "ThrottledError",
        "TlsError",
        "TransientError",
        "WriteResult",
        "classify_http",
    ],
    connectors.conformance: [
        "ConformanceSuite",
        "ConformanceTarget",
        "RULES",
        "conformance_tests",
        "load_manifest",
        "manifest_path",
        "manifest_problems",
        "quality_problems",
    ],
    connectors.limits: ["RateLimiter", "forget_limiters", "shared_limiter"],
    connectors.rest: [
        "Backoff",
        "MockTransport",
        "Paged",
        "RestClient",
        "RestSession",
        "cursor_token_pages",
        "fake_response",
        "next_link_pages",
        "offset_pages",
        "page_number_pages",
        "redact",
        "session_for",
    ],
}


@pytest.mark.parametrize("module", list(PUBLIC), ids=[m.__name__ for m in PUBLIC])
def test_exported_members(module: ModuleType) -> None:
    assert sorted(module.__all__) == PUBLIC[module]
    assert all(hasattr(module, name) for name in module.__all__)


def test_every_public_function_and_class_of_the_sdk_is_documented() -> None:
    undocumented = [
        f"{module.__name__}.{name}"
        for module in PUBLIC
        for name in module.__all__
        if callable(getattr(module, name)) and not (getattr(module, name).__doc__ or "").strip()
    ]
    assert not undocumented, f"public SDK names without a docstring: {undocumented}"
