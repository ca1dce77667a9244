"""Beyond loopback, nothing but the probes answers without the bearer token; big bodies are refused unread."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests

from config import ConfigError, ServerConfig
from service.http import Health, OpsServer, OpsServerError
from store import StateStore

from .conftest import deployment, free_port

TOKEN = "f3b1c9d2e8a7465b9c0d1e2f3a4b5c6d"


def test_metrics_require_the_bearer_token_when_bound_beyond_loopback(
    make_server: Callable[..., OpsServer],
) -> None:
    port = free_port()
    server = make_server(bind=f"0.0.0.0:{port}", token=TOKEN)
    base = f"http://127.0.0.1:{port}"

    missing = requests.get(f"{base}/metrics", timeout=5)
    wrong = requests.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"}, timeout=5)
    basic = requests.get(f"{base}/metrics", headers={"Authorization": f"Basic {TOKEN}"}, timeout=5)
    admin = requests.get(f"{base}/admin/anything", timeout=5)
    right = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    probe = requests.get(f"{base}/healthz", timeout=5)

    assert (missing.status_code, wrong.status_code, basic.status_code, admin.status_code) == (
        401,
        401,
        401,
        401,
    )
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert right.status_code == 200 and "arbridge_store_up" in right.text
    assert probe.status_code == 200
    assert TOKEN not in repr(server)


def test_server_refuses_to_start_on_a_public_bind_without_a_token(store: StateStore) -> None:
    public = SimpleNamespace(
        server=ServerConfig.model_construct(bind=f"0.0.0.0:{free_port()}", token=None, max_body_bytes=1024),
        connections=[],
    )
    with pytest.raises(OpsServerError, match=r"without server\.token"):
        OpsServer(public, store, health=Health(), on_webhook=lambda c, n: None)  # type: ignore[arg-type]


def test_a_public_bind_without_a_token_is_already_refused_by_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="token"):
        deployment(tmp_path, bind=f"0.0.0.0:{free_port()}")


def test_oversized_body_is_refused_with_413(make_server: Callable[..., OpsServer]) -> None:
    server = make_server()  # max_body_bytes: 4096
    too_big = requests.post(f"{server.url}/webhooks/quickbooks/acme-qbo", data=b"x" * 5000, timeout=5)

    # A client announcing a gigabyte gets its answer without sending (or us reading) any of it.
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(
            b"POST /webhooks/quickbooks/acme-qbo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"
        )
        head = sock.recv(200)

    assert too_big.status_code == 413
    assert head.startswith(b"HTTP/1.1 413")


def test_a_chunked_body_is_held_to_the_same_size_limit(make_server: Callable[..., OpsServer]) -> None:
    server = make_server()  # max_body_bytes: 4096
    url = f"{server.url}/webhooks/quickbooks/acme-qbo"
    too_big = requests.post(url, data=iter([b"x" * 3000, b"x" * 3000]), timeout=5)
    small = requests.post(url, data=iter([b"{}"]), timeout=5)
    assert too_big.status_code == 413
    # A small chunked body is read whole and judged like any other: here, it carries no signature.
    assert small.status_code == 401
