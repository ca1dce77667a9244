"""A loopback HTTP proxy that breaks answers the way bad networks and bad gateways do.

Put it between a connector and a sandbox to see what the connector does when the ERP, a proxy or
the network misbehaves. Faults are queued and each one hits the next request it matches:

* ``Fault.answer(429, {"Retry-After": "2"})``: an answer from the proxy; the ERP never sees the call;
* ``Fault.html(502)``: an HTML error page, as gateways send, instead of JSON or XML;
* ``Fault.stall(3.0)``: the call reaches the ERP, the answer arrives only after ``seconds``
  (longer than the client's timeout: a read timeout after the ERP acted);
* ``Fault.reset()``: the call reaches the ERP, then the connection is cut in the middle of the
  answer's headers;
* ``Fault.truncate()``: the call reaches the ERP, and the answer announces more bytes than it sends;
* ``Fault.garbage()``: the call reaches the ERP, and its answer is replaced by an HTML page with
  status 200.

    with QuickBooksSandbox() as erp, FaultProxy(erp.base_url) as proxy:
        proxy.inject(Fault.reset(), when=lambda r: r.path.endswith("/batch"))
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultProxy", "ProxiedRequest"]

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr/><center>nginx</center></body></html>\n"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass(frozen=True)
class Fault:
    """One way to break one answer."""

    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def answer(cls, status: int, headers: dict[str, str] | None = None) -> Fault:
        """Answer ``status`` from the proxy with a short text body; the ERP never sees the call."""
        return cls("answer", status, dict(headers or {}))

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """Answer an HTML error page with ``status``; the ERP never sees the call."""
        return cls("html", status)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Forward the call, then hold the answer back for ``seconds``."""
        return cls("stall", seconds=seconds)

    @classmethod
    def reset(cls) -> Fault:
        """Forward the call, then cut the connection in the middle of the answer."""
        return cls("reset")

    @classmethod
    def truncate(cls) -> Fault:
        """Forward the call, then send a Content-Length longer than the body and close."""
        return cls("truncate")

    @classmethod
    def garbage(cls) -> Fault:
        """Forward the call, then answer 200 with an HTML page instead of the ERP's answer."""
        return cls("garbage")


@dataclass
class ProxiedRequest:
    """A request as the proxy received it, with the fault it met (None: passed through)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    fault: Fault | None = None


class FaultProxy:
    """Forwards every request to ``upstream`` unless a queued fault says otherwise.

    Args:
        upstream: the server behind the proxy, ``http://127.0.0.1:PORT``.
        port: TCP port on 127.0.0.1 (0 picks a free one).
        tls: serve HTTPS with this server context (the proxy then terminates TLS for a sandbox).

    Attributes:
        requests: every request received, in order, with the fault it met.
        connections: TCP connections accepted (a client that rejects the certificate makes one
            and sends no request).
    """

    def __init__(self, upstream: str, port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.requests: list[ProxiedRequest] = []
        self.connections = 0
        self._faults: list[tuple[Fault, Callable[[ProxiedRequest], bool]]] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._tls = tls
        if tls is not None:
            # The handshake runs in the request's thread, so a client refusing it blocks no one.
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def url(self, upstream_url: str) -> str:
        """``upstream_url`` (an address on the upstream server) as reached through the proxy."""
        parts = urlsplit(upstream_url)
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base_url + rest

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def inject(self, *faults: Fault, when: Callable[[ProxiedRequest], bool] = lambda r: True) -> None:
        """Queue ``faults``: each hits the next request ``when`` accepts, in order."""
        with self._lock:
            self._faults.extend((f, when) for f in faults)

    @property
    def pending(self) -> int:
        """Faults queued that no request has met yet."""
        with self._lock:
            return len(self._faults)

    def _take(self, request: ProxiedRequest) -> Fault | None:
        with self._lock:
            for i, (fault, when) in enumerate(self._faults):
                if when(request):
                    del self._faults[i]
                    return fault
        return None

    def forward(self, request: ProxiedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn.request(request.method, request.path, body=request.body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
            return resp.status, kept, data
        finally:
            conn.close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # refused handshakes and cut connections are what this server is for


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            with proxy._lock:
                proxy.connections += 1
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()
            super().setup()

        def log_message(self, format: str, *args: Any) -> None:
            return

        def handle(self) -> None:
            with contextlib.suppress(OSError, ValueError):  # a connection this proxy cut on purpose
                super().handle()

        def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _cut(self) -> None:
            # SO_LINGER 0: close with a TCP reset, as a crashed gateway or a dropped link does.
            self.close_connection = True
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = ProxiedRequest(self.command, self.path, dict(self.headers.items()), body)
            fault = request.fault = proxy._take(request)
            proxy.requests.append(request)
            if fault is not None and fault.kind == "answer":
                text = f"{fault.status} {http.client.responses.get(fault.status, '')}\n".encode()
                self._reply(fault.status, [("Content-Type", "text/plain"), *fault.headers.items()], text)
                return
            if fault is not None and fault.kind == "html":
                self._reply(fault.status, [("Content-Type", "text/html")], HTML_PAGE)
                return
            status, headers, data = proxy.forward(request)
            if fault is None:
                self._reply(status, headers, data)
                return
            if fault.kind == "stall":
                time.sleep(fault.seconds)
                with contextlib.suppress(OSError):  # the client gave up waiting, as intended
                    self._reply(status, headers, data)
                self.close_connection = True
            elif fault.kind == "reset":
                self.wfile.write(f"HTTP/1.1 {status} OK\r\nContent-Type: ".encode())
                self._cut()
            elif fault.kind == "truncate":
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data) + 512))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self._cut()
            elif fault.kind == "garbage":
                self._reply(200, [("Content-Type", "text/html")], HTML_PAGE)
            else:
                raise ValueError(f"unknown fault {fault.kind!r}")

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

    return Handler
