"""Credentials as an admin and a clerk meet them: who needs the ERP's secrets, what a refresh token in the
file does, and what `check` and `status` say when QuickBooks refuses the credentials."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandboxes.quickbooks.server import QuickBooksSandbox
from sync_daemon import cli


def invoke(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str]:
    """The exit code and what the command printed (its log lines, on standard error, left out)."""
    result = CliRunner().invoke(cli, list(args), env=env)
    assert "Traceback" not in result.output
    problems = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("{"))
    return result.exit_code, result.stdout + problems


@pytest.fixture
def sandbox() -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox(seed="demo") as erp:
        yield erp


def qbo_config(tmp_path: Path, erp: QuickBooksSandbox, *, channels: str = "") -> Path:
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections:
              - name: books
                connector: quickbooks
                settings:
                  base_url: {erp.base_url}
                  token_url: {erp.token_url}
                  realm_id: "{erp.realm_id}"
                  client_id: {erp.client_id}
                  client_secret: ${{QBO_CLIENT_SECRET}}
                  refresh_token: ${{QBO_REFRESH_TOKEN}}
                write_back: {{enabled: true}}
            """
        )
        + channels
    )
    path.chmod(0o600)
    return path


def test_a_clerk_reads_the_store_without_the_erps_or_the_relays_secrets(
    tmp_path: Path, sandbox: QuickBooksSandbox
) -> None:
    channels = textwrap.dedent(
        """
        rules:
          dunning:
            enabled: true
            policy: ../../config/dunning-policy.example.yaml
            channels:
              email:
                {host: smtp.example.com, username: ar, password: "${SMTP_PASSWORD}", from: "AR <ar@ex.com>"}
        """
    ).replace("../../config", str(Path(__file__).resolve().parents[2] / "config"))
    config = qbo_config(tmp_path, sandbox, channels=channels)
    admin: dict[str, str | None] = {
        "QBO_CLIENT_SECRET": sandbox.client_secret,
        "QBO_REFRESH_TOKEN": sandbox.issue_refresh_token(),
        "SMTP_PASSWORD": "relay-password",
    }
    code, out = invoke("sync", "-c", str(config), env=admin)
    assert code == 0, out

    clerk: dict[str, str | None] = {
        "QBO_CLIENT_SECRET": None,
        "QBO_REFRESH_TOKEN": None,
        "SMTP_PASSWORD": None,
    }
    for command in (
        ["status"],
        ["worklist"],
        ["dunning", "preview"],
        ["outbox", "list", "--status", "all"],
        ["review"],
        ["review", "aliases"],
    ):
        code, out = invoke(*command, "-c", str(config), env=clerk)
        assert code == 0, f"{command}: {out}"
    code, out = invoke("worklist", "-c", str(config), env=clerk)
    assert re.search(r"^\s+1\. \w+ .+ at risk, oldest \d+ days", out, re.M), out
    # What talks to the ERP still needs them, and says which one is missing.
    code, out = invoke("check", "-c", str(config), env=clerk)
    assert code == 2 and "environment variable QBO_CLIENT_SECRET is not set" in out


def test_a_placeholder_refresh_token_in_the_file_never_replaces_the_one_the_admin_authorized(
    tmp_path: Path, sandbox: QuickBooksSandbox
) -> None:
    config = qbo_config(tmp_path, sandbox)
    env = {"QBO_CLIENT_SECRET": sandbox.client_secret, "QBO_REFRESH_TOKEN": "x"}
    code, out = invoke(
        "auth",
        "quickbooks",
        "-c",
        str(config),
        "--connection",
        "books",
        "--refresh-token",
        env={**env, "ARBRIDGE_QBO_REFRESH_TOKEN": sandbox.issue_refresh_token()},
    )
    assert code == 0 and "Refresh token accepted and stored for connection 'books'" in out, out

    for _ in range(2):  # each start loads the file with its placeholder again
        code, out = invoke("check", "-c", str(config), env=env)
        assert code == 0 and out.startswith("ok   books: connected to QuickBooks company"), out
    code, out = invoke("sync", "-c", str(config), env=env)
    assert code == 0 and out.startswith("books: ok"), out
    code, out = invoke("status", "-c", str(config), env=env)
    assert "books (quickbooks) — ok" in out


def test_check_and_status_agree_when_quickbooks_refuses_the_credentials_and_name_the_command(
    tmp_path: Path, sandbox: QuickBooksSandbox
) -> None:
    config = qbo_config(tmp_path, sandbox)
    env = {"QBO_CLIENT_SECRET": sandbox.client_secret, "QBO_REFRESH_TOKEN": sandbox.issue_refresh_token()}
    assert invoke("sync", "-c", str(config), env=env)[0] == 0
    fix = f"run: arbridge auth quickbooks -c {config} --connection books"

    sandbox.revoke_tokens()  # someone disconnected the app in QuickBooks
    code, out = invoke("check", "-c", str(config), env=env)
    assert code == 1 and out.startswith("FAIL books: QuickBooks rejected the credentials"), out
    assert fix in out
    code, out = invoke("status", "-c", str(config), env=env)
    assert re.search(r"books \(quickbooks\) — NEEDS RE-AUTH: .*; " + re.escape(fix), out), out
    code, out = invoke("sync", "-c", str(config), env=env)
    assert code == 1 and "books: needs_reauth" in out and fix in out

    code, out = invoke(
        "auth",
        "quickbooks",
        "-c",
        str(config),
        "--connection",
        "books",
        "--refresh-token",
        env={**env, "ARBRIDGE_QBO_REFRESH_TOKEN": sandbox.issue_refresh_token()},
    )
    assert code == 0, out
    code, out = invoke("status", "-c", str(config), env=env)
    assert "books (quickbooks) — re-authorized since the last cycle; the next one syncs" in out, out
    code, out = invoke("check", "-c", str(config), env=env)
    assert code == 0 and out.startswith("ok   books:"), out
    code, out = invoke("sync", "-c", str(config), env=env)
    assert code == 0 and out.startswith("books: ok"), out
    assert "books (quickbooks) — ok" in invoke("status", "-c", str(config), env=env)[1]


def test_sync_runs_one_cycle_without_once_and_still_accepts_it(
    tmp_path: Path, sandbox: QuickBooksSandbox
) -> None:
    config = qbo_config(tmp_path, sandbox)
    env = {"QBO_CLIENT_SECRET": sandbox.client_secret, "QBO_REFRESH_TOKEN": sandbox.issue_refresh_token()}
    code, out = invoke("sync", "-c", str(config), env=env)
    assert code == 0 and out.count("books: ok") == 1
    code, out = invoke("sync", "--once", "-c", str(config), "--connection", "books", env=env)
    assert code == 0 and out.count("books: ok") == 1
    code, out = invoke("sync", env={**env, "ARBRIDGE_CONFIG": str(config)})
    assert code == 0 and out.startswith("books: ok")


@pytest.mark.slow
def test_the_daemon_log_names_the_command_once_when_quickbooks_refuses_the_credentials(
    tmp_path: Path, sandbox: QuickBooksSandbox
) -> None:
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = qbo_config(tmp_path, sandbox)
    text = config.read_text().replace("connections:", f'server: {{bind: "127.0.0.1:{port}"}}\nconnections:')
    config.write_text(
        text.replace("    connector: quickbooks", "    connector: quickbooks\n    schedule: {interval: 1s}")
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sync_daemon import main; main()",
            "--log-format",
            "json",
            "run",
            "-c",
            str(config),
        ],
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": str(root),
            "QBO_CLIENT_SECRET": sandbox.client_secret,
            "QBO_REFRESH_TOKEN": "x",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 90
        # The first cycle is refused; the ones after it wait for an admin without asking QuickBooks.
        while sum('"cycle_finished"' in x for x in seen) < 3 and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(seen) + rest
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    hints = [x for x in lines if x.get("event") == "needs_reauth_hint"]
    assert len(hints) == 1, err
    assert f"run: arbridge auth quickbooks -c {config} --connection books" in hints[0]["msg"]
    assert sum(1 for x in lines if x.get("event") == "cycle_finished") >= 3
