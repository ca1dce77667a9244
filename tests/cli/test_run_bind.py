"""`arbridge run --bind HOST:PORT`: several workers on one machine share one configuration file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from sync_daemon import cli
from tests.ops.test_metrics import sample

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "admin-token-for-bind-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(tmp_path: Path, body: str) -> Path:
    cfg = tmp_path / "arbridge.yaml"
    cfg.write_text(textwrap.dedent(body))
    cfg.chmod(0o600)
    return cfg


def healthy(url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return True
        except requests.ConnectionError:
            time.sleep(0.2)
    return False


@contextmanager
def daemon(cfg: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`arbridge run -c cfg ARGS` as a service manager starts it; stopped with SIGTERM afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sync_daemon import main; main()", "run", "-c", str(cfg), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ADMIN_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_run_refuses_a_bind_beyond_loopback_without_a_token_and_starts_nothing(tmp_path: Path) -> None:
    cfg = config(tmp_path, "version: 1\nstore: {url: sqlite:///./state.sqlite}\n")
    result = CliRunner().invoke(cli, ["run", "-c", str(cfg), "--bind", "0.0.0.0:9101"], obj={})
    assert result.exit_code == 2
    assert "--bind 0.0.0.0:9101 refused" in result.output
    assert "when the server binds beyond localhost (0.0.0.0)" in result.output
    assert f"set server.token in {cfg}" in result.output
    assert not (tmp_path / "state.sqlite").exists(), "nothing may start before the address is accepted"


def test_run_refuses_a_bind_that_is_not_host_and_port(tmp_path: Path) -> None:
    cfg = config(tmp_path, "version: 1\nstore: {url: sqlite:///./state.sqlite}\n")
    result = CliRunner().invoke(cli, ["run", "-c", str(cfg), "--bind", "localhost"], obj={})
    assert result.exit_code == 2
    assert "--bind localhost refused: expected host:port" in result.output
    assert not (tmp_path / "state.sqlite").exists()


def test_run_with_bind_listens_there_instead_of_the_configured_address(tmp_path: Path) -> None:
    configured, given = free_port(), free_port()
    cfg = config(
        tmp_path,
        f"""
        version: 1
        store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
        server: {{bind: "127.0.0.1:{configured}", token: "${{ADMIN_TOKEN}}"}}
        """,
    )
    with daemon(cfg, "--bind", f"0.0.0.0:{given}") as proc:
        assert healthy(f"http://127.0.0.1:{given}"), "the daemon never answered on the --bind port"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{configured}/healthz", timeout=2)
        # Beyond loopback the token the configuration names still guards /metrics.
        anonymous = requests.get(f"http://127.0.0.1:{given}/metrics", timeout=5)
        authorized = requests.get(
            f"http://127.0.0.1:{given}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        )
        code, err = stop(proc)
    assert anonymous.status_code == 401
    assert authorized.status_code == 200 and "arbridge_store_up 1.0" in authorized.text
    assert code == 0, err


@pytest.mark.postgres
def test_two_workers_share_one_configuration_file_each_on_its_own_port(
    tmp_path: Path, postgres_url: str
) -> None:
    cfg = config(
        tmp_path,
        f"""
        version: 1
        store: {{url: "{postgres_url}"}}
        workers: {{engine: procrastinate, heartbeat: 1s, stalled_after: 3s}}
        """,
    )
    first, second = free_port(), free_port()
    with daemon(cfg, "--bind", f"127.0.0.1:{first}") as one:
        assert healthy(f"http://127.0.0.1:{first}"), "the first worker never answered"
        with daemon(cfg, "--bind", f"127.0.0.1:{second}") as two:
            assert healthy(f"http://127.0.0.1:{second}"), "the second worker never answered"
            alive = 0.0
            deadline = time.monotonic() + 20
            while alive < 2 and time.monotonic() < deadline:
                text = requests.get(f"http://127.0.0.1:{first}/metrics", timeout=5).text
                alive = sample(text, "arbridge_workers_alive")
                time.sleep(0.3)
            assert alive == 2, "both workers should be heartbeating into the shared queue"
            code_two, err_two = stop(two)
        code_one, err_one = stop(one)
    assert (code_one, code_two) == (0, 0), err_one + err_two
