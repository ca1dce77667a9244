"""Serve a WSGI application on waitress, in the background (tests, the demo) or in the foreground.

Everything arbridge serves over HTTP is a WSGI app (Flask) on waitress (see ``docs/architecture.md``).
Waitress reads a request's whole body before the app sees it, so a request cut short by a dying
client is never acted on; it keeps a real listen backlog, so a burst of clients queues instead of
being reset.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from waitress.server import create_server

__all__ = ["BackgroundServer"]

# waitress logs every client that went away mid-request at WARNING; a sandbox under a kill test
# sees many of them, and they say nothing about the sandbox itself.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


class BackgroundServer:
    """One waitress server for one WSGI app.

    Args:
        app: the WSGI application.
        host: the address to bind (loopback by default).
        port: the port; 0 picks a free one (read it back from ``port``).
        threads: worker threads, i.e. requests handled at once; more wait in waitress's queue.
        backlog: the listen backlog, connections the kernel holds before ``accept``.
        name: the thread name, for stack dumps.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 16,
        backlog: int = 1024,
        name: str = "sandbox",
        **waitress_options: Any,
    ) -> None:
        waitress_options.setdefault("ident", "")
        # How long the accept loop sleeps between checks: short, so close() returns at once.
        waitress_options.setdefault("asyncore_loop_timeout", 0.05)
        waitress_options.setdefault("clear_untrusted_proxy_headers", True)
        self._server: Any = create_server(
            app, host=host, port=port, threads=threads, backlog=backlog, **waitress_options
        )
        self.host = host
        self.port: int = int(self._server.effective_port)
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Serve in a daemon thread and return at once."""
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``close`` (or Ctrl-C)."""
        try:
            self._run()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def _run(self) -> None:
        # close() from another thread closes the sockets under the loop.
        with contextlib.suppress(OSError):
            self._server.run()

    def close(self) -> None:
        """Stop accepting, let requests in flight finish (2 s at most), then close every socket."""
        server = self._server
        server.accepting = False
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=2)
        # The map holds the listening socket, the loop's trigger and every client channel.
        for channel in list(server._map.values()):
            with contextlib.suppress(OSError):
                channel.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
