"""One sync cycle of a real connector in a child process that a kill test kills, then runs again.

The child prints what the parent reads: with ``pages``, a line per page pulled (``page STREAM N``),
and at the end the cycle's status, the writes per kind and the errors, as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from connectors.base import ConnectorContext
from connectors.registry import discover
from engine import Decider, SyncEngine, SyncOptions
from mapping import Stream
from store import StateStore


def read_settings(settings_file: str) -> dict[str, Any]:
    return dict(json.loads(Path(settings_file).read_text()))


def print_page(stream: Stream, pages: int, records: int) -> None:
    # A read over ODBC leaves no trace in the ERP sandbox's log: the parent counts these.
    print(f"page {stream.value} {pages}", flush=True)


def sync_once(
    kind: str,
    connection: str,
    state_url: str,
    settings: dict[str, Any],
    deciders: Sequence[Decider],
    *,
    pages: bool = False,
) -> None:
    """One cycle of connector ``kind`` on ``connection``, deciding with ``deciders``."""
    store = StateStore.open(state_url)
    connector = (
        discover()
        .get(kind)
        .create(settings, ConnectorContext(connection=connection, state=store.connector_state(connection)))
    )
    options = SyncOptions(deciders=deciders, backoff_max=1.0, on_page=print_page if pages else None)
    with connector:
        report = SyncEngine(store, connector, connection, options).run_cycle()
    print(report.status, json.dumps(dict(report.written)), json.dumps(report.errors), flush=True)
    store.close()
