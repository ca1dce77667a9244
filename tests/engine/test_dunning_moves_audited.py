"""A reminder's every move is in the audit log: a kill between the move and its entry keeps neither.

The daemon sends a letter (the channel drops the PDF, then the action is marked sent with its
invoices' statuses and its audit entry). Killed right after the audit entry reached the database,
nothing of the mark is kept; the next cycle finds the letter already in the folder, marks the
reminder sent once, and the audit log holds one entry for it. Every reminder the store calls sent
has its entry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from config import load_config
from engine.runner import open_store
from store.dunning import DunningActions
from sync_daemon import cli
from tests.engine.dunning_fixtures import POLICY, customer_row, invoice_row, write_exports

ROOT = Path(__file__).resolve().parents[2]


def letters_only(tmp_path: Path) -> Path:
    today = date.today()
    exports = write_exports(
        tmp_path / "exports",
        [customer_row("C1", "Brauhaus Meier GmbH"), customer_row("C2", "Kaufhaus Weber KG")],
        [
            invoice_row("1001", "C1", today - timedelta(days=20), "1190.00"),
            invoice_row("2001", "C2", today - timedelta(days=25), "480.00"),
        ],
    )
    policy = textwrap.dedent(POLICY).replace("channels: [email, letter]", "channels: [letter]")
    (tmp_path / "dunning-policy.yaml").write_text(policy)
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections:
              - {{name: shop, connector: csv, settings: {{folder: "{exports}"}}}}
            rules:
              dunning:
                enabled: true
                policy: {tmp_path / "dunning-policy.yaml"}
                channels: {{letter: {{dir: "{tmp_path / "letters"}"}}}}
            """
        )
    )
    path.chmod(0o600)
    return path


def sent_and_audited(path: Path) -> tuple[list[str], list[str]]:
    store = open_store(load_config(path))
    try:
        sent = sorted(r.key for r in DunningActions(store).with_status("shop", ["sent"]))
        audited = sorted(
            json.loads(e["detail"])["key"]
            for e in store.audit_entries("shop", limit=1000)
            if e["event"] == "dunning_sent"
        )
        assert store.verify_audit() == []
        return sent, audited
    finally:
        store.close()


def test_a_letter_marked_sent_while_the_process_is_killed_is_marked_once_with_its_audit_entry(
    tmp_path: Path,
) -> None:
    path = letters_only(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.cli.killed_command", "sync", "-c", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ARBRIDGE_KILL_AT_EVENT": "dunning_sent"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr

    sent, audited = sent_and_audited(path)
    assert sent == audited  # no reminder is sent in the store without its audit entry

    result = CliRunner().invoke(cli, ["sync", "-c", str(path)])
    assert result.exit_code == 0, result.output
    sent, audited = sent_and_audited(path)
    assert len(sent) == 2 and audited == sent  # each once
    assert len(list((tmp_path / "letters").glob("*.pdf"))) == 2  # and no letter twice
