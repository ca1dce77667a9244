"""A newcomer's first hour, scripted: a fresh virtual environment, the README's first command, then a
deployment against the QuickBooks sandbox with `check`, `sync` and `status`.

Every step must exit as documented and no output may hold a Python traceback. (The README's second
command, the test suite, is what CI runs around this test.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> tuple[int, str]:
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output, f"{' '.join(argv)} printed a traceback:\n{output}"
    return done.returncode, output


def sandbox_settings(printed: str) -> dict[str, str]:
    """What `arbridge sandbox quickbooks` printed, as a connection's settings."""
    base = re.search(r"^QuickBooks sandbox .* at (http://\S+)$", printed, re.M)
    fields = {k.lower(): v for k, v in re.findall(r"^  ([A-Za-z ]+):\s+(\S+)$", printed, re.M)}
    wanted = {"token url", "realm id", "client id", "client secret", "refresh token"}
    assert base is not None and wanted <= set(fields), printed
    return {
        "base_url": base.group(1),
        "token_url": fields["token url"],
        "realm_id": fields["realm id"],
        "client_id": fields["client id"],
        "client_secret": fields["client secret"],
        "refresh_token": fields["refresh token"],
    }


def start_sandbox(arbridge: Path, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(arbridge), "sandbox", "quickbooks", "--port", "0"],
        env={**env, "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed = ""
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while "Press Ctrl-C" not in printed and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        printed += line
    assert "Press Ctrl-C" in printed, printed
    return proc, printed


def test_a_newcomer_installs_runs_the_demo_and_syncs_the_quickbooks_sandbox(tmp_path: Path) -> None:
    venv, home, work = tmp_path / "venv", tmp_path / "home", tmp_path / "deployment"
    home.mkdir()
    work.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ARBRIDGE_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env.update({"HOME": str(home), "XDG_STATE_HOME": str(home / ".local" / "state")})
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    before = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout

    code, out = run([sys.executable, "-m", "venv", str(venv)], env, REPO)
    assert code == 0, out
    # The README's first command: `pip install -e . && arbridge demo`, from the checkout.
    code, out = run([str(venv / "bin" / "pip"), "install", "-q", "-e", "."], env, REPO)
    assert code == 0, out
    arbridge = venv / "bin" / "arbridge"
    code, out = run([str(arbridge), "demo"], env, REPO)
    assert code == 0, out
    assert "are due a reminder" in out and "Written back to QuickBooks" in out
    after = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    assert after == before, "the demo left files in the checkout"

    sandbox, printed = start_sandbox(arbridge, env, work)
    try:
        settings = sandbox_settings(printed)
        env.update(QBO_CLIENT_SECRET=settings["client_secret"], QBO_REFRESH_TOKEN=settings["refresh_token"])
        config = work / "arbridge.yaml"
        config.write_text(
            textwrap.dedent(
                f"""
                version: 1
                store: {{url: "sqlite:///./arbridge-state/arbridge.sqlite"}}
                connections:
                  - name: sandbox-qbo
                    connector: quickbooks
                    settings:
                      base_url: {settings["base_url"]}
                      token_url: {settings["token_url"]}
                      realm_id: "{settings["realm_id"]}"
                      client_id: {settings["client_id"]}
                      client_secret: ${{QBO_CLIENT_SECRET}}
                      refresh_token: ${{QBO_REFRESH_TOKEN}}
                      collection_status_field_id: "1"
                    write_back: {{enabled: true}}
                """
            )
        )
        config.chmod(0o600)

        code, out = run([str(arbridge), "check", "-c", str(config)], env, work)
        assert code == 0 and out.startswith("ok   sandbox-qbo: connected to QuickBooks company"), out
        code, out = run([str(arbridge), "sync", "-c", str(config)], env, work)
        assert code == 0 and out.startswith("sandbox-qbo: ok"), out
        # A clerk's command needs none of the ERP's secrets.
        clerk = {k: v for k, v in env.items() if not k.startswith("QBO_")}
        code, out = run([str(arbridge), "status", "-c", str(config)], clerk, work)
        assert code == 0 and "sandbox-qbo (quickbooks) — ok" in out, out
        assert re.search(r"records: .*invoices \d+", out)
    finally:
        sandbox.send_signal(signal.SIGINT)
        try:
            rest, _ = sandbox.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            sandbox.kill()
            rest, _ = sandbox.communicate()
    assert "Traceback" not in rest
