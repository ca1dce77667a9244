"""The kit itself: it catches broken connectors, checks manifests and checklists, and stays harmless."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

import connectors
from connectors.base import (
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    OutboundOp,
    Page,
    TransientError,
    WriteResult,
)
from connectors.conformance import (
    RULES,
    ConformanceSuite,
    ConformanceTarget,
    conformance_tests,
    load_manifest,
    manifest_problems,
    quality_problems,
)
from connectors.conformance import plugin as conformance_plugin
from connectors.csv import CsvConnector
from connectors.faulty import FaultyConnector
from connectors.memory import MemoryConnector
from connectors.memory.connector import MemorySettings
from mapping.models import CollectionStatus, CollectionStatusUpdate, Operation, Stream, TargetType

SENTINEL = "sk-live-SENTINEL-kit-0b7d"
NAMED_TESTS = {
    "test_discovery_finds_the_connector_by_entry_point",
    "test_manifest_matches_capabilities",
    "test_every_record_has_a_primary_key_and_aware_cursor_time",
    "test_incremental_resume_returns_only_changed_records",
    "test_idempotent_write_back_applies_once",
    "test_conditional_update_on_a_stale_version_is_a_conflict",
    "test_auth_failure_is_classified_not_retried",
    "test_secrets_never_appear_in_repr_logs_or_errors",
    "test_full_read_returns_every_record_the_erp_holds",
    "test_resumed_read_loses_no_record_sharing_a_timestamp",
    "test_deleted_or_voided_record_arrives_marked_deleted",
    "test_unmappable_record_becomes_a_reject_with_its_field_path",
    "test_throttled_erp_raises_a_throttled_error_with_its_retry_after",
}
_numbers = itertools.count()


# -- deliberately broken connectors ----------------------------------------------------------


class ForgetfulConnector(MemoryConnector):
    """Drops the idempotency key on the floor: every retry lands again."""

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        fresh = [OutboundOp(f"{op.key}-{next(_numbers)}", op.op) for op in ops]
        return [
            WriteResult(op.key, r.ok, r.remote_id, r.version, r.error)
            for op, r in zip(ops, self.erp.apply(fresh), strict=True)
        ]


class BlindWriter(MemoryConnector):
    """Ignores the version the decision was based on."""

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        return self.erp.apply(
            [OutboundOp(o.key, o.op.model_copy(update={"base_version": None})) for o in ops]
        )


class ForgetsTheCursor(MemoryConnector):
    """Reads everything every time."""

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        return super().read(stream, None)


class ChattySettings(MemorySettings):
    api_key_plain: str | None = None


class Chatty(MemoryConnector):
    """Logs its credentials and puts them in error messages."""

    settings_model: ClassVar[type[ConnectorSettings]] = ChattySettings

    def check(self) -> Any:
        self.context.logger.debug("connecting with key %s", self.config.api_key.get_secret_value())  # type: ignore[union-attr]
        return super().check()


class RetriesAuth(MemoryConnector):
    """Turns a refused credential into a retriable error."""

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        if self.erp.auth_rejected:
            raise TransientError("HTTP 401, will retry")
        return super().read(stream, cursor)


class SmallBooks(ConformanceTarget):
    connector_name = "memory"
    connector_class: ClassVar[type[MemoryConnector]] = MemoryConnector

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.erp_name = f"kit-{next(_numbers)}"

    def make_connector(self) -> Connector:
        settings = {"erp": self.erp_name, "customers": 5, "invoices": 12, "credit_memos": 2, "payments": 4}
        settings |= {"page_size": 5, "api_key": SecretStr(SENTINEL)}
        return self.connector_class.create(settings, ConnectorContext("kit"))

    def change_records(self, stream: Stream, n: int) -> list[str]:
        return MemoryConnector.erps[self.erp_name].touch(stream, n, seed=3)

    def sample_operation(self) -> Operation:
        return CollectionStatusUpdate(
            target_type=TargetType.INVOICE, target_id="I0000003", collection_status=CollectionStatus.DISPUTED
        )

    def effects(self, key: str) -> int:
        # Counted per target, so a connector that loses the key is caught applying twice.
        return MemoryConnector.erps[self.erp_name].effects["invoice/I0000003"]

    def make_stale(self, op: Operation) -> None:
        MemoryConnector.erps[self.erp_name].make_stale(op.target_type, op.target_id)

    def secrets(self) -> list[str]:
        return [SENTINEL]

    def reject_auth(self) -> None:
        MemoryConnector.erps[self.erp_name].auth_rejected = True

    def cleanup(self) -> None:
        MemoryConnector.erps.pop(self.erp_name, None)


def target_with(connector_class: type[MemoryConnector], tmp_path: Path) -> SmallBooks:
    target = SmallBooks(tmp_path)
    target.connector_class = connector_class
    return target


@pytest.fixture
def suite() -> ConformanceSuite:
    return conformance_tests(SmallBooks)()  # type: ignore[no-any-return]


# -- the kit catches what it promises to catch --------------------------------------------------


def test_the_kit_passes_a_well_behaved_connector(
    suite: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = SmallBooks(tmp_path)

    suite.test_idempotent_write_back_applies_once(target)
    suite.test_conditional_update_on_a_stale_version_is_a_conflict(SmallBooks(tmp_path))
    suite.test_incremental_resume_returns_only_changed_records(SmallBooks(tmp_path), Stream.INVOICES)
    suite.test_secrets_never_appear_in_repr_logs_or_errors(SmallBooks(tmp_path), caplog)


def test_a_connector_that_loses_idempotency_keys_fails_the_kit(suite: Any, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="applied the operation 3 times"):
        suite.test_idempotent_write_back_applies_once(target_with(ForgetfulConnector, tmp_path))


def test_a_connector_that_ignores_the_base_version_fails_the_kit(suite: Any, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="stale version was applied"):
        suite.test_conditional_update_on_a_stale_version_is_a_conflict(target_with(BlindWriter, tmp_path))


def test_a_connector_that_ignores_the_cursor_fails_the_kit(suite: Any, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="resuming after page 1 repeated"):
        suite.test_incremental_resume_returns_only_changed_records(
            target_with(ForgetsTheCursor, tmp_path), Stream.INVOICES
        )


def test_a_connector_that_logs_its_key_fails_the_kit(
    suite: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(AssertionError, match="a secret shows in: logs"):
        suite.test_secrets_never_appear_in_repr_logs_or_errors(target_with(Chatty, tmp_path), caplog)


def test_a_connector_that_retries_refused_credentials_fails_the_kit(suite: Any, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="refused credentials raised"):
        suite.test_auth_failure_is_classified_not_retried(target_with(RetriesAuth, tmp_path))


def test_the_generated_class_carries_every_named_test() -> None:
    generated = conformance_tests(SmallBooks)

    assert generated.__name__ == "TestSmallBooksConformance"
    assert {name for name in dir(generated) if name.startswith("test_")} == NAMED_TESTS


# -- manifests and checklists ---------------------------------------------------------------------


@pytest.mark.parametrize("connector", [CsvConnector, MemoryConnector, FaultyConnector], ids=lambda c: c.name)
def test_shipped_manifests_match_their_classes(connector: type[Connector]) -> None:
    assert manifest_problems(connector, load_manifest(connector)) == []


def test_a_manifest_that_disagrees_with_its_class_is_reported() -> None:
    manifest = load_manifest(MemoryConnector)
    manifest["capabilities"]["batch_max"] = 1000
    manifest["secrets"] = ["api_key", "erp"]
    del manifest["permissions"]

    problems = manifest_problems(MemoryConnector, manifest)

    assert "capabilities.batch_max is 1000, the class says 30" in problems
    assert "secret 'erp' is not typed SecretStr, so it would show in repr and logs" in problems
    assert "missing key 'permissions'" in problems


QUALITY_FILES = sorted(Path(connectors.__file__).parent.glob("*/quality.yaml"))


@pytest.mark.parametrize("path", QUALITY_FILES, ids=lambda p: p.parent.name)
def test_every_connector_quality_checklist_is_complete(path: Path) -> None:
    assert quality_problems(path) == []


def test_a_checklist_exemption_without_a_reason_is_reported(tmp_path: Path) -> None:
    rules: dict[str, Any] = {name: "done" for name in RULES}
    rules["rate-limits"] = "exempt"
    rules["batch-api"] = "maybe"
    del rules["readme"]
    rules["vibes"] = "done"
    path = tmp_path / "quality.yaml"
    path.write_text(json.dumps({"rules": rules}))  # JSON is YAML

    problems = quality_problems(path)

    assert "rate-limits: an exemption needs a comment saying why" in problems
    assert any(p.startswith("batch-api: status must be one of") for p in problems)
    assert any(p.startswith("readme: missing") for p in problems)
    assert any(p.startswith("vibes: unknown rule") for p in problems)


# -- the plugin ------------------------------------------------------------------------------------


def test_the_plugin_only_registers_the_conformance_marker(pytestconfig: pytest.Config) -> None:
    hooks = {name for name in vars(conformance_plugin) if name.startswith("pytest_")}

    assert hooks == {"pytest_configure"}
    assert not [v for v in vars(conformance_plugin).values() if hasattr(v, "_pytestfixturefunction")]
    assert any(line.startswith("conformance:") for line in pytestconfig.getini("markers"))
