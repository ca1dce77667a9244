"""An admin whose NetSuite token is refused hears it the way every connector says it.

``arbridge check`` says NetSuite refused the credentials and names what to do next; the connection
is then flagged as needing new credentials, so ``arbridge status`` says the same; once the token is
right again, ``check`` clears the flag.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from sandboxes.netsuite import NetSuiteSandbox
from store import StateStore
from sync_daemon import cli


def invoke(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout


def netsuite_config(tmp_path: Path, sandbox: NetSuiteSandbox) -> Path:
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections:
              - name: ns
                connector: netsuite
                settings:
                  account: {sandbox.account}
                  consumer_key: {sandbox.consumer_key}
                  consumer_secret: ${{NS_CONSUMER_SECRET}}
                  token_id: {sandbox.token_id}
                  token_secret: ${{NS_TOKEN_SECRET}}
                  wsdl_url: {sandbox.files.wsdl.as_uri()}
                  endpoint: {sandbox.url}
            """
        )
    )
    path.chmod(0o600)
    return path


def test_check_says_netsuite_refused_the_credentials_and_status_agrees_until_the_token_is_fixed(
    tmp_path: Path, sandbox: NetSuiteSandbox
) -> None:
    config = netsuite_config(tmp_path, sandbox)
    wrong = {"NS_CONSUMER_SECRET": sandbox.consumer_secret, "NS_TOKEN_SECRET": "a revoked token's secret"}

    code, out = invoke("check", "-c", str(config), env=wrong)

    assert code == 1 and out.startswith("FAIL ns: NetSuite refused the credentials"), out
    assert (
        f"fix the credentials of ns in {config}, then run: arbridge check -c {config} --connection ns" in out
    )
    code, out = invoke("status", "-c", str(config), env=wrong)
    assert "ns (netsuite) — NEEDS RE-AUTH: NetSuite refused the credentials" in out, out

    right = {**wrong, "NS_TOKEN_SECRET": sandbox.token_secret}
    code, out = invoke("check", "-c", str(config), env=right)
    assert code == 0 and out.startswith("ok   ns: connected to NetSuite account"), out
    assert "NEEDS RE-AUTH" not in invoke("status", "-c", str(config), env=right)[1]


def test_a_check_killed_while_it_flags_the_connection_keeps_neither_the_flag_nor_half_its_record(
    tmp_path: Path, sandbox: NetSuiteSandbox
) -> None:
    config = netsuite_config(tmp_path, sandbox)
    wrong = {"NS_CONSUMER_SECRET": sandbox.consumer_secret, "NS_TOKEN_SECRET": "a revoked token's secret"}
    root = Path(__file__).resolve().parents[3]
    # Killed right after the audit entry reached the database, before anything was committed.
    killed = subprocess.run(
        [sys.executable, "-m", "tests.cli.killed_command", "check", "-c", str(config)],
        cwd=root,
        env={**os.environ, **wrong, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    assert flagged_and_recorded(tmp_path) == (False, 0)
    assert invoke("check", "-c", str(config), env=wrong)[0] == 1
    assert flagged_and_recorded(tmp_path) == (True, 1)  # the flag with its one audit entry


def flagged_and_recorded(tmp_path: Path) -> tuple[bool, int]:
    """Whether the connection is flagged as needing new credentials, and how often that was audited."""
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    try:
        flagged = bool(store.connection_health("ns").get("needs_reauth"))
        return flagged, sum(1 for e in store.audit_entries("ns") if e["event"] == "needs_reauth")
    finally:
        store.close()
