"""A clerk's verdict is stored whole: a kill while it is stored loses nothing and writes nothing twice.

The verdict, the payment application it queues for the ERP, the bank account and name it teaches
the matcher, and its audit entry are one transaction. The process is killed (SIGKILL) right after
each of those writes reached the database: afterwards the payment still waits for review with
nothing of the verdict kept, and the clerk gives the verdict again, which then reaches the ERP once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from config import load_config
from engine.runner import open_store
from store.cashapp import CashAppState
from tests.engine.test_cashapp_review import _applications, _config, _cycle, _review, _verdicts

ROOT = Path(__file__).resolve().parents[2]


def killed_while_storing(cfg: Path, verdict: str, payment_id: str, kill_at: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.engine.review_kill_target", str(cfg), verdict, payment_id, kill_at],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr


def what_the_store_keeps(cfg: Path) -> tuple[list[str], list[str], dict[str, object], list[str]]:
    """Outbox keys of payment applications, review audit events, learned aliases, audit problems."""
    store = open_store(load_config(cfg))
    try:
        outbox = [r.key for r in store.outbox_rows("shop") if r.op_type == "payment_application"]
        events = [
            e["event"] for e in store.audit_entries("shop", limit=500) if e["event"].startswith("review_")
        ]
        return outbox, events, CashAppState(store).learned("shop"), store.verify_audit()
    finally:
        store.close()


@pytest.mark.parametrize("kill_at", ["_enqueue", "learn", "_audit"])
def test_an_accepted_match_killed_while_it_is_stored_leaves_nothing_and_is_accepted_again_once(
    tmp_path: Path, kill_at: str
) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)

    killed_while_storing(cfg, "accept", "PMT-1", kill_at)

    assert _verdicts(cfg)["PMT-1"] == "review"
    assert what_the_store_keeps(cfg) == ([], [], {}, [])
    code, out = _review(cfg, "accept", "PMT-1", "--by", "anna")
    assert code == 0 and "learned bank_account DE44 5001 0517 5407 3249 31" in out, out
    outbox, events, learned, problems = what_the_store_keeps(cfg)
    assert len(outbox) == 1 and events == ["review_accepted"] and problems == []
    assert learned == {"C1": {"bank_account": ["DE44 5001 0517 5407 3249 31"], "name": []}}
    _cycle(cfg)
    _cycle(cfg)
    assert [a["target_id"] for a in _applications(tmp_path)].count("PMT-1") == 1  # in the ERP once


def test_a_rejection_killed_while_it_is_stored_leaves_the_payment_waiting_for_review(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)

    killed_while_storing(cfg, "reject", "PMT-3", "_audit")

    assert _verdicts(cfg)["PMT-3"] == "review"
    assert what_the_store_keeps(cfg) == ([], [], {}, [])
    code, out = _review(cfg, "reject", "PMT-3", "--by", "anna")
    assert code == 0 and "rejected" in out
    assert what_the_store_keeps(cfg)[1] == ["review_rejected"]
