"""An ERP arbridge cannot reach: the admin is told which host and port, and what to check."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from connectors.errors import TransientError
from connectors.http import classify_transport_error
from sync_daemon import cli


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check(tmp_path: Path, base_url: str) -> tuple[int, str]:
    config = tmp_path / "arbridge.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            version: 1
            allow_secret_literals: true
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections:
              - name: books
                connector: quickbooks
                settings:
                  base_url: {base_url}
                  token_url: {base_url}/oauth2/v1/tokens/bearer
                  realm_id: "9130355377"
                  client_id: client
                  client_secret: not-a-real-secret
                  refresh_token: not-a-real-token
                  timeout: 5
            """
        )
    )
    config.chmod(0o600)
    result = CliRunner().invoke(cli, ["check", "-c", str(config)])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout


def test_check_names_the_host_and_port_that_refused_the_connection(tmp_path: Path) -> None:
    port = closed_port()
    code, out = check(tmp_path, f"http://127.0.0.1:{port}")
    assert code == 1
    assert f"connection to 127.0.0.1:{port} refused" in out
    assert "check the port in the connection's URL and the firewall" in out


def test_a_host_name_that_does_not_resolve_says_to_check_dns(tmp_path: Path) -> None:
    code, out = check(tmp_path, "http://erp.invalid:8484")
    assert code == 1
    assert "cannot resolve the host name of erp.invalid:8484: check DNS" in out


def _failed(exc_type: type[requests.RequestException], url: str, text: str) -> str:
    request = requests.Request("GET", url).prepare()
    error = classify_transport_error(exc_type(text, request=request), "GET /v3/company")
    assert isinstance(error, TransientError)  # the call may be repeated
    return str(error)


@pytest.mark.parametrize(
    ("exc_type", "text", "expected"),
    [
        (
            requests.exceptions.ConnectTimeout,
            "connect timeout=5",
            ["erp.example.com:443", "firewall", "proxy"],
        ),
        (requests.exceptions.ReadTimeout, "read timeout=5", ["erp.example.com:443", "timed out", "slow"]),
        (
            requests.exceptions.ProxyError,
            "Unable to connect to proxy",
            ["erp.example.com:443", "HTTPS_PROXY"],
        ),
        (
            requests.exceptions.ConnectionError,
            "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
            ["erp.example.com:443", "DNS", "firewall", "proxy", "TLS"],
        ),
    ],
    ids=["connect-timeout", "read-timeout", "proxy", "reset"],
)
def test_each_way_of_not_getting_through_says_what_to_check(
    exc_type: type[requests.RequestException], text: str, expected: list[str]
) -> None:
    message = _failed(exc_type, "https://erp.example.com/v3/company", text)
    assert "GET /v3/company: " in message
    assert [word for word in expected if word not in message] == []


@pytest.mark.parametrize("command", [["status"], ["check"], ["sync"], ["worklist"], ["outbox", "list"]])
def test_a_state_store_that_cannot_be_opened_is_named_with_what_to_check(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "arbridge.yaml"
    port = closed_port()
    config.write_text(f'version: 1\nstore: {{url: "postgresql+psycopg://arbridge@127.0.0.1:{port}/ar"}}\n')
    result = CliRunner().invoke(cli, [*command, "-c", str(config)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"cannot open the state store postgresql+psycopg://arbridge@127.0.0.1:{port}/ar" in result.stderr
    assert "Connection refused" in result.stderr and "check that the database is up" in result.stderr
