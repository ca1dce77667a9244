"""The dunning commands an admin and the collections team use on the store: preview, decisions, worklist."""

from __future__ import annotations

import json
import textwrap
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from config import load_config
from engine.runner import open_store, sync_connection
from store.dunning import DunningActions
from sync_daemon import cli
from tests.engine.dunning_fixtures import (
    AS_OF,
    POLICY,
    TODAY,
    Mailbox,
    customer_row,
    interest,
    invoice_row,
    payment_row,
    smtp,
    write_exports,
)

__all__ = ["smtp"]  # the fixture, imported for pytest


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def config_file(tmp_path: Path, port: int, exports: Path) -> Path:
    (tmp_path / "dunning-policy.yaml").write_text(textwrap.dedent(POLICY))
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///state/arbridge.sqlite"}}
            connections:
              - {{name: shop, connector: csv, settings: {{folder: "{exports}"}}}}
            rules:
              dunning:
                enabled: true
                policy: dunning-policy.yaml
                channels:
                  email: {{host: 127.0.0.1, port: {port}, security: none, from: "AR <ar@example.de>"}}
                  letter: {{dir: letters}}
            """
        )
    )
    path.chmod(0o600)
    return path


def cycle(path: Path, as_of_offset: timedelta = timedelta(0), **kwargs: object) -> None:
    cfg = load_config(path)
    store = open_store(cfg)
    sync_connection(cfg, cfg.connections[0], store, as_of=AS_OF + as_of_offset, **kwargs)  # type: ignore[arg-type]
    store.close()


def two_customers(tmp_path: Path) -> Path:
    return write_exports(
        tmp_path / "exports",
        [
            customer_row("C1", "Anker Logistik", "ap@anker.example"),
            customer_row("C2", "Busy Bakery", "busy@bakery.example"),
        ],
        [
            invoice_row("1", "C1", TODAY - timedelta(days=10), "500.00"),
            invoice_row("2", "C2", TODAY - timedelta(days=15), "750.00"),
        ],
    )


def test_preview_shows_what_would_go_out_today_and_sends_nothing(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    path = config_file(tmp_path, port, two_customers(tmp_path))
    cycle(path, deciders=[], deliverers=[])  # pulled, not planned yet

    code, out, _ = invoke("dunning", "preview", "-c", str(path), "--as-of", AS_OF.isoformat())
    assert code == 0
    assert "2 not yet planned" in out and "ap@anker.example" in out and "busy@bakery.example" in out

    cycle(path, dry_run=True)  # planned, nothing sent
    code, out, _ = invoke("dunning", "preview", "-c", str(path), "--as-of", AS_OF.isoformat(), "--json")
    assert code == 0
    shop = json.loads(out)["connections"]["shop"]
    fees = Decimal("45.00")  # the level's EUR 5 and EUR 40 per invoice
    assert sorted((i["customer_id"], i["recipient"], i["total_due"]) for i in shop["send_now"]) == [
        ("C1", "ap@anker.example", f"{Decimal('500.00') + fees + interest('500.00', 10)} EUR"),
        ("C2", "busy@bakery.example", f"{Decimal('750.00') + fees + interest('750.00', 15)} EUR"),
    ]
    assert all(i["message_id"] == f"<{i['key']}@example.de>" for i in shop["send_now"])
    assert shop["not_yet_planned"] == [] and shop["in_doubt"] == [] and shop["failed"] == []

    assert mailbox.messages == []
    store = open_store(load_config(path))
    assert DunningActions(store).counts("shop") == {"planned": 2}
    store.close()


def test_emails_in_doubt_are_reported_and_settled_by_a_person_never_resent_on_their_own(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp
    path = config_file(tmp_path, port, two_customers(tmp_path))
    mailbox.hang_up = {"ap@anker.example", "busy@bakery.example"}  # the relay takes both, then hangs up
    cycle(path)
    mailbox.hang_up.clear()
    store = open_store(load_config(path))
    doubts = {r.customer_id: r.key for r in DunningActions(store).with_status("shop", ["in_doubt"])}
    store.close()
    assert set(doubts) == {"C1", "C2"} and len(mailbox.messages) == 2

    code, out, _ = invoke("status", "-c", str(path))
    assert code == 0
    assert "dunning: 2 in doubt" in out
    assert f"IN_DOUBT {doubts['C1']} email to ap@anker.example: the connection broke" in out
    code, out, _ = invoke("dunning", "preview", "-c", str(path), "--as-of", AS_OF.isoformat())
    assert "IN DOUBT — the relay may have these e-mails" in out
    assert f"Message-ID <{doubts['C2']}@example.de>" in out
    cycle(path, timedelta(hours=2))
    assert len(mailbox.messages) == 2  # a later cycle leaves them alone

    # The relay's log shows C1's message delivered and has no trace of C2's.
    code, out, _ = invoke(
        "dunning", "mark-sent", "-c", str(path), doubts["C1"][:12], "--note", "relay log 10:00:02"
    )
    assert code == 0 and "recorded as sent" in out
    code, out, _ = invoke(
        "dunning", "resend", "-c", str(path), doubts["C2"], "--note", "not in the relay log"
    )
    assert code == 0 and "will be sent at the next cycle" in out
    cycle(path, timedelta(hours=3))

    assert mailbox.message_ids() == {f"<{doubts['C1']}@example.de>": 1, f"<{doubts['C2']}@example.de>": 2}
    store = open_store(load_config(path))
    assert DunningActions(store).counts("shop") == {"sent": 2}
    events = {e["event"]: json.loads(e["detail"]) for e in store.audit_entries("shop")}
    store.close()
    assert events["dunning_marked_sent"]["note"] == "relay log 10:00:02"
    assert events["dunning_resend"]["was"] == "in_doubt"
    # A sent reminder is never sent again by hand either.
    code, _, err = invoke("dunning", "resend", "-c", str(path), doubts["C1"])
    assert code == 1 and "is sent on" in err


def test_worklist_ranks_the_stores_customers_and_explains_each_rank(
    tmp_path: Path, smtp: tuple[int, Mailbox]
) -> None:
    port, _ = smtp
    exports = write_exports(
        tmp_path / "exports",
        [customer_row(f"C{i}", f"Customer {i}", f"ap@c{i}.example") for i in range(1, 5)],
        [
            invoice_row("big", "C1", TODAY - timedelta(days=5), "20000.00"),
            invoice_row("old", "C2", TODAY - timedelta(days=150), "800.00"),
            invoice_row("late", "C3", TODAY - timedelta(days=20), "800.00"),
            invoice_row("paid-1", "C3", date(2026, 6, 1), "0.00", total="300.00", status="paid"),
            invoice_row("paid-2", "C3", date(2026, 8, 1), "0.00", total="300.00", status="paid"),
            invoice_row("soon", "C4", TODAY + timedelta(days=5), "90000.00"),  # not overdue
        ],
        payments=[
            payment_row("P1", "C3", "paid-1", date(2026, 7, 11)),  # 40 days late
            payment_row("P2", "C3", "paid-2", date(2026, 9, 30)),  # 60 days late
        ],
    )
    path = config_file(tmp_path, port, exports)
    cycle(path, deciders=[], deliverers=[])

    code, out, _ = invoke("worklist", "-c", str(path), "--as-of", AS_OF.isoformat(), "--top", "2", "--json")
    assert code == 0
    shop = json.loads(out)["connections"]["shop"]
    assert shop["customers"] == 3  # C4 owes nothing overdue yet
    assert [(e["rank"], e["customer_id"]) for e in shop["entries"]] == [(1, "C2"), (2, "C3")]
    late = shop["entries"][1]
    assert late["average_days_late"] == "50.00"
    assert "pays 50.00 days late on average" in late["explanation"]

    code, out, _ = invoke("worklist", "-c", str(path), "--as-of", AS_OF.isoformat())
    lines = out.splitlines()
    assert lines[0].startswith("shop: top 3 of 3 customer(s) with overdue invoices")
    assert lines[1].startswith("   1. C2 Customer 2 — 800.00 EUR at risk, oldest 150 days")
    assert lines[2].strip().startswith("score ")


def test_check_warns_about_a_channel_the_policy_uses_but_nobody_configured(tmp_path: Path) -> None:
    exports = two_customers(tmp_path)
    path = config_file(tmp_path, 25, exports)
    path.write_text(path.read_text().replace("letter: {dir: letters}", ""))
    code, out, _ = invoke("check", "-c", str(path))
    assert code == 0
    assert (
        "warning: rules.dunning.channels.letter: the policy sends by letter, which is not configured; "
        "those reminders wait (and expire)"
    ) in out
