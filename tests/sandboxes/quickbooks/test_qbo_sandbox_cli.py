"""The ``arbridge sandbox quickbooks`` command: options, the connection block it prints, missing specs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sandboxes.quickbooks.cli import command

ROOT = Path(__file__).resolve().parents[3]


def test_command_offers_the_documented_options() -> None:
    assert isinstance(command, click.Command)
    names = {opt for param in command.params for opt in param.opts}
    assert {
        "--port",
        "--seed",
        "--records",
        "--throttle",
        "--no-throttle",
        "--webhook-url",
        "--webhook-token",
        "--specs",
    } <= names


def test_unknown_seed_is_refused_before_serving() -> None:
    result = CliRunner().invoke(command, ["--seed", "huge"])
    assert result.exit_code != 0
    assert "huge" in result.output


def test_without_intuits_schema_the_sandbox_exits_2_saying_where_it_looked_and_what_to_set(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(command, ["--port", "0", "--specs", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    [line] = lines
    assert str(tmp_path / "quickbooks" / "xsd" / "Finance.xsd") in line
    assert "--specs DIR" in line and "ARBRIDGE_SPECS" in line
    assert "github.com/intuit/QuickBooks-V3-Java-SDK" in line
    assert "Traceback" not in result.output


@pytest.fixture
def running_sandbox(specs_dir: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    env = {**os.environ, "ARBRIDGE_SPECS": str(specs_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_daemon", "sandbox", "quickbooks", "--port", "0", "--seed", "demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        assert lines and lines[-1].startswith("Press Ctrl-C"), "\n".join(lines)
        yield proc, lines
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_printed_connection_block_pasted_into_a_configuration_passes_check(
    running_sandbox: tuple[subprocess.Popen[str], list[str]], tmp_path: Path
) -> None:
    _, lines = running_sandbox
    exports = dict(re.findall(r"^\s*export (\w+)=(\S+)$", "\n".join(lines), re.MULTILINE))
    start = lines.index("Under `connections:` in your configuration:") + 1
    end = lines.index("", start)
    block = "\n".join(lines[start:end])
    assert "/v3" not in block, "the connector adds /v3/company/{realm} to base_url itself"
    config = tmp_path / "arbridge.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections:
            """
        )
        + block
        + "\n"
    )
    config.chmod(0o600)
    result = subprocess.run(
        [sys.executable, "-m", "sync_daemon", "check", "-c", str(config)],
        cwd=ROOT,
        env={**os.environ, **exports},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok   quickbooks-sandbox:"), result.stdout
    assert "Traceback" not in result.stdout + result.stderr
