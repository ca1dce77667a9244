"""A sender killed with SIGKILL at any instant never sends a reminder twice and never loses one.

Each round runs a real child process (a daemon cycle: pull, plan, send) against a real SMTP
server that answers slowly, kills it at random moments (before sending, between two messages,
while the server holds a message but has not answered), then lets a fresh process finish.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from engine.runner import open_store
from store.dunning import DunningActions
from tests.engine.dunning_fixtures import (
    TODAY,
    Mailbox,
    customer_row,
    deployment,
    invoice_row,
    smtp,
    write_exports,
)

__all__ = ["smtp"]  # the fixture, imported for pytest

ROOT = Path(__file__).resolve().parents[2]
EMAILS, LETTERS = 16, 4


def exports(folder: Path) -> Path:
    customers = [
        customer_row(f"C{i:02d}", f"Customer {i}", f"ap{i}@customer.example",
                     opt_out_channels="email" if i >= EMAILS else "")
        for i in range(EMAILS + LETTERS)
    ]  # fmt: skip
    invoices = [
        invoice_row(f"{i:02d}", f"C{i:02d}", TODAY - timedelta(days=10), "250.00")
        for i in range(EMAILS + LETTERS)
    ]
    return write_exports(folder, customers, invoices)


def start(workdir: Path, folder: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.engine.dunning_kill_target", str(workdir), str(folder), str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_at_random(proc: subprocess.Popen[str], mailbox: Mailbox, rng: random.Random) -> None:
    """SIGKILL after the server got a random number of messages, at a random instant around one."""
    wanted = rng.randint(0, EMAILS - 1)
    deadline = time.monotonic() + 60
    if wanted == 0:
        time.sleep(rng.uniform(0.0, 2.0))  # during start-up, pull or planning
    while len(mailbox.messages) < wanted and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 0.03))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)


@pytest.mark.slow
def test_a_sender_killed_at_random_points_sends_each_reminder_once_or_reports_it_in_doubt(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    mailbox.delay = 0.02  # the server holds each message a moment before answering 250
    in_doubt_seen = 0
    for seed in range(4):
        rng = random.Random(seed)
        mailbox.messages.clear()
        workdir = tmp_path / f"round{seed}"
        folder = exports(workdir / "exports")
        for _ in range(2):
            kill_at_random(start(workdir, folder, port), mailbox, rng)
        final = start(workdir, folder, port)
        out, err = final.communicate(timeout=120)
        assert final.returncode == 0, err
        assert json.loads(out)["status"] == "ok"

        cfg = deployment(workdir, folder, port)
        store = open_store(cfg)
        rows = DunningActions(store).with_status("shop", ["planned", "sending", "sent", "failed", "in_doubt"])
        store.close()
        received = mailbox.message_ids()
        assert len(rows) == EMAILS + LETTERS, f"seed {seed}: a reminder was never planned"
        assert max(received.values()) == 1, f"seed {seed}: an e-mail arrived twice: {received.most_common(1)}"
        statuses = Counter(r.status for r in rows)
        assert set(statuses) <= {"sent", "in_doubt"}, f"seed {seed}: left unsettled: {statuses}"
        for row in rows:
            message_id = f"<{row.key}@example.de>"
            if row.channel == "letter":
                assert row.status == "sent" and (workdir / "letters" / f"{row.key}.pdf").exists()
            elif row.status == "sent":
                assert received[message_id] == 1, f"seed {seed}: {row.key} marked sent, never received"
            else:
                assert "search the relay's log" in (row.last_error or "")
        assert len(list((workdir / "letters").glob("*.pdf"))) == LETTERS
        in_doubt_seen += statuses["in_doubt"]
    # The kills must have hit messages in flight, not only the quiet moments between them.
    assert in_doubt_seen >= 1
