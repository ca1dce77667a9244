"""The daemon's local HTTP endpoint: probes, Prometheus metrics and ERP webhooks.

Routes:

* ``GET /healthz``: liveness, 200 while the sync loop made progress recently, else 503.
* ``GET /readyz``: readiness, 200 when the state store answers and no connection needs
  re-authentication, else 503 with the reasons as JSON.
* ``GET /metrics``: Prometheus text exposition (see ``engine.metrics``); with
  ``workers.engine: procrastinate`` also the shared task queue's gauges.
* ``POST /webhooks/quickbooks/{connection}``: Intuit webhooks, verified with the connection's
  ``verifier_token``; the pull they ask for runs on a worker thread, after the reply.

``/metrics`` and ``/admin/…`` need ``Authorization: Bearer <server.token>`` whenever a token is
configured, which it must be when the bind address is not a loopback address. The probes stay
open (they carry no data) and webhooks are authenticated by their signature.

Usage from the daemon loop::

    health = Health()
    server = OpsServer(cfg, store, health=health, on_webhook=schedule_pull)
    server.start()
    ...
    health.beat()          # after every page or cycle that made progress
    ...
    server.stop()
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine import metrics
from engine.metrics import StoreReader

log = logging.getLogger("arbridge.http")

WebhookCallback = Callable[[str, list[tuple[str, str, str]]], None]
"""``on_webhook(connection, [(entity, id, operation), …])``: schedule a pull; runs off the request."""

DEFAULT_STALL_AFTER_S = 300.0
REPLAY_WINDOW_S = 24 * 3600.0
_WEBHOOK_QUEUE_SIZE = 1000
_REPLAY_CACHE_SIZE = 100_000
_SIGNATURE_HEADER = "intuit-signature"


class OpsServerError(RuntimeError):
    """The server cannot be started as configured (e.g. a public bind without a token)."""


class Health:
    """The sync loop's heartbeat, read by ``/healthz`` and the systemd watchdog.

    Args:
        stall_after_s: how long without progress before the daemon counts as stuck.
        clock: a monotonic clock (injectable for tests).
    """

    def __init__(
        self, stall_after_s: float = DEFAULT_STALL_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stall_after_s = stall_after_s
        self._clock = clock
        # Start-up counts as progress: migrations and the first pull may take a while.
        self.last_progress = clock()

    def beat(self) -> None:
        """Record that the loop made progress (a page stored, a cycle finished, an idle wait ended)."""
        self.last_progress = self._clock()

    def age(self) -> float:
        """Seconds since the last beat."""
        return max(self._clock() - self.last_progress, 0.0)

    def alive(self) -> bool:
        """Whether the last beat is younger than ``stall_after_s``."""
        return self.age() < self.stall_after_s


class _ServerSettings(Protocol):
    bind: str
    max_body_bytes: int

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def token(self) -> Any: ...


class _Connection(Protocol):
    name: str
    connector: str
    enabled: bool

    @property
    def validated_settings(self) -> Any: ...


class _WorkerSettings(Protocol):
    @property
    def distributed(self) -> bool: ...

    @property
    def stalled_after(self) -> timedelta: ...


class _Deployment(Protocol):
    @property
    def server(self) -> _ServerSettings: ...

    @property
    def connections(self) -> Sequence[_Connection]: ...


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ReplayGuard:
    """Remembers the hashes of signed bodies for a window, so a captured call cannot be replayed.

    Args:
        window_s: how long a body is remembered.
        max_entries: bound on memory; the oldest entries go first.
        clock: a monotonic clock.
    """

    def __init__(
        self,
        window_s: float = REPLAY_WINDOW_S,
        max_entries: int = _REPLAY_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window_s
        self._max = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """Record ``key``; False when it was already seen within the window."""
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at < self._window and len(self._seen) < self._max:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    def forget(self, key: str) -> None:
        """Drop ``key``, so a call that could not be handled may be delivered again."""
        with self._lock:
            self._seen.pop(key, None)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The daemon may restart within TIME_WAIT of the old socket.
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], ops: OpsServer
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ops = ops
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "arbridge"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # A client that sends nothing for this long is dropped, so slow clients cannot pin threads.
    timeout = 15

    def log_message(self, format: str, *args: Any) -> None:
        # The base class writes the raw request line to stderr; the path alone is enough, at DEBUG.
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path.split("?", 1)[0], code)

    # -- helpers ----------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, sort_keys=True).encode(), "application/json")

    def _text(self, status: int, text: str) -> None:
        self._send(status, (text + "\n").encode())

    def _authorized(self) -> bool:
        expected = self.server.ops.token
        if expected is None:
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.strip().encode("utf-8"), expected.encode("utf-8"))

    def _refuse_unauthorized(self) -> None:
        self.send_response(HTTPStatus.UNAUTHORIZED)
        body = b"bearer token required\n"
        self.send_header("WWW-Authenticate", 'Bearer realm="arbridge"')
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drain_or_refuse_body(self) -> bool:
        """Refuse oversized or unsized bodies before reading any of them; True when handled."""
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            # Chunked bodies have no length to check up front; the body stays unread, so close.
            self.close_connection = True
            self._text(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
            return True
        if length_header is None:
            return False
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            self._text(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            return True
        if length < 0 or length > self.server.ops.max_body_bytes:
            self.close_connection = True
            self._text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            return True
        return False

    # -- methods ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self._drain_or_refuse_body():
            return
        path = self.path.split("?", 1)[0]
        ops = self.server.ops
        if path == "/healthz":
            age = ops.health.age()
            if ops.health.alive():
                self._json(HTTPStatus.OK, {"status": "ok", "last_progress_age_s": round(age, 1)})
            else:
                self._json(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    {"status": "stalled", "last_progress_age_s": round(age, 1)},
                )
        elif path == "/readyz":
            reasons = ops.readiness_problems()
            status = HTTPStatus.SERVICE_UNAVAILABLE if reasons else HTTPStatus.OK
            self._json(status, {"ready": not reasons, "reasons": reasons})
        elif path == "/metrics":
            if not self._authorized():
                self._refuse_unauthorized()
                return
            self._send(HTTPStatus.OK, generate_latest(ops.registry), CONTENT_TYPE_LATEST)
        elif path.startswith("/admin/") or path == "/admin":
            if not self._authorized():
                self._refuse_unauthorized()
                return
            self._text(HTTPStatus.NOT_FOUND, "not found")
        else:
            self._text(HTTPStatus.NOT_FOUND, "not found")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        if self._drain_or_refuse_body():
            return
        path = self.path.split("?", 1)[0]
        prefix = "/webhooks/quickbooks/"
        if path.startswith("/admin"):
            if not self._authorized():
                self._refuse_unauthorized()
                return
            self.close_connection = True  # the body, if any, was not read
            self._text(HTTPStatus.NOT_FOUND, "not found")
            return
        if not path.startswith(prefix) or "/" in path[len(prefix) :]:
            self.close_connection = True
            self._text(HTTPStatus.NOT_FOUND, "not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, text = self.server.ops.handle_quickbooks_webhook(
            path[len(prefix) :], body, self.headers.get(_SIGNATURE_HEADER)
        )
        self._text(status, text)

    def _not_allowed(self) -> None:
        self.close_connection = True
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD, POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed


def _queue_reader(deployment: _Deployment, store: StoreReader) -> Callable[[], metrics.QueueSnapshot] | None:
    """What reads the shared task queue for ``/metrics``; None unless the workers share one."""
    workers: _WorkerSettings | None = getattr(deployment, "workers", None)
    engine = getattr(store, "engine", None)
    if workers is None or not workers.distributed or engine is None:
        return None
    from engine.workers.queue import read_queue

    # The same threshold the workers use to take one of them for dead and retry its job.
    alive_within_s = workers.stalled_after.total_seconds()
    return lambda: read_queue(engine, alive_within_s=alive_within_s)


class OpsServer:
    """The local HTTP endpoint of the daemon, served from background threads.

    Args:
        deployment: the loaded configuration (``server`` and ``connections`` are used).
        store: the state store.
        health: the loop's heartbeat, for ``/healthz``.
        on_webhook: called as ``on_webhook(connection, [(entity, id, operation), …])`` for every
            verified webhook, on a single worker thread after the reply was sent; it should only
            schedule a pull.

    Raises:
        OpsServerError: the bind address is not loopback and no token is configured.
    """

    def __init__(
        self,
        deployment: _Deployment,
        store: StoreReader,
        *,
        health: Health,
        on_webhook: WebhookCallback,
    ) -> None:
        server = deployment.server
        token = server.token.get_secret_value() if server.token is not None else None
        if not is_loopback(server.host) and not token:
            raise OpsServerError(
                f"refusing to listen on {server.bind} without server.token: every address other than "
                "127.0.0.1, ::1 or localhost needs a bearer token (set server.token to a reference "
                "such as ${credential:admin-token})"
            )
        self.token: str | None = token or None
        self.max_body_bytes = server.max_body_bytes
        self.health = health
        self._host, self._port = server.host, server.port
        self._store = store
        self._on_webhook = on_webhook
        self._connections = {c.name: c for c in deployment.connections}
        enabled = [c.name for c in deployment.connections if getattr(c, "enabled", True)]
        self._enabled = enabled
        self.registry = metrics.build_registry(store, enabled, queue=_queue_reader(deployment, store))
        self.replays = ReplayGuard()
        self._jobs: queue.Queue[tuple[str, list[tuple[str, str, str]]] | None] = queue.Queue(
            _WEBHOOK_QUEUE_SIZE
        )
        self._httpd: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"<OpsServer {self._host}:{self._port} token={'[secure]' if self.token else None}>"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the socket and serve from a background thread.

        Raises:
            OSError: the address is in use or cannot be bound.
        """
        if self._httpd is not None:
            return
        self._httpd = _HTTPServer((self._host, self._port), _Handler, self)
        serve = threading.Thread(target=self._httpd.serve_forever, name="arbridge-http", daemon=True)
        worker = threading.Thread(target=self._work, name="arbridge-webhooks", daemon=True)
        self._threads = [serve, worker]
        serve.start()
        worker.start()
        log.info("ops endpoint listening on %s", self.url)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, let the webhook worker finish what it holds, and close the socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        try:
            self._jobs.put(None, timeout=timeout)
        except queue.Full:
            log.warning("webhook queue still full at shutdown; the daily pull will catch up")
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._httpd = None
        self._threads = []

    @property
    def url(self) -> str:
        """The base URL, with the port actually bound (useful with port 0)."""
        host = self._host
        port = self._httpd.server_address[1] if self._httpd is not None else self._port
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # -- readiness --------------------------------------------------------------------------------

    def readiness_problems(self) -> list[str]:
        """Why the daemon is not ready; empty when it is."""
        try:
            if not self._store.ping():
                return ["state store unreachable"]
        except Exception:
            log.warning("state store ping failed", exc_info=True)
            return ["state store unreachable"]
        reasons = []
        for name in self._enabled:
            try:
                if self._store.connection_health(name).get("needs_reauth"):
                    # The ERP's own message may name the user or company; `arbridge status` shows it.
                    reasons.append(f"connection {name!r} needs re-authentication")
            except Exception:
                log.warning("reading the health of connection %s failed", name, exc_info=True)
                reasons.append(f"connection {name!r}: health unknown")
        return reasons

    # -- webhooks ---------------------------------------------------------------------------------

    def handle_quickbooks_webhook(
        self, connection: str, body: bytes, signature: str | None
    ) -> tuple[int, str]:
        """Verify, de-duplicate and queue one Intuit webhook call.

        Args:
            connection: the connection named in the URL.
            body: the raw request body.
            signature: the ``intuit-signature`` header.

        Returns:
            The HTTP status and a short text to answer with.
        """
        from connectors.quickbooks.webhooks import parse_notifications, verify_signature

        conn = self._connections.get(connection)
        settings = conn.validated_settings if conn is not None and conn.connector == "quickbooks" else None
        verifier = getattr(settings, "verifier_token", None)
        if conn is None or not getattr(conn, "enabled", True) or verifier is None:
            # Unknown and unconfigured connections look alike, so the URL space reveals nothing.
            metrics.webhook("unknown", "unknown_connection")
            return HTTPStatus.NOT_FOUND, "not found"
        if not verify_signature(body, signature, verifier.get_secret_value()):
            metrics.webhook(connection, "bad_signature")
            log.warning("webhook for %s refused: missing or invalid signature", connection)
            return HTTPStatus.UNAUTHORIZED, "invalid signature"
        key = connection + ":" + hashlib.sha256(body).hexdigest()
        if not self.replays.first_time(key):
            metrics.webhook(connection, "replay")
            log.warning("webhook for %s refused: the same signed body was already received", connection)
            return HTTPStatus.CONFLICT, "already received"
        try:
            notifications = parse_notifications(body)
        except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
            metrics.webhook(connection, "unreadable")
            log.warning("webhook for %s refused: unreadable body", connection)
            return HTTPStatus.BAD_REQUEST, "unreadable body"
        realm = str(getattr(settings, "realm_id", "") or "")
        # One app's webhook reports every company that authorised it; keep this connection's.
        changes = [
            (n.entity, n.id, n.operation) for n in notifications if not n.realm_id or n.realm_id == realm
        ]
        if changes:
            try:
                self._jobs.put_nowait((connection, changes))
            except queue.Full:
                self.replays.forget(key)  # let Intuit's retry through
                metrics.webhook(connection, "busy")
                return HTTPStatus.SERVICE_UNAVAILABLE, "busy"
        metrics.webhook(connection, "accepted")
        return HTTPStatus.OK, "ok"

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            connection, changes = job
            try:
                self._on_webhook(connection, changes)
            except Exception:  # one failing callback must not end the worker
                log.exception("scheduling the pull requested by a webhook for %s failed", connection)
