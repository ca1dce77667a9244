"""The ``arbridge`` entry point and the daemon loop.

The command line is built in ``cli/``; ``arbridge run`` lands in ``run_daemon`` below, which syncs
every connection on its schedule (or works the shared task queue) until SIGTERM, and after a
connection's cycle starts the refit of its payment-date model when ``prediction.refit`` says it is
due; the refit runs on a thread of its own (``engine.background_refit``) while the loop goes on.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import click

from cli import arbridge as cli
from cli import main
from cli.options import open_store, selected_connections
from cli.run import run_command as run
from connectors.registry import discover
from engine.runner import initial_schedule, next_run, sync_connection
from mapping.models import Stream

__all__ = ["cli", "main", "run", "run_daemon"]

log = logging.getLogger("arbridge.daemon")


def run_daemon(deployment: Any, *, drain_timeout: float) -> int:
    """Sync every connection on its schedule until SIGTERM; return the exit code."""
    store = open_store(deployment)
    registry = discover()
    stop = threading.Event()
    signals = {"count": 0}
    stopped_at: dict[str, float] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            # Safe: every write is in the outbox with its key; the next start resumes it.
            log.warning("second signal: exiting at once", extra={"event": "shutdown_now"})
            sys.stderr.flush()
            import os

            os._exit(1)
        log.info(
            "signal %s: finishing in-flight work, claiming nothing new", signum, extra={"event": "shutdown"}
        )
        stopped_at.setdefault("at", time.monotonic())
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    connections = selected_connections(deployment, ())
    due = initial_schedule(connections)
    due_lock = threading.Lock()
    wake = threading.Event()
    workers = None
    if deployment.workers.distributed:
        from engine.workers import Workers

        workers = Workers(deployment, store, registry=registry, stop=stop)

    def on_webhook(connection: str, changes: list[tuple[str, str, str]]) -> None:
        # A webhook only schedules a pull; the pull itself runs in the loop (Intuit wants a reply in 3 s).
        if workers is not None:
            workers.sync_soon(connection, "webhook")
            log.info("webhook: %d change(s), pull queued", len(changes), extra={"connection": connection})
            return
        with due_lock:
            if connection in due:
                due[connection] = datetime.now(UTC)
        log.info("webhook: %d change(s), pull scheduled", len(changes), extra={"connection": connection})
        wake.set()

    from service import sdnotify
    from service.http import Health, OpsServer, OpsServerError

    health = Health()
    server = OpsServer(deployment, store, health=health, on_webhook=on_webhook)
    try:
        server.start()
    except (OpsServerError, OSError) as exc:
        click.echo(f"arbridge: cannot start the HTTP endpoint: {exc}", err=True)
        store.close()
        return 2
    pinger = sdnotify.WatchdogPinger(health.alive)
    pinger.start()
    sdnotify.ready(f"{len(connections)} connection(s)")
    log.info(
        "daemon started with %d connection(s); endpoint %s",
        len(connections),
        server.url,
        extra={"event": "started", "store": store.url, "workers": deployment.workers.engine},
    )

    def beat(_stream: Stream, _pages: int, _records: int) -> None:
        health.beat()

    def drain_deadline() -> None:
        stop.wait()
        if not finished.wait(drain_timeout):
            log.warning("in-flight work did not finish within %ss: exiting", drain_timeout)
            sys.stderr.flush()
            import os

            os._exit(1)

    paused = _PausedConnections(deployment)
    refits = None
    if workers is None:
        from engine.background_refit import BackgroundRefits  # numpy loads only in the daemon

        refits = BackgroundRefits(deployment, store)
    finished = threading.Event()
    threading.Thread(target=drain_deadline, name="drain-deadline", daemon=True).start()
    code = workers.run(drain_timeout=drain_timeout, beat=health.beat) if workers is not None else 0
    while refits is not None and not stop.is_set():
        for conn in connections:
            if stop.is_set():
                break
            with due_lock:
                is_due = due[conn.name] <= datetime.now(UTC)
            if not is_due:
                continue
            started = datetime.now(UTC)
            try:
                report = sync_connection(deployment, conn, store, registry=registry, stop=stop, on_page=beat)
                paused.tell(conn, report.status)
                if not stop.is_set():
                    refits.after_cycle(conn.name)
            except Exception:  # one broken connection must not stop the others
                log.exception("cycle crashed", extra={"connection": conn.name})
            health.beat()
            with due_lock:
                if due[conn.name] <= started:  # not re-scheduled by a webhook meanwhile
                    due[conn.name] = next_run(deployment.schedule_for(conn), started)
        with due_lock:
            wait = min(due.values(), default=datetime.now(UTC)) - datetime.now(UTC)
        wake.wait(max(0.2, min(wait.total_seconds(), 30.0)))
        wake.clear()
        health.beat()
    sdnotify.stopping()
    if refits is not None:
        from engine.background_refit import SHUTDOWN_GRACE

        # Within what is left of the drain, which ends the process when it runs out.
        left = drain_timeout - (time.monotonic() - stopped_at.get("at", time.monotonic())) - 1.0
        refits.close(wait=max(0.0, min(SHUTDOWN_GRACE, left)))
    pinger.stop()
    server.stop()
    finished.set()
    store.close()
    if code:
        log.error("daemon stopped: the task queue failed", extra={"event": "stopped"})
    else:
        log.info("daemon stopped cleanly", extra={"event": "stopped"})
    return code


class _PausedConnections:
    """Says once, in the daemon's log, the exact command that gives a paused connection its credentials."""

    def __init__(self, deployment: Any) -> None:
        self.config = str(getattr(deployment, "source", None) or "FILE")
        self.told: set[str] = set()

    def tell(self, connection: Any, status: str) -> None:
        if status != "needs_reauth":
            self.told.discard(connection.name)
            return
        if connection.name in self.told:
            return
        from cli.health import fix_credentials_hint

        self.told.add(connection.name)
        log.error(
            "connection %s is paused until its credentials work again; %s",
            connection.name,
            fix_credentials_hint(connection, self.config),
            extra={"connection": connection.name, "event": "needs_reauth_hint"},
        )


if __name__ == "__main__":
    main()
