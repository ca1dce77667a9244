"""A newcomer's first hour, scripted: a fresh virtual environment, the README's first command, then a
deployment against the QuickBooks sandbox, configured from the block the sandbox prints, with `check`,
`sync` and `status`.

Every step must exit as documented and no output may hold a Python traceback. (The README's second
command, the test suite, is what CI runs around this test.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
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


def from_the_printed_block(printed: str) -> tuple[dict[str, str], str]:
    """The shell exports and the ``connections:`` entry `arbridge sandbox quickbooks` printed."""
    exports = dict(re.findall(r"^  export (\w+)=(\S+)$", printed, re.M))
    block = re.search(r"^Under `connections:` in your configuration:\n((?:  .*\n)+)", printed, re.M)
    assert exports and block is not None, printed
    return exports, block.group(1)


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
        exports, entry = from_the_printed_block(printed)
        env.update(exports)
        config = work / "arbridge.yaml"
        config.write_text(
            'version: 1\nstore: {url: "sqlite:///./arbridge-state/arbridge.sqlite"}\nconnections:\n' + entry
        )
        config.chmod(0o600)

        code, out = run([str(arbridge), "check", "-c", str(config)], env, work)
        assert code == 0 and out.startswith("ok   quickbooks-sandbox: connected to QuickBooks company"), out
        code, out = run([str(arbridge), "sync", "-c", str(config)], env, work)
        assert code == 0 and out.startswith("quickbooks-sandbox: ok"), out
        # A clerk's command needs none of the ERP's secrets.
        clerk = {k: v for k, v in env.items() if k not in exports}
        code, out = run([str(arbridge), "status", "-c", str(config)], clerk, work)
        assert code == 0 and "quickbooks-sandbox (quickbooks) — ok" in out, out
        assert re.search(r"records: .*invoices \d+", out)
    finally:
        sandbox.send_signal(signal.SIGINT)
        try:
            rest, _ = sandbox.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            sandbox.kill()
            rest, _ = sandbox.communicate()
    assert "Traceback" not in rest
