"""systemd readiness and watchdog notifications over ``$NOTIFY_SOCKET`` (``Type=notify``).

Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op returning False, so the daemon runs
the same way in a terminal, a container or a Windows service.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable


def notify(state: str) -> bool:
    """Send one notification such as ``READY=1`` or ``STATUS=syncing acme``.

    Args:
        state: newline-separated ``KEY=value`` assignments.

    Returns:
        True when a message was sent, False outside systemd or when the socket is gone.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # Linux abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError:
        return False


def ready(status: str | None = None) -> bool:
    """Tell systemd start-up is complete (after migrations, config check and the HTTP server)."""
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def watchdog() -> bool:
    """Reset the systemd watchdog timer (``WatchdogSec=``)."""
    return notify("WATCHDOG=1")


def stopping(status: str | None = None) -> bool:
    """Tell systemd a graceful stop has begun, so it waits up to ``TimeoutStopSec=``."""
    return notify("STOPPING=1" + (f"\nSTATUS={status}" if status else ""))


def status(text: str) -> bool:
    """Set the one-line status ``systemctl status arbridge`` shows."""
    return notify("STATUS=" + text.replace("\n", " "))


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings systemd expects (half of ``WatchdogSec=``), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 1e6 / 2, 0.1)
    except ValueError:
        return None


class WatchdogPinger:
    """Pings the systemd watchdog from a thread, but only while ``alive()`` holds.

    Tying the ping to the sync loop's progress (``Health.alive``) rather than to a timer alone
    means systemd restarts a daemon whose loop is stuck, not only one whose process died.

    Args:
        alive: returns whether the daemon is making progress.
        interval: seconds between pings; ``watchdog_interval()`` when None.
    """

    def __init__(self, alive: Callable[[], bool], interval: float | None = None) -> None:
        self._alive = alive
        self._interval = interval if interval is not None else watchdog_interval()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start pinging; does nothing when systemd asked for no watchdog."""
        if self._interval is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="arbridge-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop pinging and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        assert self._interval is not None
        while not self._stop.is_set():
            if self._alive():
                watchdog()
            self._stop.wait(self._interval)
