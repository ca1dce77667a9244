"""Crash safety: a delivery killed mid-send never sends a message twice and never loses one."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from rules.dunning import Channel, PlannedAction, SentLog, deliver, render
from tests.rules.dunning.builders import AS_OF, Received, actions, customer, invoice, make_policy, run

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("crash_sender.py")
TODAY = date(2026, 11, 23)


def _planned(tmp_path: Path, channel: str, n: int = 5) -> list[PlannedAction]:
    pol = make_policy(std__levels=[{"days_overdue": 1, "channels": [channel]}])
    custs = [customer(f"C{i}") for i in range(n)]
    invs = [invoice(str(i), TODAY - timedelta(days=10), cid=f"C{i}") for i in range(n)]
    planned = actions(run(pol, custs, invs))
    (tmp_path / "actions.jsonl").write_text("".join(json.dumps(a.to_json()) + "\n" for a in planned))
    return planned


def _deliver_in_a_process(tmp_path: Path, port: int, *crash: str) -> tuple[int, list[dict]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SCRIPT.parent)])}
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "actions.jsonl"),
            str(tmp_path / "sent.log"),
            "127.0.0.1",
            str(port),
            str(tmp_path / "letters"),
            *crash,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode in (0, 137), proc.stderr
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()]


def _message_ids(received: Received) -> Counter[str]:
    return Counter(
        str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"])
        for raw in received.messages
    )


def test_crash_after_the_smtp_server_accepted_sends_nothing_twice(
    tmp_path: Path, smtp_server: tuple[str, int, Received]
) -> None:
    _, port, received = smtp_server
    planned = _planned(tmp_path, "email")
    code, first = _deliver_in_a_process(tmp_path, port, "3", "after_send")
    assert code == 137
    assert [o["status"] for o in first] == ["sent", "sent"]  # the third died before it could report
    assert len(received.messages) == 3

    code, second = _deliver_in_a_process(tmp_path, port)
    assert code == 0
    statuses = {o["key"]: o["status"] for o in second}
    assert statuses == {
        planned[0].key: "already_sent",
        planned[1].key: "already_sent",
        planned[2].key: "in_doubt",  # the server has it; the log cannot know: held, not resent
        planned[3].key: "sent",
        planned[4].key: "sent",
    }
    ids = _message_ids(received)
    assert len(ids) == 5 and set(ids.values()) == {1}  # every message exactly once
    with SentLog(tmp_path / "sent.log") as log:
        assert log.in_doubt() == [planned[2].key]


def test_crash_before_the_data_went_out_sends_the_message_once_on_restart(
    tmp_path: Path, smtp_server: tuple[str, int, Received]
) -> None:
    _, port, received = smtp_server
    planned = _planned(tmp_path, "email")
    code, first = _deliver_in_a_process(tmp_path, port, "2", "before_commit")
    assert code == 137 and len(first) == 1
    code, second = _deliver_in_a_process(tmp_path, port)
    assert [o["status"] for o in second] == ["already_sent", "sent", "sent", "sent", "sent"]
    ids = _message_ids(received)
    assert sorted(ids) == sorted(f"<{a.key}@s.example>" for a in planned)
    assert set(ids.values()) == {1}


def test_in_doubt_email_is_sent_again_only_when_a_person_releases_it(
    tmp_path: Path, smtp_server: tuple[str, int, Received]
) -> None:
    _, port, received = smtp_server
    planned = _planned(tmp_path, "email", n=2)
    _deliver_in_a_process(tmp_path, port, "1", "after_send")
    # Someone searched the mail log for the Message-ID and found it missing: release it.
    with SentLog(tmp_path / "sent.log") as log:
        log.resolve(planned[0].key, delivered=False, note="not in the relay's log")
    _, outcomes = _deliver_in_a_process(tmp_path, port)
    assert [o["status"] for o in outcomes] == ["sent", "sent"]
    assert _message_ids(received)[f"<{planned[0].key}@s.example>"] == 2  # released on purpose


def test_letter_resent_after_a_crash_finds_its_file_and_writes_nothing(
    tmp_path: Path, smtp_server: tuple[str, int, Received]
) -> None:
    _, port, _ = smtp_server
    planned = _planned(tmp_path, "letter", n=3)
    code, _ = _deliver_in_a_process(tmp_path, port, "2", "after_send")
    assert code == 137
    _, outcomes = _deliver_in_a_process(tmp_path, port)
    # The second letter was written before the crash: the rerun finds it and reports it as such.
    assert [o["status"] for o in outcomes] == ["already_sent", "already_sent", "sent"]
    pdfs = sorted(p.name for p in (tmp_path / "letters").glob("*.pdf"))
    assert pdfs == sorted(f"{a.key}.pdf" for a in planned)


def test_actions_scheduled_later_wait_for_their_time(tmp_path: Path) -> None:
    [action] = actions(run(make_policy(), [customer()], [invoice("1", TODAY - timedelta(days=10))]))
    rendered = render(action, customer())

    class Never:
        channel = Channel.EMAIL
        idempotent = False

        def send(self, *args: object, **kwargs: object) -> object:
            raise AssertionError("must not send before send_at")

    with SentLog(tmp_path / "sent.log") as log:
        [outcome] = deliver([(action, rendered)], {Channel.EMAIL: Never()}, log, AS_OF - timedelta(minutes=1))  # type: ignore[dict-item]
        assert outcome.status == "not_due"
        assert log.state(action.key) is None


def test_failed_send_before_the_commit_point_is_retried_next_run(tmp_path: Path) -> None:
    [action] = actions(run(make_policy(), [customer()], [invoice("1", TODAY - timedelta(days=10))]))
    rendered = render(action, customer())

    class Refusing:
        channel = Channel.EMAIL
        idempotent = False

        def send(self, *args: object, **kwargs: object) -> object:
            raise ConnectionRefusedError("smtp down")

    with SentLog(tmp_path / "sent.log") as log:
        [outcome] = deliver([(action, rendered)], {Channel.EMAIL: Refusing()}, log, AS_OF)  # type: ignore[dict-item]
        assert (outcome.status, outcome.error) == ("failed", "ConnectionRefusedError: smtp down")
        assert log.state(action.key) is None


def test_a_torn_last_line_in_the_sent_log_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "sent.log"
    path.write_text('{"key": "a", "state": "sent"}\n{"key": "b", "sta')
    with SentLog(path) as log:
        assert (log.state("a"), log.state("b")) == ("sent", None)
        log.mark("c", "sent")
    with SentLog(path) as log:
        assert (log.state("a"), log.state("b"), log.state("c")) == ("sent", None, "sent")


def test_sent_log_survives_reopening(tmp_path: Path) -> None:
    with SentLog(tmp_path / "sent.log") as log:
        log.mark("k", "committing", channel="email")
    with SentLog(tmp_path / "sent.log") as log:
        assert log.in_doubt() == ["k"]
