"""The server every sandbox runs on: whole bodies only, bursts queued, limits counted like an ERP."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from flask import Flask, request

from sandboxes.serving import BackgroundServer
from sandboxes.throttle import ConcurrencyCap, SlidingWindow


def _recording_app() -> tuple[Flask, list[bytes]]:
    app = Flask("recording")
    seen: list[bytes] = []

    @app.post("/write")
    def write() -> dict[str, int]:
        seen.append(request.get_data())
        return {"stored": len(seen)}

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    return app, seen


def test_a_request_whose_body_is_cut_short_is_never_acted_on() -> None:
    app, seen = _recording_app()
    with BackgroundServer(app) as server:
        client = socket.create_connection((server.host, server.port))
        client.sendall(b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"half\":")
        client.close()
        time.sleep(0.3)
        answer = requests.post(f"{server.url}/write", data=b'{"whole": true}', timeout=5)
    assert answer.json() == {"stored": 1}
    assert seen == [b'{"whole": true}']


def test_a_burst_of_two_hundred_clients_is_answered_not_reset() -> None:
    app, _ = _recording_app()
    with BackgroundServer(app, threads=4) as server, ThreadPoolExecutor(200) as pool:
        answers = pool.map(lambda _: requests.get(f"{server.url}/ping", timeout=30), range(400))
        statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * 400


def test_the_server_stops_listening_when_closed() -> None:
    app, _ = _recording_app()
    server = BackgroundServer(app).start()
    assert requests.get(f"{server.url}/ping", timeout=5).text == "pong"
    server.close()
    try:
        requests.get(f"{server.url}/ping", timeout=2)
    except requests.ConnectionError:
        return
    raise AssertionError("the closed server still answered")


def test_a_sliding_window_admits_its_limit_then_says_how_long_to_wait() -> None:
    now = [1000.0]
    window = SlidingWindow(3, 60.0, clock=lambda: now[0])
    assert [window.admit("realm-1") for _ in range(3)] == [None, None, None]
    assert window.admit("realm-1") == 60.0
    assert window.admit("realm-2") is None, "each company has its own budget"
    now[0] += 59.5
    assert window.admit("realm-1") == 0.5
    now[0] += 0.5
    assert window.admit("realm-1") is None


def test_a_concurrency_cap_refuses_the_request_over_the_cap_and_frees_slots() -> None:
    cap = ConcurrencyCap(2)
    with cap.slot("u") as first, cap.slot("u") as second, cap.slot("u") as third:
        assert (first, second, third) == (True, True, False)
    with cap.slot("u") as again:
        assert again is True
