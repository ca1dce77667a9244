"""The kit catches a broken connector by name: one mutant of a reference connector per defect.

The reference is the scaffold's own connector (``arbridge new-connector``) against its fake ERP:
it passes every check. Each mutant breaks one behaviour, the way a connector author might, and
the check named after that behaviour must fail with a message that says what broke.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

import connectors.conformance.suite as suite_module
from connectors.base import ConnectorError, PermanentError, ThrottledError, TransientError
from connectors.conformance import ConformanceSuite, conformance_tests
from connectors.registry import GROUP, Registry, discover
from connectors.scaffold import render
from mapping.models import Stream

NAME = "refbooks"
STREAM_CHECKS = {
    "test_every_record_has_a_primary_key_and_aware_cursor_time",
    "test_incremental_resume_returns_only_changed_records",
    "test_full_read_returns_every_record_the_erp_holds",
    "test_resumed_read_loses_no_record_sharing_a_timestamp",
    "test_deleted_or_voided_record_arrives_marked_deleted",
    "test_unmappable_record_becomes_a_reject_with_its_field_path",
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The scaffolded package, importable from its folder: ``connector``, ``testing`` modules."""
    project = render(NAME, tmp_path_factory.mktemp("reference"))
    sys.path.insert(0, str(project))
    try:
        yield importlib.import_module(f"arbridge_connector_{NAME}")
    finally:
        sys.path.remove(str(project))
        for module in [m for m in sys.modules if m.startswith(f"arbridge_connector_{NAME}")]:
            del sys.modules[module]


@pytest.fixture
def kit(reference: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Run one named check of the kit against the reference target built with ``connector_class``."""
    testing = importlib.import_module(f"{reference.__name__}.testing")
    target_class = testing.RefbooksTarget
    generated = conformance_tests(target_class)

    def run(
        check: str,
        connector_class: type,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
        stream: Stream | None = None,
    ) -> None:
        # The entry point resolves to the class under test, as if it were the installed one.
        def installed(*args: Any, **kwargs: Any) -> Registry:
            registry = discover(entry_points=[])
            registry.connectors[NAME] = connector_class
            return registry

        monkeypatch.setattr(suite_module, "discover", installed)
        target = target_class(tmp_path / uuid.uuid4().hex)
        target.connector_class = connector_class
        method = getattr(generated(), check)
        try:
            if check == "test_secrets_never_appear_in_repr_logs_or_errors":
                method(target, caplog)
            elif stream is not None:
                method(target, stream)
            else:
                method(target)
        finally:
            target.cleanup()

    return run


# -- the mutants --------------------------------------------------------------------------------


def _mutants(reference: ModuleType) -> dict[str, tuple[str, Stream | None, str, type]]:
    """mutant name -> (the check that must catch it, its stream, the message, the class)."""
    connector_module = importlib.import_module(f"{reference.__name__}.connector")
    ref = reference.RefbooksConnector

    def mutant(class_name: str, **body: Any) -> type:
        cls = type(class_name, (ref,), body)
        # Beside the reference's manifest.json, as a real connector module would be.
        cls.__module__ = connector_module.__name__
        return cls

    def patched_client(class_name: str, classify: Callable[[Any, requests.Response], Any]) -> type:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            ref.__init__(self, *args, **kwargs)
            original = self.client.classify
            self.client.classify = lambda response: classify(original, response)

        return mutant(class_name, __init__=__init__)

    def no_tie_break(self: Any, cursor: Any) -> Any:
        position = ref._position(self, cursor)
        if position is None:
            return None
        # Resume after the last time plus a second, as if no two records could share one.
        when = datetime.fromisoformat(position[0].replace("Z", "+00:00")) + timedelta(seconds=1)
        return (when.strftime("%Y-%m-%dT%H:%M:%SZ"), "")

    def drops_short_last_page(self: Any, stream: Stream, cursor: Any) -> Iterator[Any]:
        for page in ref.read(self, stream, cursor):
            if 0 < len(page.records) < self.cfg.page_size:
                continue  # "a short page is the end marker": its records are lost
            yield page

    def cursor_of_first_record(self: Any, stream: Stream, cursor: Any) -> Iterator[Any]:
        for page in ref.read(self, stream, cursor):
            if page.records:
                first = page.records[0]
                value = {"updated_at": first.raw["updated_at"], "id": first.raw["id"]}
                page.cursor = dataclasses.replace(page.cursor, value=json.dumps(value))
            yield page

    def naive_times(self: Any, stream: Stream, raw: dict[str, Any]) -> Any:
        record = ref._record(self, stream, raw)
        return record.model_copy(
            update={"remote_modified_at": record.remote_modified_at.replace(tzinfo=None)}
        )

    def void_stays_live(self: Any, stream: Stream, raw: dict[str, Any]) -> Any:
        return self.fieldmap.to_record(stream, raw, deleted=bool(raw.get("deleted")))

    def skips_deleted(self: Any, stream: Stream, items: list[dict[str, Any]]) -> Any:
        return ref._translate(self, stream, [i for i in items if not i.get("deleted")])

    def raises_on_bad_record(self: Any, stream: Stream, items: list[dict[str, Any]]) -> Any:
        return [self._record(stream, raw) for raw in items], []

    def reject_without_field(self: Any, stream: Stream, items: list[dict[str, Any]]) -> Any:
        records, rejects = ref._translate(self, stream, items)
        return records, [dataclasses.replace(j, field_path=None) for j in rejects]

    def drops_bad_records(self: Any, stream: Stream, items: list[dict[str, Any]]) -> Any:
        records, _ = ref._translate(self, stream, items)
        return records, []

    def fresh_key(self: Any, item: Any) -> Any:
        return ref._write_one(self, dataclasses.replace(item, key=uuid.uuid4().hex))

    def no_if_match(self: Any, item: Any) -> Any:
        return ref._write_one(
            self, dataclasses.replace(item, op=item.op.model_copy(update={"base_version": None}))
        )

    def logs_the_key(self: Any) -> Any:
        self.context.logger.info("checking with key %s", self.cfg.api_key.get_secret_value())
        return ref.check(self)

    def key_in_errors(self: Any, stream: Stream, cursor: Any) -> Iterator[Any]:
        try:
            yield from ref.read(self, stream, cursor)
        except ConnectorError as exc:
            raise type(exc)(f"{exc.message} (key {self.cfg.api_key.get_secret_value()})") from None

    def throttle_is_permanent(original: Any, response: requests.Response) -> Any:
        return PermanentError("HTTP 429") if response.status_code == 429 else original(response)

    def forgets_retry_after(original: Any, response: requests.Response) -> Any:
        return ThrottledError("HTTP 429") if response.status_code == 429 else original(response)

    def throttle_is_plain_transient(original: Any, response: requests.Response) -> Any:
        if response.status_code == 429:
            return TransientError("HTTP 429", retry_after=float(response.headers["Retry-After"]))
        return original(response)

    def auth_retried(original: Any, response: requests.Response) -> Any:
        return TransientError("HTTP 401, will retry") if response.status_code == 401 else original(response)

    batches = dataclasses.replace(ref.capabilities, batch_max=50)
    return {
        "misnamed": (
            "test_discovery_finds_the_connector_by_entry_point",
            None,
            "loads a connector named 'refbook'",
            mutant("Misnamed", name="refbook"),
        ),
        "promises_batches_its_manifest_does_not": (
            "test_manifest_matches_capabilities",
            None,
            "capabilities.batch_max is 1, the class says 50",
            mutant("PromisesBatches", capabilities=batches),
        ),
        "naive_modified_times": (
            "test_every_record_has_a_primary_key_and_aware_cursor_time",
            Stream.INVOICES,
            "naive modified time",
            mutant("NaiveTimes", _record=naive_times),
        ),
        "ignores_the_cursor": (
            "test_incremental_resume_returns_only_changed_records",
            Stream.INVOICES,
            "resuming after page 1 repeated",
            mutant("IgnoresTheCursor", read=lambda self, stream, cursor: ref.read(self, stream, None)),
        ),
        "cursor_of_the_first_record": (
            "test_incremental_resume_returns_only_changed_records",
            Stream.INVOICES,
            "resuming after page 1 repeated",
            mutant("CursorOfTheFirstRecord", read=cursor_of_first_record),
        ),
        "drops_the_short_last_page": (
            "test_full_read_returns_every_record_the_erp_holds",
            Stream.INVOICES,
            "a full read of invoices lost 2 of the 12 records",
            mutant("DropsTheShortLastPage", read=drops_short_last_page),
        ),
        "resumes_a_second_later_without_tie_break": (
            "test_resumed_read_loses_no_record_sharing_a_timestamp",
            Stream.INVOICES,
            "share their modification time",
            mutant("NoTieBreak", _position=no_tie_break),
        ),
        "voided_invoice_stays_live": (
            "test_deleted_or_voided_record_arrives_marked_deleted",
            Stream.INVOICES,
            "arrived without deleted=True",
            mutant("VoidStaysLive", _record=void_stays_live),
        ),
        "skips_deleted_records": (
            "test_deleted_or_voided_record_arrives_marked_deleted",
            Stream.CUSTOMERS,
            "did not return it",
            mutant("SkipsDeleted", _translate=skips_deleted),
        ),
        "raises_on_a_bad_record": (
            "test_unmappable_record_becomes_a_reject_with_its_field_path",
            Stream.INVOICES,
            "stopped the read with MappingError",
            mutant("RaisesOnBadRecord", _translate=raises_on_bad_record),
        ),
        "reject_without_its_field": (
            "test_unmappable_record_becomes_a_reject_with_its_field_path",
            Stream.PAYMENTS,
            "names field None, not 'amount'",
            mutant("RejectWithoutField", _translate=reject_without_field),
        ),
        "drops_bad_records_silently": (
            "test_unmappable_record_becomes_a_reject_with_its_field_path",
            Stream.CUSTOMERS,
            "did not come back as a Reject",
            mutant("DropsBadRecords", _translate=drops_bad_records),
        ),
        "throttle_taken_for_permanent": (
            "test_throttled_erp_raises_a_throttled_error_with_its_retry_after",
            None,
            "must be a ThrottledError",
            patched_client("ThrottleIsPermanent", throttle_is_permanent),
        ),
        "throttle_taken_for_an_outage": (
            "test_throttled_erp_raises_a_throttled_error_with_its_retry_after",
            None,
            "must be a ThrottledError",
            patched_client("ThrottleIsTransient", throttle_is_plain_transient),
        ),
        "retry_after_forgotten": (
            "test_throttled_erp_raises_a_throttled_error_with_its_retry_after",
            None,
            "the ERP asked for 600s, the error tells the engine None",
            patched_client("ForgetsRetryAfter", forgets_retry_after),
        ),
        "new_idempotency_key_per_send": (
            "test_idempotent_write_back_applies_once",
            None,
            "applied the operation 3 times",
            mutant("FreshKey", _write_one=fresh_key),
        ),
        "update_without_if_match": (
            "test_conditional_update_on_a_stale_version_is_a_conflict",
            None,
            "stale version was applied",
            mutant("NoIfMatch", _write_one=no_if_match),
        ),
        "refused_key_retried_as_an_outage": (
            "test_auth_failure_is_classified_not_retried",
            None,
            "refused credentials raised",
            patched_client("RetriesAuth", auth_retried),
        ),
        "logs_its_api_key": (
            "test_secrets_never_appear_in_repr_logs_or_errors",
            None,
            "a secret shows in: logs",
            mutant("LogsTheKey", check=logs_the_key),
        ),
        "api_key_in_error_messages": (
            "test_secrets_never_appear_in_repr_logs_or_errors",
            None,
            "a secret shows in: read\\(\\) refused error",
            mutant("KeyInErrors", read=key_in_errors),
        ),
    }


MUTANTS = [
    "misnamed",
    "promises_batches_its_manifest_does_not",
    "naive_modified_times",
    "ignores_the_cursor",
    "cursor_of_the_first_record",
    "drops_the_short_last_page",
    "resumes_a_second_later_without_tie_break",
    "voided_invoice_stays_live",
    "skips_deleted_records",
    "raises_on_a_bad_record",
    "reject_without_its_field",
    "drops_bad_records_silently",
    "throttle_taken_for_permanent",
    "throttle_taken_for_an_outage",
    "retry_after_forgotten",
    "new_idempotency_key_per_send",
    "update_without_if_match",
    "refused_key_retried_as_an_outage",
    "logs_its_api_key",
    "api_key_in_error_messages",
]


def test_every_check_of_the_kit_has_a_mutant_it_catches(reference: ModuleType) -> None:
    mutants = _mutants(reference)
    assert sorted(mutants) == sorted(MUTANTS)
    checks = {name for name in dir(ConformanceSuite) if name.startswith("test_")}
    assert {check for check, *_ in mutants.values()} == checks


@pytest.mark.parametrize("mutant", MUTANTS)
def test_the_kit_fails_a_mutant_with_the_name_of_the_broken_behaviour(
    mutant: str,
    reference: ModuleType,
    kit: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    check, stream, message, cls = _mutants(reference)[mutant]
    caplog.set_level(logging.DEBUG)
    # The reference passes the very check its mutant fails.
    kit(check, reference.RefbooksConnector, tmp_path, caplog, stream)
    caplog.clear()
    with pytest.raises((AssertionError, pytest.fail.Exception), match=message):
        kit(check, cls, tmp_path, caplog, stream)


@pytest.mark.parametrize("stream", list(Stream), ids=[s.value for s in Stream])
def test_the_reference_connector_passes_every_stream_check(
    stream: Stream,
    reference: ModuleType,
    kit: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for check in sorted(STREAM_CHECKS):
        kit(check, reference.RefbooksConnector, tmp_path, caplog, stream)


def test_the_reference_is_no_installed_connector() -> None:
    # The mutants stand in for an entry point; nothing of theirs leaks into the real registry.
    assert NAME not in {ep.name for ep in metadata.entry_points(group=GROUP)}
