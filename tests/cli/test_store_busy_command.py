"""A command that finds the state store locked by another process says so in one line and exits 75.

SQLite lets one process write at a time; the others wait for the busy timeout. When the other
process keeps the store beyond it (a long migration, a stuck tool holding a write transaction), the
admin or the clerk gets one line naming the store and what to do, and the exit code 75 (sysexits'
EX_TEMPFAIL: run the same command again later), never a traceback, and nothing half done.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import cli.review
import store.state
from cli.options import EXIT_STORE_BUSY
from sync_daemon import cli as arbridge
from tests.engine.test_cashapp_review import _config, _cycle, _verdicts


@contextmanager
def another_process_writing(path: Path) -> Iterator[None]:
    """A write transaction held on the store, as another process holding it would."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store.state, "BUSY_TIMEOUT_S", 1)


def test_a_command_started_while_another_process_holds_the_store_says_so_in_one_line_and_exits_75(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)

    with another_process_writing(tmp_path / "state.sqlite"):
        result = CliRunner().invoke(arbridge, ["status", "-c", str(cfg)])

    assert result.exit_code == EXIT_STORE_BUSY == 75, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("arbridge: the state store ") and str(tmp_path / "state.sqlite") in lines[0]
    assert "another arbridge process is writing to it; try again" in lines[0]
    assert "Traceback" not in result.output


def test_a_clerks_verdict_that_meets_a_busy_store_is_not_half_recorded_and_can_be_given_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path)
    _cycle(cfg)
    opened = cli.review.open_store
    held: list[Any] = []

    def open_then_lose_the_race(deployment: Any) -> Any:
        # The store opens; the daemon starts its write just before the clerk's verdict is stored.
        found = opened(deployment)
        lock = another_process_writing(tmp_path / "state.sqlite")
        lock.__enter__()
        held.append(lock)
        return found

    monkeypatch.setattr(cli.review, "open_store", open_then_lose_the_race)
    busy = CliRunner().invoke(arbridge, ["review", "accept", "PMT-1", "-c", str(cfg), "--by", "anna"])
    for lock in held:
        lock.__exit__(None, None, None)
    monkeypatch.undo()

    assert busy.exit_code == 75, busy.output
    assert len(busy.stderr.strip().splitlines()) == 1 and "stayed busy" in busy.stderr
    assert _verdicts(cfg)["PMT-1"] == "review"  # nothing of the verdict was kept
    again = CliRunner().invoke(arbridge, ["review", "accept", "PMT-1", "-c", str(cfg), "--by", "anna"])
    assert again.exit_code == 0 and "payment application queued" in again.output, again.output
    assert _verdicts(cfg)["PMT-1"] == "accepted"
