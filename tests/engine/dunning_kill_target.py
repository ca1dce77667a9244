"""A daemon cycle that sends dunning e-mails and letters, meant to be killed (see the crash test).

Run as ``python -m tests.engine.dunning_kill_target WORKDIR EXPORTS SMTP_PORT``: one cycle of the
connection ``shop`` (pull the CSV exports, plan, send) at the tests' fixed planning time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.runner import open_store, sync_connection
from tests.engine.dunning_fixtures import AS_OF, deployment


def main(workdir: str, exports: str, port: str) -> None:
    cfg = deployment(Path(workdir), Path(exports), int(port))
    store = open_store(cfg)
    report = sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF)
    store.close()
    print(json.dumps({"status": report.status, "delivered": report.delivered}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
