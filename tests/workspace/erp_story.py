"""A collector's call logged in the workspace on a connection to an ERP sandbox, then the cycles.

The deployment is what an admin writes: one connection with write-back on, the dunning rules on.
The first cycle pulls the ERP; the collector logs in, opens the worklist and logs a promise with a
note through the page's form; then the daemon's cycles run, each one writing what the outbox holds.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from config import load_config
from engine.runner import deciders_for, open_store, sync_connection
from service.http import Health, OpsServer, create_app
from store.users import Users

PASSWORD = "a long enough password"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ErpStory:
    path: Path
    connection: str
    clock: Callable[[], datetime] | None = None

    def cycle(self, later: timedelta = timedelta(0)) -> Any:
        """One cycle of the daemon at the story's now, or ``later`` than that.

        Without a clock of its own the cycle runs on the daemon's real time, as a daemon does.
        """
        cfg = load_config(self.path)
        store = open_store(cfg)
        as_of = self.clock() + later if self.clock else (_now() + later if later else None)
        try:
            conn = cfg.connections[0]
            return sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=as_of)
        finally:
            store.close()

    def log_promise(self, customer_id: str, promised: date, note: str) -> str:
        """Log a promise with a note as the collector does on the worklist page; returns the flash."""
        cfg = load_config(self.path)
        store = open_store(cfg)
        try:
            client = create_app(
                OpsServer(cfg, store, health=Health(), on_webhook=lambda c, n: None, clock=self.clock or _now)
            ).test_client()
            form = client.get("/login")
            client.post(
                "/login",
                data={"username": "collector", "password": PASSWORD, "csrf_token": _token(form.data)},
            )
            page = client.get("/worklist")
            answer = client.post(
                f"/worklist/{self.connection}/{customer_id}/call",
                data={
                    "csrf_token": _token(page.data),
                    "outcome": "promise",
                    "promised_date": promised.isoformat(),
                    "note": note,
                },
            )
            assert answer.status_code == 302
            return client.get("/worklist").get_data(as_text=True)
        finally:
            store.close()


def _token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has a form with a CSRF token"
    return found.group(1).decode()


def erp_story(
    tmp_path: Path,
    connector: str,
    settings: dict[str, Any],
    name: str = "erp",
    clock: Callable[[], datetime] | None = None,
) -> ErpStory:
    """A deployment on one ERP connection with write-back on, pulled once, with a collector.

    ``clock`` is the story's now: for its cycles and for the workspace (real time when not given).
    """
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            allow_secret_literals: true
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections:
              - name: {name}
                connector: {connector}
                settings: {json.dumps(settings)}
                write_back: {{enabled: true}}
            rules:
              dunning: {{enabled: true}}
            """
        )
    )
    path.chmod(0o600)
    story = ErpStory(path, name, clock)
    report = story.cycle()
    assert report.status == "ok", report
    store = open_store(load_config(path))
    try:
        Users(store).add("collector", PASSWORD, "collector", by="setup")
    finally:
        store.close()
    return story
