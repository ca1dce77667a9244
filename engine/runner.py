"""Wiring: from a deployment's configuration to connectors, deciders and sync cycles."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter

from connectors.base import Connector, ConnectorContext
from connectors.registry import Registry, discover
from engine.sync import CycleReport, Decider, Deliverer, SyncEngine, SyncOptions
from mapping.models import Stream
from store import StateStore

log = logging.getLogger("arbridge.runner")

DeciderFactory = Callable[[Any, Any], Sequence[Decider]]
_decider_factories: list[DeciderFactory] = []
DelivererFactory = Callable[[Any, Any], Sequence[Deliverer]]
_deliverer_factories: list[DelivererFactory] = []


def register_decider_factory(factory: DeciderFactory) -> None:
    """Let a rule package contribute deciders for a connection: ``factory(deployment, connection)``."""
    if factory not in _decider_factories:
        _decider_factories.append(factory)


def deciders_for(deployment: Any, connection: Any) -> list[Decider]:
    """The rule deciders a deployment turns on for a connection."""
    import engine.rules  # noqa: F401 - registers the dunning and cash-application deciders

    out: list[Decider] = []
    for factory in _decider_factories:
        out.extend(factory(deployment, connection))
    return out


def register_deliverer_factory(factory: DelivererFactory) -> None:
    """Let a rule package contribute deliverers for a connection: ``factory(deployment, connection)``."""
    if factory not in _deliverer_factories:
        _deliverer_factories.append(factory)


def deliverers_for(deployment: Any, connection: Any) -> list[Deliverer]:
    """What sends the rules' communications for a connection (dunning e-mails, letters …)."""
    import engine.rules  # noqa: F401 - registers the dunning deliverer

    out: list[Deliverer] = []
    for factory in _deliverer_factories:
        out.extend(factory(deployment, connection))
    return out


def open_store(deployment: Any) -> StateStore:
    return StateStore.open(str(deployment.store.url))


def make_connector(
    connection: Any, store: StateStore, registry: Registry | None = None, data_dir: Path | None = None
) -> Connector:
    """Build the connection's connector with its validated settings and durable state."""
    registry = registry or discover()
    cls = registry.get(connection.connector)
    if hasattr(connection, "validated_settings"):
        # A loaded configuration resolves secret references only into validated_settings;
        # the raw settings still hold "${...}" strings and must never reach a connector.
        settings = connection.validated_settings
        if settings is None:
            raise ValueError(
                f"connection {connection.name!r} has no valid settings (is it disabled or misconfigured?)"
            )
    else:
        settings = cls.settings_model.model_validate(dict(connection.settings or {}))
    context = ConnectorContext(
        connection=connection.name,
        state=store.connector_state(connection.name),
        data_dir=data_dir,
        mapping_overrides=dict(getattr(connection, "mapping", None) or {}),
        logger=logging.getLogger(f"arbridge.connector.{connection.connector}"),
        budget_share=float(getattr(connection, "budget_share", 1.0)),
    )
    return cls(settings, context)


def sync_connection(
    deployment: Any,
    connection: Any,
    store: StateStore,
    *,
    registry: Registry | None = None,
    stop: threading.Event | None = None,
    on_page: Callable[[Stream, int, int], None] | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
    dry_run: bool = False,
    deciders: Sequence[Decider] | None = None,
    deliverers: Sequence[Deliverer] | None = None,
    as_of: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    worker: str | None = None,
    job_id: int | None = None,
    full_rules: bool = False,
) -> CycleReport:
    """Run one full cycle (pull, decide, write back) for one connection.

    ``worker`` and ``job_id`` are recorded with the run: which process ran it, and for which job of
    the shared task queue. With ``full_rules`` the rules decide on the whole book, not only on what
    changed since their last run.
    """
    connector = make_connector(connection, store, registry)
    write_back = getattr(connection, "write_back", None)
    options = SyncOptions(
        streams=[Stream(s) for s in connection.streams] if getattr(connection, "streams", None) else None,
        write_back=bool(getattr(write_back, "enabled", False)),
        dry_run=dry_run or bool(getattr(write_back, "dry_run", False)),
        stop=stop or threading.Event(),
        on_page=on_page,
        on_progress=on_progress,
        deciders=list(deciders) if deciders is not None else deciders_for(deployment, connection),
        deliverers=list(deliverers) if deliverers is not None else deliverers_for(deployment, connection),
        as_of=as_of,
        sleep=sleep,
        worker=worker,
        job_id=job_id,
        full_rules=full_rules,
    )
    with connector:
        return SyncEngine(store, connector, connection.name, options).run_cycle()


# -- schedules ------------------------------------------------------------------------------------


def next_run(schedule: Any, after: datetime) -> datetime:
    """When a connection is due next: an interval after the last start, or the next cron time."""
    if hasattr(schedule, "next_run"):
        return schedule.next_run(after)  # type: ignore[no-any-return,unused-ignore]
    cron = getattr(schedule, "cron", None)
    if cron:
        return croniter(cron, after).get_next(datetime)  # type: ignore[no-any-return,unused-ignore]
    interval = getattr(schedule, "interval", None) or timedelta(minutes=15)
    if not isinstance(interval, timedelta):
        interval = timedelta(seconds=float(interval))
    return after + interval


def initial_schedule(connections: Sequence[Any], start: datetime | None = None) -> dict[str, datetime]:
    start = start or datetime.now(UTC)
    return {c.name: start for c in connections}
