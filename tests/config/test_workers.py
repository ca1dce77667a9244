"""The ``workers`` section: one process by default, a PostgreSQL task queue shared by many on request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from config import ConfigError, load_config
from tests.config.fakes import registry, write_config

PG = "postgresql+psycopg://arbridge@db.internal/arbridge"


def test_without_a_workers_section_one_process_syncs_everything(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, "version: 1\n"), registry=registry())
    assert cfg.workers.engine == "local" and not cfg.workers.distributed


def test_procrastinate_workers_on_postgresql_are_accepted(tmp_path: Path) -> None:
    text = f"""
version: 1
store: {{url: "{PG}"}}
workers: {{engine: procrastinate, concurrency: 3, heartbeat: 5s, stalled_after: 20s}}
"""
    workers = load_config(write_config(tmp_path, text), registry=registry()).workers
    assert workers.distributed and workers.concurrency == 3
    assert (workers.heartbeat, workers.stalled_after) == (timedelta(seconds=5), timedelta(seconds=20))


def test_procrastinate_workers_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    text = "version: 1\nstore: {url: sqlite:///./state.sqlite}\nworkers: {engine: procrastinate}\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), registry=registry())
    [(path, message)] = caught.value.errors
    assert path == "workers.engine"
    assert "PostgreSQL" in message and "SQLite" in message and "workers.engine: local" in message
    assert "workers.engine (line 3)" in str(caught.value)


def test_a_stall_timeout_shorter_than_two_heartbeats_is_refused(tmp_path: Path) -> None:
    text = f"""
version: 1
store: {{url: "{PG}"}}
workers: {{engine: procrastinate, heartbeat: 10s, stalled_after: 15s}}
"""
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), registry=registry())
    [(path, message)] = caught.value.errors
    assert path == "workers" and "at least twice the heartbeat" in message
