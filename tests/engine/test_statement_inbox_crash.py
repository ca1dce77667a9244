"""A cycle that stops between storing a statement and moving its file loses and doubles nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.bank_statements import StatementInbox
from store import StateStore
from store.cashapp import CashAppState

DATA = Path(__file__).resolve().parents[1] / "rules" / "cashapp" / "data"


def _stop_before_moving(self: StatementInbox, path: Path, reason: str | None) -> Path | None:
    # As if the process stopped right after each file's commit: nothing on disk changes.
    return None


def test_a_statement_stored_but_not_moved_is_moved_next_cycle_and_imported_once(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(DATA / "camt053_v02_sparkasse.xml", inbox / "2024-06-27.xml")
    (inbox / "broken.xml").write_text("<Document>", encoding="utf-8")
    store = StateStore.open(store_url)
    state = CashAppState(store)

    with monkeypatch.context() as m:
        m.setattr(StatementInbox, "_move_out", _stop_before_moving)
        first = StatementInbox(store, "shop", inbox).import_new()
    assert (first.files, len(first.quarantined)) == (1, 1)
    assert sorted(p.name for p in inbox.iterdir()) == ["2024-06-27.xml", "broken.xml"]
    lines_before = state.bank_lines("shop")

    report = StatementInbox(store, "shop", inbox).import_new()
    assert (report.files, report.lines) == (0, 0)
    assert sorted(report.moved) == ["imported/2024-06-27.xml", "rejected/broken.xml"]
    (quarantined,) = store.quarantined("shop")
    assert (inbox / "rejected" / "broken.xml.reason.txt").read_text(encoding="utf-8") == (
        quarantined["reason"] + "\n"
    )
    assert sorted(p.name for p in inbox.iterdir()) == ["imported", "rejected"]
    assert state.bank_lines("shop") == lines_before and len(lines_before) == 3
    assert report.quarantined == []
    assert sorted((s["file_name"], s["status"]) for s in state.statements("shop")) == [
        ("2024-06-27.xml", "imported"),
        ("broken.xml", "quarantined"),
    ]
    store.close()
