"""HTTP for connectors: a limited, redacting session, classified retries, and paging patterns.

The pieces, each usable alone:

- ``RestSession``: a ``requests`` session with the connection's TLS settings, that takes a slot
  from the ERP account's limiter for every request it sends (so does anything built on it, such
  as a zeep ``Transport(session=...)``), keeps secrets out of its repr and of urllib3's logs, and
  sends through an injectable transport.
- ``session_for(connector)``: that session, configured from a connector's settings
  (``verify_tls``, ``ca_bundle``, every ``SecretStr``) and its ``Connector.limiter``.
- ``RestClient``: sends one call, sorts the answer with ``classify_http`` (or an override of
  ``classify``) and failures below HTTP with ``classify_transport_error``, and retries what may
  be retried, honouring ``Retry-After``.
- ``MockTransport``: answers requests from a function, so tests fake any answer or failure
  without a socket.
- ``page_number_pages``, ``offset_pages``, ``next_link_pages``, ``cursor_token_pages``: the four
  ways REST APIs page, as iterators of ``Paged`` chunks that say where the next chunk starts.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import requests
from pydantic import BaseModel, SecretStr
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from connectors.errors import (
    ConnectorError,
    PermanentError,
    ThrottledError,
    TransientError,
    classify_http,
)
from connectors.http import TlsSession, classify_transport_error, tls_verify
from connectors.limits import RateLimiter

if TYPE_CHECKING:
    from connectors.base import Connector

__all__ = [
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
]

log = logging.getLogger("arbridge.connectors.rest")

T = TypeVar("T")

MASK = "[secure]"
# Credentials that travel in query strings or form bodies, whatever the ERP calls them.
_SECRET_PARAMS = re.compile(
    r"((?:access_token|refresh_token|id_token|client_secret|api_key|apikey|password|code|sig|signature)=)"
    r"[^&\s\"']+",
    re.IGNORECASE,
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret and every credential-looking query parameter masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _SECRET_PARAMS.sub(rf"\1{MASK}", text)


class _SecretLogFilter(logging.Filter):
    """Masks registered secrets in urllib3's request lines (they carry the full URL at DEBUG)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = tuple(self._secrets)
        message = record.getMessage()
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_LOG_FILTER = _SecretLogFilter()
logging.getLogger("urllib3.connectionpool").addFilter(_LOG_FILTER)


class RestSession(TlsSession):
    """A session whose every request is limited, TLS-checked as configured, and never shows a secret.

    Args:
        verify: ``True``, ``False`` or a CA bundle path (see ``connectors.http.tls_verify``).
        limiter: the ERP account's limiter; every request sent (redirects and zeep's calls
            included) waits for a slot.
        secrets: values masked in the session's repr, in urllib3's logs and by ``redact``.
        transport: a ``requests`` adapter every URL goes through (``MockTransport`` in tests).
    """

    def __init__(
        self,
        verify: bool | str = True,
        *,
        limiter: RateLimiter | None = None,
        secrets: Iterable[str] = (),
        transport: BaseAdapter | None = None,
    ) -> None:
        super().__init__(verify)
        self.limiter = limiter
        self.secrets = tuple(s for s in secrets if s)
        _LOG_FILTER.add(self.secrets)
        self.sent = 0
        self._count_lock = threading.Lock()
        if transport is not None:
            self.mount("http://", transport)
            self.mount("https://", transport)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if self.limiter is None:
            return self._send_counted(request, **kwargs)
        with self.limiter:
            return self._send_counted(request, **kwargs)

    def _send_counted(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        with self._count_lock:
            self.sent += 1
        return super().send(request, **kwargs)

    def redact(self, text: str) -> str:
        """``text`` without this session's secrets or credential parameters."""
        return redact(text, self.secrets)

    def __repr__(self) -> str:
        return f"<RestSession verify={self.verify!r} limiter={self.limiter!r} Authorization={MASK}>"


def _secret_values(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_values(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secret_values(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secret_values(item)


def session_for(connector: Connector, *, transport: BaseAdapter | None = None) -> RestSession:
    """A ``RestSession`` for ``connector``: its TLS settings, its secrets, its account's limiter.

    Reads the conventional settings ``verify_tls`` (default true) and ``ca_bundle`` when the
    settings model has them; every ``SecretStr`` in the settings is masked.
    """
    settings = connector.settings
    verify = tls_verify(bool(getattr(settings, "verify_tls", True)), getattr(settings, "ca_bundle", None))
    return RestSession(
        verify,
        limiter=connector.limiter,
        secrets=list(_secret_values(settings)),
        transport=transport,
    )


# -- a transport for tests --------------------------------------------------------------------


def fake_response(
    status: int = 200,
    *,
    json: Any = None,
    text: str | bytes = "",
    headers: Mapping[str, str] | None = None,
    request: requests.PreparedRequest | None = None,
) -> requests.Response:
    """A ``requests.Response`` as a server would have sent it (for ``MockTransport`` handlers)."""
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(dict(headers or {}))
    if json is not None:
        body = jsonlib.dumps(json).encode("utf-8")
        response.headers.setdefault("Content-Type", "application/json")
    else:
        body = text.encode("utf-8") if isinstance(text, str) else text
    response._content = body
    response.encoding = "utf-8"
    if request is not None:
        response.request = request
        response.url = request.url or ""
    return response


class MockTransport(BaseAdapter):
    """A transport that answers from ``handler(request)`` instead of the network.

    The handler returns a response (``fake_response``) or raises what the network would
    (``requests.ConnectionError``, ``requests.Timeout`` …). Every request is kept in ``requests``.
    """

    def __init__(self, handler: Callable[[requests.PreparedRequest], requests.Response]) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[requests.PreparedRequest] = []
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        with self._lock:
            self.requests.append(request)
        response = self.handler(request)
        if response.request is None:
            response.request = request
            response.url = request.url or ""
        return response

    def close(self) -> None:
        """Nothing to release."""


# -- calls, classified and retried ------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """How ``RestClient`` retries one call before the error goes to the engine.

    Attributes:
        attempts: tries in all, the first included.
        initial: the first wait without ``Retry-After``, doubled per attempt (with full jitter,
            so integrations sharing an account do not retry in lockstep).
        cap: the longest wait without ``Retry-After``.
        max_wait: the longest ``Retry-After`` waited out here; a longer one goes to the engine at
            once, with its ``retry_after``, so no thread sleeps for minutes inside a call.
    """

    attempts: int = 4
    initial: float = 0.5
    cap: float = 30.0
    max_wait: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before try ``attempt + 1``."""
        if retry_after is not None:
            return retry_after
        return random.uniform(0, min(self.cap, self.initial * 2 ** (attempt - 1)))


class RestClient:
    """Sends calls to one REST API and turns every failure into a classified error.

    Retried here, with ``backoff``: throttling (429, or what ``classify`` calls throttled) and
    transient failures of calls that are safe to repeat (GET, HEAD, OPTIONS, PUT, DELETE, or
    ``idempotent=True``). A POST or PATCH that may have reached the server is not repeated here:
    its error goes to the engine, whose outbox keys and ``find_written`` make a resend safe.
    Auth failures, conflicts and bad requests are never retried.

    Args:
        base_url: the API root; ``request`` paths are relative to it (absolute URLs pass as they are).
        session: the session (``session_for(connector)``), or a plain one.
        backoff: the retry policy.
        sleep: how to wait (tests pass a recorder).
        what: how errors name the ERP ("Acme API").
        timeout: seconds per call.
    """

    def __init__(
        self,
        base_url: str,
        session: requests.Session,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        what: str = "ERP",
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.what = what
        self.timeout = timeout
        self.calls = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r} Authorization={MASK}>"

    def url(self, path: str) -> str:
        """The absolute URL of ``path``."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def redact(self, text: str) -> str:
        """``text`` without the session's secrets or credential parameters."""
        secrets = getattr(self.session, "secrets", ())
        return redact(text, secrets)

    def classify(self, response: requests.Response) -> ConnectorError | None:
        """The error an answer means, or None for success. Override for an ERP's own error bodies."""
        return classify_http(response.status_code, dict(response.headers), self.redact(response.text or ""))

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        accept: Iterable[int] = (),
        **kwargs: Any,
    ) -> requests.Response:
        """Send one call (``kwargs`` as for ``requests``); return the successful response.

        ``accept`` lists statuses that are answers, not errors (404 for a look-up by id).

        Raises:
            ThrottledError: still throttled after the allowed tries, or asked to wait longer than
                ``backoff.max_wait`` (``retry_after`` says how long).
            TransientError: the ERP or the network still failing after the allowed tries.
            AuthError, ConflictError, BadRecordError, PermanentError, TlsError: as classified.
        """
        method = method.upper()
        repeatable = method in _SAFE_METHODS if idempotent is None else idempotent
        kwargs.setdefault("timeout", self.timeout)
        url = self.url(path)
        what = f"{self.what} {method} {self.redact(path.split('?', 1)[0])}"
        attempt = 0
        while True:
            attempt += 1
            outcome, reached = self._try(method, url, what, kwargs, frozenset(accept))
            if isinstance(outcome, requests.Response):
                return outcome
            error = outcome
            may_retry = isinstance(error, ThrottledError) or (
                isinstance(error, TransientError) and (repeatable or not reached)
            )
            if not may_retry or attempt >= self.backoff.attempts:
                raise error
            if error.retry_after is not None and error.retry_after > self.backoff.max_wait:
                raise error
            wait = self.backoff.delay(attempt, error.retry_after)
            log.warning("%s: %s; retrying in %.1fs (attempt %d)", what, error, wait, attempt)
            self.sleep(wait)

    def _try(
        self, method: str, url: str, what: str, kwargs: dict[str, Any], accept: frozenset[int]
    ) -> tuple[requests.Response | ConnectorError, bool]:
        """The answer or its error, and whether the call may have reached the server."""
        self.calls += 1
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            return classify_transport_error(exc, what), not _never_connected(exc)
        error = None if response.status_code in accept else self.classify(response)
        return (response if error is None else error), True

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request`` and decode its JSON body; an unreadable body is transient (a proxy cut it)."""
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            snippet = self.redact(" ".join((response.text or "").split())[:200])
            raise TransientError(
                f"{self.what} {method.upper()} {path.split('?', 1)[0]}: unreadable answer "
                f"(HTTP {response.status_code}): {snippet!r}"
            ) from None


_NEVER_CONNECTED = ("Connection refused", "Failed to establish a new connection", "Name or service not known")


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (so even a POST may be resent)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.exceptions.SSLError):
        return False
    text = str(exc)
    return any(sign in text for sign in _NEVER_CONNECTED)


# -- paging -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One chunk of a paged collection.

    Attributes:
        items: the chunk's items.
        next: where the following chunk starts (a page number, an offset, a link, a token) or
            None after the last: store it in a cursor to resume there.
        api_calls: calls made for this chunk (for ``Page.api_calls``).
    """

    items: list[T]
    next: Any
    api_calls: int = 1


def page_number_pages(
    fetch: Callable[[int], Sequence[T]], *, page_size: int | None = None, first: int = 1
) -> Iterator[Paged[T]]:
    """Pages ``first``, ``first + 1`` … until an empty page, or a page shorter than ``page_size``.

    Give ``page_size`` only when the ERP always fills a page it has data for: an ERP that caps
    pages below what was asked would end the read early and lose records. Without it, the read
    ends on the first empty page (one more call, nothing lost).
    """
    number = first
    while True:
        items = list(fetch(number))
        done = not items or (page_size is not None and len(items) < page_size)
        yield Paged(items, None if done else number + 1)
        if done:
            return
        number += 1


def offset_pages(
    fetch: Callable[[int], Sequence[T]], *, page_size: int | None = None, start: int = 0
) -> Iterator[Paged[T]]:
    """Chunks at offsets ``start``, ``start + len(previous)`` … until an empty or short chunk.

    The next offset is counted from what came back, not from what was asked, so an ERP that
    serves fewer items than asked loses nothing. ``page_size`` as for ``page_number_pages``.
    """
    offset = start
    while True:
        items = list(fetch(offset))
        offset += len(items)
        done = not items or (page_size is not None and len(items) < page_size)
        yield Paged(items, None if done else offset)
        if done:
            return


def next_link_pages(fetch: Callable[[str], tuple[Sequence[T], str | None]], first: str) -> Iterator[Paged[T]]:
    """Follow the link each answer gives to the next one (``fetch(url)`` → items, next link).

    Raises:
        PermanentError: the ERP links back to a page already read (the read would never end).
    """
    seen = {first}
    link: str | None = first
    while link is not None:
        items, following = fetch(link)
        if following is not None and following in seen:
            raise PermanentError(
                f"the ERP's next link leads back to a page already read: {redact(following)}"
            )
        if following is not None:
            seen.add(following)
        yield Paged(list(items), following)
        link = following


def cursor_token_pages(
    fetch: Callable[[str | None], tuple[Sequence[T], str | None]], token: str | None = None
) -> Iterator[Paged[T]]:
    """Pass each answer's continuation token to the next call (``fetch(token)`` → items, token).

    The read ends when the ERP gives no token (or an empty one).

    Raises:
        PermanentError: the ERP hands out a token it already gave (the read would never end).
    """
    seen: set[str] = set()
    current = token
    while True:
        items, following = fetch(current)
        following = following or None
        if following is not None and following in seen:
            raise PermanentError("the ERP repeated a continuation token: the read would never end")
        if following is not None:
            seen.add(following)
        yield Paged(list(items), following)
        if following is None:
            return
        current = following
