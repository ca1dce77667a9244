"""Shared fixtures: a real SQLite state store and an ops server over loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config import DeploymentConfig, parse_config
from service.http import Health, OpsServer
from store import StateStore

VERIFIER = "verifier-token-for-tests"
REALM = "9130357766900000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deployment(tmp_path: Path, *, bind: str | None = None, token: str | None = None) -> DeploymentConfig:
    server: dict[str, Any] = {"bind": bind or f"127.0.0.1:{free_port()}", "max_body_bytes": 4096}
    env = {"QBO_SECRET": "s3cret", "QBO_VERIFIER": VERIFIER}
    if token is not None:
        server["token"] = "${ADMIN_TOKEN}"
        env["ADMIN_TOKEN"] = token
    data = {
        "version": 1,
        "store": {"url": f"sqlite:///{tmp_path / 'state.sqlite'}"},
        "server": server,
        "connections": [
            {
                "name": "acme-qbo",
                "connector": "quickbooks",
                "settings": {
                    "realm_id": REALM,
                    "client_id": "client",
                    "client_secret": "${QBO_SECRET}",
                    "verifier_token": "${QBO_VERIFIER}",
                },
            },
            {"name": "beta-csv", "connector": "memory"},
        ],
    }
    return parse_config(data, base_dir=tmp_path, environ=env)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield s
    s.close()


@pytest.fixture
def make_server(tmp_path: Path, store: StateStore) -> Iterator[Callable[..., OpsServer]]:
    started: list[OpsServer] = []

    def make(
        *,
        health: Health | None = None,
        on_webhook: Callable[[str, list[tuple[str, str, str]]], None] | None = None,
        **kwargs: Any,
    ) -> OpsServer:
        server = OpsServer(
            deployment(tmp_path, **kwargs),
            store,
            health=health or Health(),
            on_webhook=on_webhook or (lambda connection, changes: None),
        )
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
