"""The shipped systemd unit runs the daemon hardened, as its own user, with secrets as credentials."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sync_daemon import run

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "arbridge.service"
TEMPLATE = UNIT.with_name("arbridge@.service")


def directives(unit: Path = UNIT) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            out.setdefault(match.group(1), []).append(match.group(2))
    return out


def test_the_systemd_unit_runs_hardened_as_a_dedicated_user() -> None:
    unit = directives()
    configparser.ConfigParser(strict=False).read_string(UNIT.read_text())  # well-formed sections

    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert int(unit["WatchdogSec"][0]) > 0 and int(unit["TimeoutStopSec"][0]) > 30
    assert unit["User"] == ["arbridge"] and unit["KillSignal"] == ["SIGTERM"]
    assert unit["ExecStart"] == ["/opt/arbridge/venv/bin/arbridge run -c /etc/arbridge/arbridge.yaml"]
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ReadWritePaths": "/var/lib/arbridge",
        "StateDirectory": "arbridge",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }.items():
        assert unit[key] == [value], key
    assert "@system-service" in unit["SystemCallFilter"]
    assert all(re.match(r"^[\w.-]+:/etc/arbridge/credentials/[\w.-]+$", c) for c in unit["LoadCredential"])
    assert "Environment" not in unit or not any("TOKEN" in e or "SECRET" in e for e in unit["Environment"])


def test_the_worker_template_runs_one_worker_per_port_with_the_same_hardening() -> None:
    single, template = directives(UNIT), directives(TEMPLATE)
    configparser.ConfigParser(strict=False).read_string(TEMPLATE.read_text())

    [exec_start] = template["ExecStart"]
    assert exec_start == (
        "/opt/arbridge/venv/bin/arbridge run -c /etc/arbridge/arbridge.yaml --bind 127.0.0.1:%i"
    )
    assert "%i" in template["Description"][0]
    # Everything but what names the instance is the single unit's: a worker is no less hardened.
    differing = {k for k in single.keys() | template.keys() if single.get(k) != template.get(k)}
    assert differing == {"Description", "ExecStart"}

    # What systemd starts for arbridge@9101 is a command line the daemon accepts.
    argv = shlex.split(exec_start.replace("%i", "9101"))
    assert argv[1] == "run"
    ctx = run.make_context("run", argv[2:])
    assert ctx.params["bind"] == "127.0.0.1:9101"
    assert ctx.params["config_path"] == "/etc/arbridge/arbridge.yaml"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_worker_template_for_an_instance(tmp_path: Path) -> None:
    # verify checks that the executable exists: point it at the one installed here.
    arbridge = Path(sys.executable).with_name("arbridge")
    assert arbridge.exists()
    instance = tmp_path / "arbridge@9101.service"
    instance.write_text(TEMPLATE.read_text().replace("/opt/arbridge/venv/bin/arbridge", str(arbridge)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(instance)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "arbridge@9101" not in result.stderr, result.stderr
