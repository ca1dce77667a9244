"""Which process runs a cycle, and whether it is still there.

A run is stamped with its process (``host:pid``) and refreshes a heartbeat while it works. A run
left ``running`` is abandoned when its process is gone: on this machine a pid that no longer
exists says so at once; a run on another machine (several workers sharing PostgreSQL) is taken
for gone once its heartbeat is older than ``STALE_AFTER``.
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta

__all__ = ["HEARTBEAT_EVERY", "STALE_AFTER", "active_runs", "process_gone", "this_process"]

# How often a running cycle refreshes its heartbeat, and how old one may be on another machine
# before that machine's process is taken for gone (ten missed beats: a busy database, a GC pause
# or a slow page never get that far).
HEARTBEAT_EVERY = timedelta(seconds=30)
STALE_AFTER = timedelta(minutes=5)

_HOST = socket.gethostname()
_active: set[str] = set()
_guard = threading.Lock()


def this_process() -> str:
    """This process as runs name it: ``host:pid``."""
    return f"{_HOST}:{os.getpid()}"


class active_runs:
    """Mark a run as being worked on by this process while the block runs."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def __enter__(self) -> None:
        with _guard:
            _active.add(self.run_id)

    def __exit__(self, *_exc: object) -> None:
        with _guard:
            _active.discard(self.run_id)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, under another user
    return True


def process_gone(run_id: str, worker: str | None, heartbeat_at: datetime | None, at: datetime) -> bool:
    """Whether the process of a run left ``running`` can no longer be working on it."""
    host, _, pid_text = (worker or "").rpartition(":")
    if host == _HOST and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            with _guard:
                return run_id not in _active  # this process, but no cycle of it runs this run
        if not _pid_alive(pid):
            return True
    elif heartbeat_at is None:
        return False  # an older release's run elsewhere: no heartbeat to judge by
    return heartbeat_at is not None and at - heartbeat_at > STALE_AFTER
