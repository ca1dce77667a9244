"""The ``arbridge sandbox netsuite`` command: the connection block it prints, and missing vendor files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from click.testing import CliRunner

from sandboxes.netsuite.cli import command

ROOT = Path(__file__).resolve().parents[3]


def test_without_oracles_wsdl_the_sandbox_exits_2_saying_where_it_looked_and_what_to_set(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(command, ["--port", "0", "--specs", str(tmp_path)])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert str(tmp_path / "netsuite" / "2023_2" / "netsuite.wsdl") in line
    assert "--specs DIR" in line and "ARBRIDGE_SPECS" in line
    assert "webservices.netsuite.com/wsdl/v2023_2_0/netsuite.wsdl" in line
    assert "Traceback" not in result.output


def test_the_printed_connection_block_pasted_into_a_configuration_passes_check(
    specs_dir: Path, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_daemon", "sandbox", "netsuite", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "ARBRIDGE_SPECS": str(specs_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("Press Ctrl-C")):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        assert lines and lines[-1].startswith("Press Ctrl-C"), "\n".join(lines)
        exports = dict(re.findall(r"^\s*export (\w+)=(\S+)$", "\n".join(lines), re.MULTILINE))
        start = lines.index("Under `connections:` in your configuration:") + 1
        block = "\n".join(lines[start : lines.index("", start)])
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
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok   netsuite-sandbox:"), result.stdout
    assert "Traceback" not in result.stdout + result.stderr
