"""The behavioural tests every connector must pass, generated for one target by ``conformance_tests``.

Usage, in an integrator's test module::

    from connectors.conformance import conformance_tests

    TestAcmeConformance = conformance_tests(AcmeTarget)
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.base import (
    ConflictError,
    Connector,
    ConnectorError,
    Cursor,
    ErrorKind,
    OutboundOp,
    Page,
)
from connectors.conformance.manifest import load_manifest, manifest_path, manifest_problems
from connectors.conformance.target import ConformanceTarget
from connectors.registry import discover
from mapping.models import Stream

TargetFactory = Callable[[Path], ConformanceTarget]

# An auth failure must surface at once; a connector that retries it would take far longer.
AUTH_FAILURE_SECONDS = 5.0
# The wait the kit makes a throttled ERP announce: far longer than any call may sleep.
THROTTLE_RETRY_AFTER = 600
# A throttled call may be retried a few times with short waits, never wait out the announced one.
THROTTLE_SECONDS = 30.0
STREAMS = list(Stream)


def _read(connector: Connector, stream: Stream, cursor: Cursor | None) -> list[Page]:
    return list(connector.read(stream, cursor))


def _ids(pages: Iterable[Page]) -> list[str]:
    return [r.remote_id for p in pages for r in p.records]


def _last_cursor(pages: list[Page]) -> Cursor | None:
    return next((p.cursor for p in reversed(pages) if p.cursor is not None), None)


def _key() -> str:
    return f"conformance-{uuid.uuid4().hex}"


def _skip_unless_reads(connector: Connector, stream: Stream) -> None:
    if stream not in connector.capabilities.streams:
        pytest.skip(f"{connector.name} does not read {stream.value}")


def _existing(target: ConformanceTarget, stream: Stream) -> set[str]:
    try:
        return set(target.existing_ids(stream))
    except NotImplementedError:
        pytest.fail(
            f"{type(target).__name__}.existing_ids() is missing: the kit needs what the ERP holds to tell "
            "a complete read from one that loses records"
        )


def _sample(ids: Iterable[str]) -> list[str]:
    return sorted(ids)[:5]


def _skip_unless_writes(connector: Connector) -> None:
    if not connector.capabilities.write_ops:
        pytest.skip(f"{connector.name} does not write back")


@pytest.mark.conformance
class ConformanceSuite:
    """The named conformance tests; ``conformance_tests`` binds them to a target."""

    target_factory: ClassVar[TargetFactory]

    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[ConformanceTarget]:
        """A fresh target per test, in its own empty folder."""
        made = type(self).target_factory(tmp_path)
        try:
            yield made
        finally:
            made.cleanup()

    def test_discovery_finds_the_connector_by_entry_point(self, target: ConformanceTarget) -> None:
        registry = discover()
        name = target.connector_name
        assert name not in registry.broken, f"{name} failed to load: {registry.broken[name].error}"
        cls = registry.get(name)
        assert cls.name == name, f"the entry point {name!r} loads a connector named {cls.name!r}"
        connector = target.make_connector()
        assert isinstance(connector, cls)

    def test_manifest_matches_capabilities(self, target: ConformanceTarget) -> None:
        cls = type(target.make_connector())
        assert manifest_path(cls).is_file(), f"{cls.__name__} ships no manifest.json at {manifest_path(cls)}"
        problems = manifest_problems(cls, load_manifest(cls))
        assert not problems, "manifest.json disagrees with the class: " + "; ".join(problems)

    @pytest.mark.parametrize("stream", STREAMS, ids=[s.value for s in STREAMS])
    def test_every_record_has_a_primary_key_and_aware_cursor_time(
        self, target: ConformanceTarget, stream: Stream
    ) -> None:
        connector = target.make_connector()
        _skip_unless_reads(connector, stream)
        pages = _read(connector, stream, None)
        records = [r for p in pages for r in p.records]
        for record in records:
            assert record.stream is stream, f"a {record.stream.value} record in the {stream.value} stream"
            assert isinstance(record.remote_id, str) and record.remote_id, (
                f"record without a primary key: {record!r}"
            )
            when = record.remote_modified_at
            assert when.tzinfo is not None and when.utcoffset() is not None, (
                f"{record.key}: naive modified time"
            )
        keys = [r.remote_id for r in records]
        assert len(keys) == len(set(keys)), f"primary keys repeat within one full read of {stream.value}"
        if records:
            assert _last_cursor(pages) is not None, "a read that returned records must end with a cursor"
            assert pages[-1].cursor is None or pages[-1].cursor.resumable, (
                "the last page's cursor must be resumable"
            )
        if stream in connector.capabilities.sorted_streams:
            assert all(p.cursor is None or p.cursor.resumable for p in pages), (
                f"{stream.value} is declared sorted, so every page's cursor must be resumable"
            )

    @pytest.mark.parametrize("stream", STREAMS, ids=[s.value for s in STREAMS])
    def test_incremental_resume_returns_only_changed_records(
        self, target: ConformanceTarget, stream: Stream
    ) -> None:
        connector = target.make_connector()
        _skip_unless_reads(connector, stream)
        pages = _read(connector, stream, None)
        everything = _ids(pages)
        cursor = _last_cursor(pages)
        if not everything or cursor is None:
            pytest.skip(f"the target's ERP has no {stream.value} to change")

        # Resuming after any stored page must neither lose nor repeat a record. A page whose cursor
        # is not resumable is never stored: the engine resumes from where the read started.
        for index, page in enumerate(pages[:-1]):
            if page.cursor is not None and page.cursor.resumable:
                before, resume_from = _ids(pages[: index + 1]), page.cursor
            else:
                before, resume_from = [], None
            after = _ids(_read(target.make_connector(), stream, resume_from))
            assert not set(before) & set(after), (
                f"resuming after page {index + 1} repeated {_sample(set(before) & set(after))}"
            )
            assert set(before) | set(after) == set(everything), (
                f"resuming after page {index + 1} lost {_sample(set(everything) - set(before) - set(after))}"
            )

        unchanged = _ids(_read(target.make_connector(), stream, cursor))
        assert unchanged == [], (
            f"nothing changed, yet the read from the final cursor returned {unchanged[:5]}"
        )

        changed = target.change_records(stream, 3)
        assert changed, "change_records() changed nothing"
        got = _ids(_read(target.make_connector(), stream, cursor))
        assert len(got) == len(set(got)), f"an incremental read repeated records: {got}"
        assert sorted(got) == sorted(changed), (
            f"changed {sorted(changed)}, the incremental read returned {sorted(got)}"
        )

    @pytest.mark.parametrize("stream", STREAMS, ids=[s.value for s in STREAMS])
    def test_full_read_returns_every_record_the_erp_holds(
        self, target: ConformanceTarget, stream: Stream
    ) -> None:
        connector = target.make_connector()
        _skip_unless_reads(connector, stream)
        held = _existing(target, stream)
        read = set(_ids(_read(connector, stream, None)))
        assert not held - read, (
            f"a full read of {stream.value} lost {len(held - read)} of the {len(held)} records the ERP "
            f"holds: {_sample(held - read)}"
        )
        assert not read - held, f"a full read of {stream.value} returned records the ERP does not hold: " + (
            f"{_sample(read - held)}"
        )

    @pytest.mark.parametrize("stream", STREAMS, ids=[s.value for s in STREAMS])
    def test_resumed_read_loses_no_record_sharing_a_timestamp(
        self, target: ConformanceTarget, stream: Stream
    ) -> None:
        connector = target.make_connector()
        _skip_unless_reads(connector, stream)
        try:
            changed = set(target.change_records_at_one_time(stream))
        except NotImplementedError:
            pytest.skip("the target cannot change records at one time")
        held = _existing(target, stream)
        pages = _read(connector, stream, None)
        read = set(_ids(pages))
        assert not changed - read, (
            f"{len(changed)} records changed at one time; a full read lost {_sample(changed - read)}"
        )
        inside = [
            i
            for i in range(len(pages) - 1)
            if set(_ids(pages[: i + 1])) & changed and set(_ids(pages[i + 1 :])) & changed
        ]
        assert inside, (
            f"the {len(changed)} records changed at one time never straddle a page boundary:"
            " change_records_at_one_time() must change more records than one page holds"
        )
        for index in inside:
            cursor = pages[index].cursor
            resumable = cursor is not None and cursor.resumable
            before = set(_ids(pages[: index + 1])) if resumable else set()
            after = set(_ids(_read(target.make_connector(), stream, cursor if resumable else None)))
            lost = held - before - after
            assert not lost, (
                f"resuming after page {index + 1} lost {_sample(lost)}: records that share their "
                "modification time with the page's last record (order and resume by time and id)"
            )

    @pytest.mark.parametrize("stream", STREAMS, ids=[s.value for s in STREAMS])
    def test_deleted_or_voided_record_arrives_marked_deleted(
        self, target: ConformanceTarget, stream: Stream
    ) -> None:
        connector = target.make_connector()
        _skip_unless_reads(connector, stream)
        cursor = _last_cursor(_read(connector, stream, None))
        try:
            victim = target.delete_record(stream)
        except NotImplementedError:
            pytest.skip(f"the target's ERP cannot delete or void a {stream.value} record")
        later = [r for p in _read(target.make_connector(), stream, cursor) for r in p.records]
        arrived = [r for r in later if r.remote_id == victim]
        assert arrived, (
            f"{stream.value} {victim} was deleted or voided in the ERP, and the read after it did not "
            "return it: the store would keep it as live"
        )
        assert all(r.deleted for r in arrived), (
            f"{stream.value} {victim} was deleted or voided in the ERP and arrived without deleted=True"
        )
        full = [r for p in _read(target.make_connector(), stream, None) for r in p.records]
        assert all(r.deleted for r in full if r.remote_id == victim), (
            f"a full read returns the deleted {stream.value} {victim} as live"
        )

    @pytest.mark.parametrize("stream", STREAMS, ids=[s.value for s in STREAMS])
    def test_unmappable_record_becomes_a_reject_with_its_field_path(
        self, target: ConformanceTarget, stream: Stream
    ) -> None:
        connector = target.make_connector()
        _skip_unless_reads(connector, stream)
        try:
            broken, field_name = target.break_record(stream)
        except NotImplementedError:
            pytest.skip(f"the target's ERP cannot hold an unmappable {stream.value} record")
        try:
            pages = _read(connector, stream, None)
        except Exception as exc:
            pytest.fail(
                f"one unmappable {stream.value} record stopped the read with {type(exc).__name__}: {exc}"
                " (it must become a Reject in its page)"
            )
        rejects = [j for p in pages for j in p.rejects if j.remote_id == broken]
        assert rejects, f"the unmappable {stream.value} {broken} did not come back as a Reject"
        assert broken not in _ids(pages), f"the unmappable {stream.value} {broken} came back as a record too"
        for reject in rejects:
            assert reject.stream is stream
            assert reject.field_path and field_name in reject.field_path, (
                f"the Reject of {broken} names field {reject.field_path!r}, not {field_name!r}"
            )
            assert reject.reason.strip(), f"the Reject of {broken} gives no reason"
        lost = _existing(target, stream) - {broken} - set(_ids(pages))
        assert not lost, f"the page with the unmappable record lost its other records: {_sample(lost)}"

    def test_throttled_erp_raises_a_throttled_error_with_its_retry_after(
        self, target: ConformanceTarget
    ) -> None:
        connector = target.make_connector()
        op = target.sample_operation() if connector.capabilities.write_ops else None
        try:
            announced = target.throttle(THROTTLE_RETRY_AFTER)
        except NotImplementedError:
            pytest.skip("the target's ERP cannot throttle")
        connector = target.make_connector()
        stream = sorted(connector.capabilities.streams)[0]

        started = time.monotonic()
        with pytest.raises(ConnectorError) as caught:
            _read(connector, stream, None)
        elapsed = time.monotonic() - started
        errors = [caught.value]
        if op is not None:
            try:
                results = connector.write([OutboundOp(_key(), op)])
            except ConnectorError as exc:
                errors.append(exc)
            else:
                assert all(not r.ok for r in results), "a write went through an ERP that refuses every call"
                errors += [r.error for r in results if r.error is not None]
        for error in errors:
            assert error.kind is ErrorKind.THROTTLED, (
                f"the ERP's throttling answer became {error!r}: it must be a ThrottledError"
            )
            assert error.retriable, "a throttled call must be retriable"
            if announced is not None:
                assert error.retry_after is not None and error.retry_after >= announced - 1, (
                    f"the ERP asked for {announced}s, the error tells the engine {error.retry_after}"
                )
        assert elapsed < THROTTLE_SECONDS, (
            f"the read took {elapsed:.0f}s: the connector waited out the ERP's long Retry-After inside "
            "the call instead of handing it to the engine"
        )

    def test_idempotent_write_back_applies_once(self, target: ConformanceTarget) -> None:
        connector = target.make_connector()
        _skip_unless_writes(connector)
        item = OutboundOp(_key(), target.sample_operation())

        [first] = connector.write([item])
        assert first.ok, f"the sample operation failed: {first.error}"
        [retry] = connector.write([item])
        assert retry.ok, f"re-sending an applied operation failed: {retry.error}"
        # After a restart the connector's memory is gone; only the ERP can de-duplicate.
        [replay] = target.make_connector().write([item])
        assert replay.ok, f"re-sending after a restart failed: {replay.error}"

        assert target.effects(item.key) == 1, (
            f"the ERP applied the operation {target.effects(item.key)} times"
        )
        found = target.make_connector().find_written(item)
        assert found is None or found.ok, f"find_written() says the applied operation failed: {found}"

    def test_conditional_update_on_a_stale_version_is_a_conflict(self, target: ConformanceTarget) -> None:
        connector = target.make_connector()
        _skip_unless_writes(connector)
        op = target.sample_operation()
        current = connector.fetch(op.target_type, op.target_id)
        base = current.version if current is not None and current.version else op.base_version
        assert base is not None, (
            "the target record has no version: fetch() must return it,"
            " or sample_operation() must carry base_version"
        )
        op = op.model_copy(update={"base_version": base})
        target.make_stale(op)
        item = OutboundOp(_key(), op)

        [result] = connector.write([item])

        assert not result.ok, "an operation based on a stale version was applied"
        assert isinstance(result.error, ConflictError) and result.error.kind is ErrorKind.CONFLICT, (
            f"expected a ConflictError result, got {result.error!r}"
        )
        assert target.effects(item.key) == 0

    def test_auth_failure_is_classified_not_retried(self, target: ConformanceTarget) -> None:
        connector = target.make_connector()
        op = target.sample_operation() if connector.capabilities.write_ops else None
        try:
            target.reject_auth()
        except NotImplementedError:
            pytest.skip("the target cannot make its ERP refuse credentials")
        connector = target.make_connector()

        try:
            check = connector.check()
        except ConnectorError as exc:
            assert exc.kind is ErrorKind.AUTH, f"check() raised {exc!r} for refused credentials"
        else:
            assert not check.ok, "check() passed although the ERP refuses the credentials"

        stream = sorted(connector.capabilities.streams)[0]
        started = time.monotonic()
        with pytest.raises(ConnectorError) as caught:
            _read(connector, stream, None)
        assert caught.value.kind is ErrorKind.AUTH, f"refused credentials raised {caught.value!r}"
        assert not caught.value.retriable, "an auth failure must not be marked retriable"
        assert time.monotonic() - started < AUTH_FAILURE_SECONDS, "the connector retried an auth failure"
        if op is not None:
            with pytest.raises(ConnectorError) as caught:
                connector.write([OutboundOp(_key(), op)])
            assert caught.value.kind is ErrorKind.AUTH, (
                f"a write with refused credentials raised {caught.value!r}"
            )

    def test_secrets_never_appear_in_repr_logs_or_errors(
        self, target: ConformanceTarget, caplog: pytest.LogCaptureFixture
    ) -> None:
        secrets = [s for s in target.secrets() if s]
        if not secrets:
            pytest.skip("the connector has no secret settings")
        caplog.set_level(logging.DEBUG)
        shown: dict[str, str] = {}

        def capture(label: str, action: Callable[[], Any]) -> None:
            try:
                value = action()
            except Exception as exc:  # every failure's text is checked too
                shown[f"{label} error"] = "".join(traceback.format_exception(exc))
                return
            shown[label] = repr(value)

        connector = target.make_connector()
        shown["repr(connector)"] = repr(connector)
        shown["str(connector)"] = str(connector)
        shown["repr(settings)"] = repr(connector.settings)
        shown["settings JSON"] = connector.settings.model_dump_json()
        shown["settings dump"] = str(connector.settings.model_dump())
        capture("check()", connector.check)
        for stream in sorted(connector.capabilities.streams):
            capture(f"first {stream.value} page", lambda s=stream: next(iter(connector.read(s, None)), None))  # type: ignore[misc]
        if connector.capabilities.write_ops:
            capture("write()", lambda: connector.write([OutboundOp(_key(), target.sample_operation())]))
        try:
            target.reject_auth()
        except NotImplementedError:
            pass
        else:
            refused = target.make_connector()
            capture("check() refused", refused.check)
            stream = sorted(refused.capabilities.streams)[0]
            capture("read() refused", lambda: list(refused.read(stream, None)))
        shown["logs"] = caplog.text + "\n".join(str(r.args) for r in caplog.records)

        for secret in secrets:
            leaks = [label for label, text in shown.items() if secret in text]
            assert not leaks, f"a secret shows in: {', '.join(leaks)}"


def conformance_tests(target_factory: TargetFactory) -> type:
    """Build the conformance test class for one target.

    Args:
        target_factory: a ``ConformanceTarget`` subclass, or any callable taking a fresh empty
            folder and returning a target.

    Returns:
        a test class to assign to a ``Test…`` name in a test module, so pytest collects it::

            TestCsvConformance = conformance_tests(CsvTarget)
    """
    name = getattr(target_factory, "__name__", "Target")
    return type(
        f"Test{name}Conformance",
        (ConformanceSuite,),
        {
            "target_factory": staticmethod(target_factory),
            "__module__": getattr(target_factory, "__module__", None),
        },
    )
