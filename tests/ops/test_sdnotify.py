"""The daemon tells systemd when it is ready, alive and stopping, over a real notify socket."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import sdnotify


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    # AF_UNIX paths are limited to ~100 bytes, which a deep tmp_path can exceed.
    short = tempfile.TemporaryDirectory(prefix="sd")
    path = Path(short.name) / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()
    short.cleanup()


def test_sd_notify_sends_ready_and_watchdog(notify_socket: socket.socket) -> None:
    assert sdnotify.ready("syncing 2 connections")
    assert sdnotify.watchdog()
    assert sdnotify.status("idle\nuntil 10:00")
    assert sdnotify.stopping()

    received = [notify_socket.recv(4096).decode() for _ in range(4)]
    assert received == [
        "READY=1\nSTATUS=syncing 2 connections",
        "WATCHDOG=1",
        "STATUS=idle until 10:00",
        "STOPPING=1",
    ]


def test_sd_notify_is_a_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False


def test_the_watchdog_is_pinged_only_while_the_loop_makes_progress(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    alive = [True]
    pinger = sdnotify.WatchdogPinger(lambda: alive[0])
    assert sdnotify.watchdog_interval() == pytest.approx(0.1)
    pinger.start()
    try:
        assert notify_socket.recv(64) == b"WATCHDOG=1"
        alive[0] = False
        notify_socket.settimeout(0.5)
        # Drain a ping that may have been sent before the flag flipped, then expect silence.
        try:
            notify_socket.recv(64)
            notify_socket.recv(64)
            stalled_pings = True
        except TimeoutError:
            stalled_pings = False
    finally:
        pinger.stop()
    assert stalled_pings is False
