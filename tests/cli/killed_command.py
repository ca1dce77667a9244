"""An ``arbridge`` command killed the moment its audit entry reaches the database (see the crash tests).

Run as ``python -m tests.cli.killed_command ARG...``: the command line ``arbridge ARG...``, with the
process sending itself SIGKILL right after the store wrote an audit entry and before anything was
committed, as a power cut or an OOM kill would stop it. With ``ARBRIDGE_KILL_AT_EVENT`` set, only an
audit entry of that event kills it.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from store.state import StateStore


def main(args: list[str]) -> None:
    original = StateStore._audit
    event = os.environ.get("ARBRIDGE_KILL_AT_EVENT")

    def killed(store: StateStore, conn: Any, kind: str, *rest: Any) -> Any:
        original(store, conn, kind, *rest)
        if event is None or kind == event:
            os.kill(os.getpid(), signal.SIGKILL)

    StateStore._audit = killed  # type: ignore[method-assign]
    from cli import arbridge

    arbridge.main(args=args, prog_name="arbridge", obj={})


if __name__ == "__main__":
    main(sys.argv[1:])
