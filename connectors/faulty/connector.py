"""A connector that wraps another and fails on purpose, for the engine's reliability tests.

Faults come with probabilities and a seed (reproducible runs), or deterministically: "fail the
first N calls". Every injected fault is counted per kind, per connection, so a test can check that
the engine saw — and survived — exactly what was thrown at it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import (
    BadRecordError,
    Capabilities,
    CheckResult,
    ConflictError,
    Connector,
    ConnectorContext,
    ConnectorError,
    ConnectorSettings,
    Cursor,
    OutboundOp,
    Page,
    Reject,
    TransientError,
    WriteResult,
    classify_http,
)
from mapping.models import OpType, Record, Stream, TargetType

Call = Literal["check", "read", "write", "fetch", "find_written"]
CallFault = Literal["transient", "throttled", "timeout", "auth"]

_DEFAULT_FAIL_ON: list[Call] = ["read", "write"]

Probability = Field(default=0.0, ge=0.0, le=1.0)


class InnerConnector(BaseModel):
    """Which connector to wrap, and its settings."""

    model_config = ConfigDict(extra="forbid")

    connector: str
    # The inner settings may hold secrets given as plain text: kept out of repr, and replaced by
    # the inner connector's validated (SecretStr-typed) settings once it is built.
    settings: dict[str, Any] = Field(default_factory=dict, repr=False)


class FaultySettings(ConnectorSettings):
    """What to wrap and which faults to inject.

    Attributes:
        inner: the wrapped connector (``{connector: memory, settings: {...}}``).
        seed: makes the random faults reproducible.
        throttled: chance a call is answered 429 with ``Retry-After: retry_after``.
        retry_after: the seconds a throttle asks to wait.
        transient: chance a call fails with a 5xx.
        timeout: chance a call times out.
        auth: chance a call is refused with 401.
        conflict: chance one written operation comes back as a stale-version conflict.
        bad_record: chance one written operation is refused as invalid.
        garbage: chance one read record arrives unparseable (it becomes a ``Reject``).
        lost_ack: chance a write reaches the ERP but its answer is lost (a transient error after
            the inner write happened): the exactly-once test.
        fail_first: fail the first N calls (of the kinds in ``fail_on``) with ``fail_first_kind``.
        fail_first_kind: the fault of those first calls.
        fail_on: which calls the call-level faults and ``fail_first`` apply to.
        latency: seconds every call waits first.
    """

    inner: InnerConnector
    seed: int = 0
    throttled: float = Probability
    retry_after: float = Field(default=1.0, ge=0.0)
    transient: float = Probability
    timeout: float = Probability
    auth: float = Probability
    conflict: float = Probability
    bad_record: float = Probability
    garbage: float = Probability
    lost_ack: float = Probability
    fail_first: int = Field(default=0, ge=0)
    fail_first_kind: CallFault = "transient"
    fail_on: list[Call] = Field(default_factory=lambda: _DEFAULT_FAIL_ON.copy())
    latency: float = Field(default=0.0, ge=0.0)


@dataclass
class FaultState:
    """Per connection, shared by every instance: the engine may build a new connector each cycle."""

    rng: random.Random
    calls: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    failed_first: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultyConnector(Connector):
    """Wraps any connector and injects throttles, 5xx, timeouts, auth failures, conflicts and garbage."""

    name: ClassVar[str] = "faulty"
    version: ClassVar[str] = "1.0.0"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset(Stream),
        write_ops=frozenset(OpType),
        page_max=100_000,
        batch_max=30,
    )
    settings_model: ClassVar[type[ConnectorSettings]] = FaultySettings
    states: ClassVar[dict[str, FaultState]] = {}
    _states_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, FaultySettings)
        self.config: FaultySettings = settings
        from connectors.registry import discover  # the registry imports connectors.base only

        inner_cls = discover().get(settings.inner.connector)
        self.inner: Connector = inner_cls.create(settings.inner.settings, context)
        settings.inner.settings = self.inner.settings.model_dump()
        self.capabilities = self.inner.capabilities  # type: ignore[misc]
        with self._states_lock:
            if context.connection not in self.states:
                self.states[context.connection] = FaultState(random.Random(settings.seed))
            self.state = self.states[context.connection]

    @classmethod
    def reset(cls) -> None:
        """Forget every connection's counters and random state (between tests)."""
        with cls._states_lock:
            cls.states.clear()

    @property
    def injected(self) -> Counter[str]:
        """How many faults were injected on this connection, per kind."""
        return self.state.injected

    @property
    def calls(self) -> Counter[str]:
        """How many calls of each kind reached this connection."""
        return self.state.calls

    # -- the dice ----------------------------------------------------------------------------

    def _roll(self, probability: float) -> bool:
        return probability > 0 and self.state.rng.random() < probability

    def _fault(self, kind: CallFault, call: str) -> ConnectorError:
        self.state.injected[kind] += 1
        if kind == "throttled":
            retry = self.config.retry_after
            return classify_http(
                429, {"Retry-After": f"{retry:g}"}, f"rate limit exceeded during {call} (injected)"
            )  # type: ignore[return-value]
        if kind == "timeout":
            return TransientError(f"{call} timed out after 30 s (injected)", erp_code="timeout")
        if kind == "auth":
            return classify_http(401, body=f"invalid_grant during {call} (injected)")  # type: ignore[return-value]
        return classify_http(503, body=f"service unavailable during {call} (injected)")  # type: ignore[return-value]

    def _before(self, call: Call) -> None:
        """Count the call, wait the latency, then maybe fail it."""
        if self.config.latency:
            time.sleep(self.config.latency)
        with self.state.lock:
            self.state.calls[call] += 1
            if call not in self.config.fail_on:
                return
            if self.state.failed_first < self.config.fail_first:
                self.state.failed_first += 1
                raise self._fault(self.config.fail_first_kind, call)
            for kind, probability in (
                ("auth", self.config.auth),
                ("throttled", self.config.throttled),
                ("timeout", self.config.timeout),
                ("transient", self.config.transient),
            ):
                if self._roll(probability):
                    raise self._fault(kind, call)  # type: ignore[arg-type]

    # -- the contract ------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """The inner check, unless an injected fault answers first."""
        try:
            self._before("check")
        except ConnectorError as exc:
            return CheckResult(False, str(exc), {"injected": True})
        return self.inner.check()

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """The inner pages; each page request may fail, and records may arrive as garbage."""
        self._before("read")
        pages = self.inner.read(stream, cursor)
        first = True
        while True:
            if not first:
                self._before("read")  # every further page is another request that may fail
            first = False
            page = next(pages, None)
            if page is None:
                return
            yield self._spoil(page)

    def _spoil(self, page: Page) -> Page:
        if not self.config.garbage:
            return page
        records: list[Record] = []
        rejects = list(page.rejects)
        with self.state.lock:
            for record in page.records:
                if self._roll(self.config.garbage):
                    self.state.injected["garbage"] += 1
                    rejects.append(
                        Reject(
                            page.stream,
                            record.remote_id,
                            "body",
                            "unparseable record body: expected a JSON object (injected)",
                            raw='{"Id": "' + record.remote_id + '", "TotalAmt": ',
                        )
                    )
                else:
                    records.append(record)
        return Page(page.stream, records, page.cursor, rejects, page.api_calls)

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """The inner write, with per-operation conflicts and refusals, and lost answers."""
        self._before("write")
        spoiled: dict[int, WriteResult] = {}
        with self.state.lock:
            for i, item in enumerate(ops):
                if self._roll(self.config.conflict):
                    self.state.injected["conflict"] += 1
                    error: ConnectorError = ConflictError(
                        f"{item.op.target_type.value} {item.op.target_id} was changed by another user"
                        " (injected)",
                        erp_code="stale_version",
                    )
                    spoiled[i] = WriteResult(item.key, False, remote_id=item.op.target_id, error=error)
                elif self._roll(self.config.bad_record):
                    self.state.injected["bad_record"] += 1
                    error = BadRecordError("the ERP refused the operation: field too long (injected)")
                    spoiled[i] = WriteResult(item.key, False, remote_id=item.op.target_id, error=error)
        passed = [item for i, item in enumerate(ops) if i not in spoiled]
        answers = iter(self.inner.write(passed) if passed else [])
        results = [spoiled[i] if i in spoiled else next(answers) for i in range(len(ops))]
        with self.state.lock:
            lost = passed and self._roll(self.config.lost_ack)
            if lost:
                self.state.injected["lost_ack"] += 1
        if lost:
            raise TransientError(
                "connection reset after the request was sent (injected)", erp_code="lost_ack"
            )
        return results

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """The inner fetch, after the call-level faults."""
        self._before("fetch")
        return self.inner.fetch(target_type, remote_id)

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """The inner look-up, after the call-level faults."""
        self._before("find_written")
        return self.inner.find_written(op)

    def close(self) -> None:
        """Close the wrapped connector."""
        self.inner.close()
