"""With workers sharing a PostgreSQL task queue, /metrics shows what waits, runs and failed in it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from procrastinate.jobs import Status

from config import DeploymentConfig, parse_config
from engine.workers import Workers
from engine.workers.queue import defer_now
from service.http import Health, OpsServer
from store import StateStore
from tests.ops.conftest import deployment as sqlite_deployment
from tests.ops.conftest import free_port
from tests.ops.test_metrics import sample

TOKEN = "queue-metrics-token"


@pytest.fixture
def deployment(postgres_url: str, tmp_path: Path) -> DeploymentConfig:
    return parse_config(
        {
            "version": 1,
            "store": {"url": postgres_url},
            "server": {"bind": f"127.0.0.1:{free_port()}", "token": "${ADMIN_TOKEN}"},
            "workers": {"engine": "procrastinate", "heartbeat": "1s", "stalled_after": "3s"},
            "connections": [
                {
                    "name": f"company-{i}",
                    "connector": "csv",
                    "schedule": {"interval": "15m"},
                    "settings": {"folder": str(tmp_path)},
                }
                for i in range(4)
            ],
        },
        base_dir=tmp_path,
        environ={"ADMIN_TOKEN": TOKEN},
    )


@pytest.fixture
def store(deployment: DeploymentConfig) -> Iterator[StateStore]:
    s = StateStore.open(str(deployment.store.url))
    yield s
    s.close()


@pytest.fixture
def server(deployment: DeploymentConfig, store: StateStore) -> Iterator[OpsServer]:
    ops = OpsServer(deployment, store, health=Health(), on_webhook=lambda connection, changes: None)
    ops.start()
    yield ops
    ops.stop()


def scrape(server: OpsServer) -> str:
    response = requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    return response.text


def fill_the_queue(deployment: DeploymentConfig, store: StateStore) -> int:
    """One job running on a live worker, one failed, one waiting; a second worker went silent.

    Returns the id of the waiting job.
    """
    queue = Workers(deployment, store, stop=threading.Event()).app

    async def fill() -> int:
        async with queue.open_async():
            manager = queue.job_manager
            live = await manager.register_worker()
            silent = await manager.register_worker()
            running = await defer_now(queue, "company-1", "webhook")
            job = await manager.fetch_job(queues=None, worker_id=live)
            assert job is not None and job.id == running
            crashed = await defer_now(queue, "company-2", "webhook")
            job = await manager.fetch_job(queues=None, worker_id=silent)
            assert job is not None and job.id == crashed
            await manager.finish_job_by_id_async(crashed, status=Status.FAILED, delete_job=False)
            waiting = await defer_now(queue, "company-0", "schedule")
            assert waiting is not None
            await queue.connector.execute_query_async(  # type: ignore[attr-defined]
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
                " WHERE id = %(id)s",
                id=silent,
            )
            return waiting

    return asyncio.run(fill())


@pytest.mark.postgres
def test_metrics_show_jobs_waiting_running_and_failed_in_the_shared_queue(
    deployment: DeploymentConfig, store: StateStore, server: OpsServer
) -> None:
    idle = scrape(server)
    assert sample(idle, "arbridge_queue_up") == 1.0
    assert [sample(idle, "arbridge_queue_jobs", status=s) for s in ("todo", "doing", "failed")] == [0, 0, 0]
    assert sample(idle, "arbridge_queue_oldest_todo_seconds") == 0.0
    assert sample(idle, "arbridge_workers_alive") == 0.0

    waiting = fill_the_queue(deployment, store)
    with store.engine.begin() as conn:  # the waiting job was queued two minutes ago
        conn.execute(
            sa.text("UPDATE procrastinate_events SET at = now() - interval '120 seconds' WHERE job_id = :id"),
            {"id": waiting},
        )

    busy = scrape(server)
    assert sample(busy, "arbridge_queue_jobs", status="todo") == 1.0
    assert sample(busy, "arbridge_queue_jobs", status="doing") == 1.0
    assert sample(busy, "arbridge_queue_jobs", status="failed") == 1.0
    assert 120.0 <= sample(busy, "arbridge_queue_oldest_todo_seconds") < 180.0
    assert sample(busy, "arbridge_workers_alive") == 1.0, "the worker silent for a minute is not alive"
    queue_lines = [
        line for line in busy.splitlines() if line.startswith(("arbridge_queue", "arbridge_workers"))
    ]
    assert queue_lines and not any("company-" in line for line in queue_lines), "job arguments are no labels"


@pytest.mark.postgres
def test_a_job_scheduled_for_later_is_not_counted_as_waiting(
    deployment: DeploymentConfig, store: StateStore, server: OpsServer
) -> None:
    queue = Workers(deployment, store, stop=threading.Event()).app

    async def schedule_in_an_hour() -> None:
        async with queue.open_async():
            await queue.configure_task("arbridge.sync_connection", schedule_in={"hours": 1}).defer_async(
                connection="company-3"
            )

    asyncio.run(schedule_in_an_hour())
    text = scrape(server)
    assert sample(text, "arbridge_queue_jobs", status="todo") == 1.0
    assert sample(text, "arbridge_queue_oldest_todo_seconds") == 0.0


@pytest.mark.postgres
def test_metrics_say_the_queue_is_down_when_its_tables_cannot_be_read(
    deployment: DeploymentConfig, store: StateStore, server: OpsServer
) -> None:
    with store.engine.begin() as conn:  # as after a restore that left the queue's tables out
        conn.execute(sa.text("ALTER TABLE procrastinate_jobs RENAME TO procrastinate_jobs_moved"))
    text = scrape(server)
    assert sample(text, "arbridge_queue_up") == 0.0
    assert "arbridge_queue_jobs" not in text
    assert sample(text, "arbridge_store_up") == 1.0


def test_a_single_process_deployment_has_no_queue_metrics(tmp_path: Path) -> None:
    local = sqlite_deployment(tmp_path)
    alone = StateStore.open(str(local.store.url))
    ops = OpsServer(local, alone, health=Health(), on_webhook=lambda connection, changes: None)
    ops.start()
    try:
        text = requests.get(f"{ops.url}/metrics", timeout=10).text
    finally:
        ops.stop()
        alone.close()
    assert "arbridge_store_up 1.0" in text
    assert "arbridge_queue_" not in text and "arbridge_workers_alive" not in text
