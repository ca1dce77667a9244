"""The shipped systemd unit runs the daemon hardened, as its own user, with secrets as credentials."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "arbridge.service"


def directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
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
