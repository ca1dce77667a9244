"""The daemon's local HTTP endpoint: probes, Prometheus metrics and ERP webhooks.

Routes:

* ``GET /healthz``: liveness, 200 while the sync loop made progress recently, else 503.
* ``GET /readyz``: readiness, 200 when the state store answers and no connection needs
  re-authentication, else 503 with the reasons as JSON.
* ``GET /metrics``: Prometheus text exposition (see ``engine.metrics``); with
  ``workers.engine: procrastinate`` also the shared task queue's gauges.
* ``POST /webhooks/{connector}/{connection}``: the ERP's change notifications, read by the
  connector's receiver (entry-point group ``arbridge.webhooks``, see ``connectors.webhooks``);
  the pull they ask for runs on a worker thread, after the reply.
* ``/login``, ``/overview``, ``/worklist``, ``/review``, ``/customers``, ``/dunning``, ``/invoices``,
  ``/assets/…``: the collections workspace (``service.workspace``, ``docs/workspace.md``), for the
  users of ``arbridge users``; a background thread keeps the overview's sums up to date. Beyond
  loopback it answers only over HTTPS, through a TLS-terminating reverse proxy on this machine
  (its ``X-Forwarded-Proto`` is trusted from 127.0.0.1 only), and its session cookie is ``Secure``.

The app is Flask on waitress (``docs/architecture.md``): waitress refuses a body over
``server.max_body_bytes`` with 413 before reading it, and hands the app whole bodies only.

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

import hmac
import ipaddress
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from http import HTTPStatus
from importlib import metadata
from typing import Any, Protocol

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.webhooks import WebhookAnswer, WebhookReceiver, WebhookRequest
from engine import metrics
from engine.metrics import StoreReader
from sandboxes.serving import BackgroundServer
from store import StateStore

log = logging.getLogger("arbridge.http")

WebhookCallback = Callable[[str, list[tuple[str, str, str]]], None]
"""``on_webhook(connection, [(entity, id, operation), …])``: schedule a pull; runs off the request."""

DEFAULT_STALL_AFTER_S = 300.0
REPLAY_WINDOW_S = 24 * 3600.0
_WEBHOOK_QUEUE_SIZE = 1000
_REPLAY_CACHE_SIZE = 100_000
WEBHOOK_ENTRY_POINTS = "arbridge.webhooks"
# A client that sends nothing for this long is dropped, so slow clients cannot pin threads.
_CHANNEL_TIMEOUT_S = 15
_THREADS = 8


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
        clock: Callable[[], datetime] | None = None,
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
        self.deployment = deployment
        self.clock = clock
        self.workspace: Any = None
        self._on_webhook = on_webhook
        self._connections = {c.name: c for c in deployment.connections}
        enabled = [c.name for c in deployment.connections if getattr(c, "enabled", True)]
        self._enabled = enabled
        self.registry = metrics.build_registry(store, enabled, queue=_queue_reader(deployment, store))
        self.replays = ReplayGuard()
        self._jobs: queue.Queue[tuple[str, list[tuple[str, str, str]]] | None] = queue.Queue(
            _WEBHOOK_QUEUE_SIZE
        )
        self._receivers: dict[str, WebhookReceiver | None] = {}
        self._receivers_lock = threading.Lock()
        self._server: BackgroundServer | None = None
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"<OpsServer {self._host}:{self._port} token={'[secure]' if self.token else None}>"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the socket and serve from background threads.

        Raises:
            OSError: the address is in use or cannot be bound.
        """
        if self._server is not None:
            return
        self._server = BackgroundServer(
            create_app(self),
            host=self._host,
            port=self._port,
            threads=_THREADS,
            name="arbridge-http",
            max_request_body_size=self.max_body_bytes,
            channel_timeout=_CHANNEL_TIMEOUT_S,
            # A reverse proxy on this machine says whether the browser's connection was HTTPS.
            trusted_proxy="127.0.0.1",
            trusted_proxy_headers={"x-forwarded-proto"},
            trusted_proxy_count=1,
        ).start()
        worker = threading.Thread(target=self._work, name="arbridge-webhooks", daemon=True)
        self._threads = [worker]
        worker.start()
        if self.workspace is not None:
            self.workspace.start_refresher()
        log.info("ops endpoint listening on %s", self.url)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, let the webhook worker finish what it holds, and close the socket."""
        if self._server is None:
            return
        if self.workspace is not None:
            self.workspace.stop_refresher(timeout)
        self._server.close()
        try:
            self._jobs.put(None, timeout=timeout)
        except queue.Full:
            log.warning("webhook queue still full at shutdown; the daily pull will catch up")
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._server = None
        self._threads = []

    @property
    def url(self) -> str:
        """The base URL, with the port actually bound (useful with port 0)."""
        host = self._host
        port = self._server.port if self._server is not None else self._port
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

    def _receiver(self, connector: str) -> WebhookReceiver | None:
        """The installed receiver for ``connector``'s webhooks, loaded once; None when there is none."""
        with self._receivers_lock:
            if connector not in self._receivers:
                found = [e for e in metadata.entry_points(group=WEBHOOK_ENTRY_POINTS) if e.name == connector]
                receiver: WebhookReceiver | None = None
                if found:
                    try:
                        receiver = found[0].load()()
                    except Exception:  # a broken plugin answers 404, the daemon goes on
                        log.exception("webhook receiver of connector %s failed to load", connector)
                self._receivers[connector] = receiver
            return self._receivers[connector]

    def handle_webhook(self, connector: str, connection: str, call: WebhookRequest) -> WebhookAnswer:
        """Read one webhook call with the connection's receiver, de-duplicate it, and queue its pull.

        Args:
            connector: the connector named in the URL; it must be the connection's own.
            connection: the connection named in the URL.
            call: the request.

        Returns:
            What to answer.
        """
        conn = self._connections.get(connection)
        receiver = self._receiver(connector) if conn is not None and conn.connector == connector else None
        if conn is None or not getattr(conn, "enabled", True) or receiver is None:
            # Unknown and unconfigured connections look alike, so the URL space reveals nothing.
            metrics.webhook("unknown", "unknown_connection")
            return WebhookAnswer(HTTPStatus.NOT_FOUND, "not found", outcome="unknown_connection")
        answer = receiver.receive(call, conn.validated_settings)
        if answer.status >= 300:
            if answer.outcome == "bad_signature":
                log.warning("webhook for %s refused: missing or invalid signature", connection)
            unknown = answer.outcome == "unknown_connection"
            metrics.webhook("unknown" if unknown else connection, answer.outcome)
            return answer
        key = None if answer.replay_key is None else f"{connection}:{answer.replay_key}"
        if key is not None and not self.replays.first_time(key):
            metrics.webhook(connection, "replay")
            log.warning("webhook for %s refused: the same signed body was already received", connection)
            return WebhookAnswer(HTTPStatus.CONFLICT, "already received", outcome="replay")
        if answer.changes:
            try:
                self._jobs.put_nowait((connection, [(c.entity, c.id, c.operation) for c in answer.changes]))
            except queue.Full:
                if key is not None:
                    self.replays.forget(key)  # let the ERP's retry through
                metrics.webhook(connection, "busy")
                return WebhookAnswer(HTTPStatus.SERVICE_UNAVAILABLE, "busy", outcome="busy")
        metrics.webhook(connection, answer.outcome)
        return answer

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


def _authorized(ops: OpsServer) -> bool:
    if ops.token is None:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8"), ops.token.encode("utf-8"))


def _text(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, content_type="text/plain; charset=utf-8")


def _unauthorized() -> Response:
    answer = _text(HTTPStatus.UNAUTHORIZED, "bearer token required")
    answer.headers["WWW-Authenticate"] = 'Bearer realm="arbridge"'
    return answer


def create_app(ops: OpsServer) -> Flask:
    """The daemon's WSGI app: probes, metrics, the admin space, ERP webhooks and the workspace."""
    app = Flask("arbridge.service")

    @app.after_request
    def no_caching(answer: Response) -> Response:
        answer.headers["Cache-Control"] = "no-store"
        answer.headers["X-Content-Type-Options"] = "nosniff"
        return answer

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        age = round(ops.health.age(), 1)
        if ops.health.alive():
            return jsonify({"status": "ok", "last_progress_age_s": age}), HTTPStatus.OK
        return jsonify({"status": "stalled", "last_progress_age_s": age}), HTTPStatus.SERVICE_UNAVAILABLE

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        reasons = ops.readiness_problems()
        status = HTTPStatus.SERVICE_UNAVAILABLE if reasons else HTTPStatus.OK
        return jsonify({"ready": not reasons, "reasons": reasons}), status

    @app.get("/metrics")
    def metrics_page() -> Response:
        if not _authorized(ops):
            return _unauthorized()
        return Response(generate_latest(ops.registry), content_type=CONTENT_TYPE_LATEST)

    @app.route("/admin", methods=["GET", "POST"])
    @app.route("/admin/<path:_rest>", methods=["GET", "POST"])
    def admin(_rest: str = "") -> Response:
        if not _authorized(ops):
            return _unauthorized()
        return _text(HTTPStatus.NOT_FOUND, "not found")

    @app.post("/webhooks/<connector>/<connection>")
    def webhook(connector: str, connection: str) -> Response:
        call = WebhookRequest(
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=request.args.to_dict(),
            body=request.get_data(cache=False),
        )
        answer = ops.handle_webhook(connector, connection, call)
        text = answer.text if answer.content_type != "text/plain; charset=utf-8" else answer.text + "\n"
        out = Response(text, status=int(answer.status), content_type=answer.content_type)
        out.headers.update(answer.headers)
        return out

    if isinstance(ops._store, StateStore):
        from service.workspace import Workspace, install

        workspace = Workspace(
            ops._store, ops.deployment, https_only=not is_loopback(ops._host), token=ops.token
        )
        if ops.clock is not None:
            workspace.clock = ops.clock
        install(app, workspace)
        ops.workspace = workspace

    @app.errorhandler(404)
    def not_found(_error: Exception) -> Response:
        return _text(HTTPStatus.NOT_FOUND, "not found")

    @app.errorhandler(405)
    def not_allowed(_error: Exception) -> Response:
        answer = Response(b"", status=HTTPStatus.METHOD_NOT_ALLOWED)
        answer.headers["Allow"] = "GET, HEAD, POST"
        return answer

    return app
