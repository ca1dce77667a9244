"""The connector contract: what every ERP connector implements and what the engine relies on.

A connector translates one ERP to and from the canonical model (``mapping.models``) and nothing
else. It reads streams page by page from a cursor, writes batches of outbound operations, and
raises classified errors; the engine decides what to do with them (retry, wait, re-read, park).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from connectors.errors import (
    AuthError,
    BadRecordError,
    ConflictError,
    ConnectorError,
    ErrorKind,
    PermanentError,
    ThrottledError,
    TlsError,
    TransientError,
    classify_http,
)
from connectors.limits import RateLimiter, shared_limiter
from mapping.models import Operation, OpType, Record, Stream, TargetType

__all__ = [
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
]


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do, declared once on the class.

    Attributes:
        streams: the streams ``read`` accepts.
        write_ops: the operation types ``write`` accepts.
        page_max: the largest page the ERP serves in one call.
        batch_max: the most operations the ERP accepts in one write call.
        requests_per_minute: the ERP's request budget per account (None: no limit known); the SDK
            keeps every connection under it (``Connector.limiter``).
        max_concurrency: concurrent requests allowed per account (None: no limit known); enforced
            by the SDK like ``requests_per_minute``.
        sorted_streams: streams whose cursor only grows page after page; a crash in the middle of
            any other stream restarts it from its previous cursor.
    """

    streams: frozenset[Stream]
    write_ops: frozenset[OpType] = frozenset()
    page_max: int = 1000
    batch_max: int = 1
    requests_per_minute: int | None = None
    max_concurrency: int | None = None
    sorted_streams: frozenset[Stream] = frozenset()


@dataclass(frozen=True)
class Cursor:
    """Where a stream stopped. ``value`` is opaque to the engine (usually a JSON string).

    ``resumable=False`` marks a cursor that is only valid once the stream has been read to its
    end (the ERP cannot sort by modification time): the engine then stores the page's records
    but keeps the previous cursor until the stream finishes.
    """

    value: str
    resumable: bool = True


@dataclass(frozen=True)
class Reject:
    """A record that could not be translated: quarantined with where and why, never silently lost."""

    stream: Stream
    remote_id: str | None
    field_path: str | None
    reason: str
    raw: Any = None


@dataclass
class Page:
    """One page of a stream: the records, the rejects, and the cursor that follows them."""

    stream: Stream
    records: list[Record]
    cursor: Cursor | None
    rejects: list[Reject] = field(default_factory=list)
    api_calls: int = 1


@dataclass(frozen=True)
class OutboundOp:
    """An operation as the connector receives it: with the outbox's idempotency key.

    ``new_request`` is set when an earlier request carrying this operation was answered for good
    and an admin put the parked write back in the queue: a connector whose ERP de-duplicates
    whole requests (QuickBooks' ``requestid``) sends it under a new request id, or the ERP would
    replay its earlier answer. The key still identifies the operation itself.
    """

    key: str
    op: Operation
    new_request: bool = False

    @property
    def short_key(self) -> str:
        """A shorter form of the key for ERPs that cap their idempotency fields (36 characters)."""
        return self.key[:36]


@dataclass(frozen=True)
class WriteResult:
    """The ERP's answer for one operation of a batch."""

    key: str
    ok: bool
    remote_id: str | None = None
    version: str | None = None
    error: ConnectorError | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class KeyValueStore(Protocol):
    """Durable per-connection storage a connector may use (rotating OAuth refresh tokens, say).

    ``put`` returns only after the value is durable, so a connector can persist a new refresh
    token before it uses it.
    """

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


class MemoryKeyValueStore:
    """A process-local ``KeyValueStore`` for tests and one-off commands."""

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self._data: dict[str, str] = dict(initial or {})

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def put(self, key: str, value: str) -> None:
        self._data[key] = value


@dataclass
class ConnectorContext:
    """What the host gives a connector besides its settings.

    ``budget_share`` is the fraction of the ERP account's request budget this process may spend:
    1 when it is the only one drawing on the account, less when several processes do at once.
    """

    connection: str
    state: KeyValueStore = field(default_factory=MemoryKeyValueStore)
    data_dir: Path | None = None
    mapping_overrides: Mapping[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("arbridge.connector"))
    budget_share: float = 1.0


class ConnectorSettings(BaseModel):
    """Base for a connector's settings model: unknown keys are configuration mistakes."""

    model_config = ConfigDict(extra="forbid")


class Connector(abc.ABC):
    """Subclass this, declare the class attributes, implement ``check``, ``read`` and ``write``.

    The engine constructs a connector with ``Connector.create(settings, context)`` where
    ``settings`` is the ``settings:`` mapping of the connection (secrets already resolved to
    ``SecretStr``), validated against ``settings_model``.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0.0.0"
    capabilities: ClassVar[Capabilities]
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    @classmethod
    def create(cls, settings: Mapping[str, Any], context: ConnectorContext) -> Connector:
        """Validate ``settings`` against ``settings_model`` and build the connector."""
        return cls(cls.settings_model.model_validate(dict(settings)), context)

    @abc.abstractmethod
    def check(self) -> CheckResult:
        """Verify credentials and permissions; the message must tell an admin what to fix."""

    @abc.abstractmethod
    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        """Yield pages of records changed after ``cursor`` (everything when ``cursor`` is None)."""

    def write(self, ops: Sequence[OutboundOp]) -> list[WriteResult]:
        """Send at most ``capabilities.batch_max`` operations; return one result per operation.

        A failure of one operation is that operation's result, not an exception; raise only when
        the whole call failed (throttled, auth, network), and then nothing in the batch counts as
        written.
        """
        raise PermanentError(f"connector {self.name!r} does not write back")

    def budget_key(self) -> str:
        """The ERP account whose request budget this connection spends.

        Connections with the same key share one limiter in a process. The default is the
        connection itself; override it with the ERP's own account identity (QuickBooks: the
        realm, NetSuite: the account id) so two connections to one company share its budget.
        """
        return f"{self.name}:{self.context.connection}"

    @property
    def limiter(self) -> RateLimiter:
        """The account's limiter: ``with self.limiter:`` around every request to the ERP.

        ``connectors.rest.RestSession`` built by ``connectors.rest.session_for(self)`` does this
        for every HTTP request; a connector that talks to its ERP otherwise wraps each call itself.
        """
        caps = self.capabilities
        return shared_limiter(
            self.budget_key(),
            caps.requests_per_minute,
            caps.max_concurrency,
            share=self.context.budget_share,
        )

    def fetch(self, target_type: TargetType, remote_id: str) -> Record | None:
        """Re-read one record (after a conflict, or to reconcile an unconfirmed write)."""
        return None

    def find_written(self, op: OutboundOp) -> WriteResult | None:
        """Look up whether ``op`` already reached the ERP (by its idempotency key), if the ERP can tell.

        Used before re-sending a write whose confirmation was lost. Answer with:

        - a result with ``ok=True``: it landed (the engine marks the row done without sending);
        - a result with ``ok=False``: it certainly did not land (the engine sends it);
        - None: the ERP cannot tell. The engine resends inside the ERP's de-duplication window
          and parks the row for an admin outside it, rather than risk writing twice.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook; most connectors hold nothing to release
        """Release sessions and sockets."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Settings may hold secrets: SecretStr keeps them masked, and nothing else is shown.
        return f"<{type(self).__name__} connection={self.context.connection!r}>"
