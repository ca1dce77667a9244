"""SIGKILL during a sync over real HTTP: nothing is lost, and the ERP applies each write once.

The ERP is a sandbox server on loopback that outlives the killed process and keeps a ledger of
every write that reached it with the idempotency key it carried (QuickBooks: the batch
``requestid`` and each item's ``bId``; NetSuite: the payment's ``externalId``). A child process
syncs 10,000+ records and writes back every 50th invoice; it is killed with SIGKILL once while it
pulls and once while it writes, at a random instant, then run again until it finishes.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.netsuite.connector import external_id_for
from connectors.quickbooks.connector import batch_id_for
from sandboxes.netsuite import NetSuiteSandbox
from sandboxes.quickbooks.server import QuickBooksSandbox

ROOT = Path(__file__).resolve().parents[2]
# Each seed is one ERP and one store, killed twice. More seeds on demand: ARBRIDGE_KILL_SEEDS=10.
SEEDS = int(os.environ.get("ARBRIDGE_KILL_SEEDS", "2"))
NETSUITE_SEEDS = max(1, SEEDS // 2)  # a NetSuite sync costs twice a QuickBooks one
QBO_INVOICES = 10_000
NETSUITE_INVOICES = 8_400  # with its customers, credit memos and payments: 10,080 records


@dataclass
class Phases:
    """How many pull and write requests the ERP has received so far."""

    pulls: Callable[[], int]
    writes: Callable[[], int]


@dataclass
class Outcome:
    killed_pulling: int = 0
    killed_writing: int = 0


def start_child(kind: str, state: str, settings: Path, logs: Path) -> subprocess.Popen[bytes]:
    # The connection's name is part of every idempotency key: each seed's writes are new to the ERP.
    connection = f"{kind}-{logs.name}"
    with open(logs / "stdout", "ab") as out, open(logs / "stderr", "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.engine.http_kill_target", kind, connection, state, str(settings)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=err,
        )


def kill_when(proc: subprocess.Popen[bytes], reached: Callable[[], bool], rng: random.Random) -> bool:
    """SIGKILL the child a random instant after ``reached()``; False when it finished first."""
    deadline = time.monotonic() + 180
    while proc.poll() is None and not reached():
        assert time.monotonic() < deadline, "the child made no progress"
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.3))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return True


def sync_with_kills(
    kind: str, tmp: Path, settings: dict[str, Any], phases: Phases, rng: random.Random, outcome: Outcome
) -> str:
    """Kill one sync while it pulls and one while it writes, then run it to the end."""
    tmp.mkdir()
    settings_file = tmp / "settings.json"
    settings_file.write_text(json.dumps(settings))
    state = f"sqlite:///{tmp / 'state.sqlite'}"

    base = phases.pulls()
    pull_target = rng.randint(1, 12)
    child = start_child(kind, state, settings_file, tmp)
    outcome.killed_pulling += kill_when(child, lambda: phases.pulls() - base >= pull_target, rng)

    base = phases.writes()
    write_target = rng.randint(1, 15)
    child = start_child(kind, state, settings_file, tmp)
    outcome.killed_writing += kill_when(child, lambda: phases.writes() - base >= write_target, rng)

    child = start_child(kind, state, settings_file, tmp)
    assert child.wait(180) == 0, (tmp / "stderr").read_text()
    last = (tmp / "stdout").read_text().splitlines()[-1]
    assert last.startswith("ok "), f"the final run did not finish cleanly: {last}"
    return state


def stored(state: str) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """The record ids per stream, and every outbox row (key, target id, status)."""
    engine = sa.create_engine(state)
    try:
        with engine.connect() as conn:
            records: dict[str, set[str]] = {}
            for stream, remote_id in conn.execute(sa.text("SELECT stream, remote_id FROM records")):
                records.setdefault(stream, set()).add(remote_id)
            outbox = [
                (str(k), str(t), str(s))
                for k, t, s in conn.execute(sa.text("SELECT key, target_id, status FROM outbox"))
            ]
    finally:
        engine.dispose()
    return records, outbox


def op_types(state: str) -> dict[str, str]:
    """Each outbox key with its operation type."""
    engine = sa.create_engine(state)
    try:
        with engine.connect() as conn:
            return {str(k): str(t) for k, t in conn.execute(sa.text("SELECT key, op_type FROM outbox"))}
    finally:
        engine.dispose()


def status_field(invoice: dict[str, Any]) -> str | None:
    return next((f.get("StringValue") for f in invoice["CustomField"] if f["DefinitionId"] == "1"), None)


@pytest.fixture(scope="module")
def rng() -> Iterator[random.Random]:
    yield random.Random(int(os.environ.get("ARBRIDGE_KILL_SEED", "20261123")))


@pytest.mark.slow
def test_quickbooks_sync_killed_at_random_points_loses_nothing_and_applies_each_write_once(
    tmp_path: Path, rng: random.Random
) -> None:
    outcome = Outcome()
    for seed in range(SEEDS):
        with QuickBooksSandbox(seed="large", records=QBO_INVOICES, refresh_grace_seconds=3600) as erp:
            settings = {
                "base_url": erp.base_url,
                "token_url": erp.token_url,
                "realm_id": erp.realm_id,
                "client_id": erp.client_id,
                "client_secret": erp.client_secret,
                "refresh_token": erp.issue_refresh_token(),
                "collection_status_field_id": "1",
                "batch_max": 10,
            }
            phases = Phases(
                pulls=lambda erp=erp: sum(1 for r in list(erp.requests_log) if r["path"].endswith("/query")),
                writes=lambda erp=erp: sum(1 for r in list(erp.requests_log) if r["path"].endswith("/batch")),
            )
            state = sync_with_kills("quickbooks", tmp_path / f"qbo{seed}", settings, phases, rng, outcome)
            records, outbox = stored(state)

            # Every record of the company is in the store.
            assert records["customers"] == set(erp.db["Customer"]), f"seed {seed}: customers lost"
            assert records["invoices"] == set(erp.db["Invoice"]), f"seed {seed}: invoices lost"
            # Every decision was confirmed, and the ERP applied each key's write exactly once:
            # anything that arrived again was answered from its requestid's first reply.
            chosen = {i for i in erp.db["Invoice"] if int(i) % 50 == 0}
            assert {t for _, t, _ in outbox} == chosen and {s for _, _, s in outbox} == {"done"}
            applied = Counter(w["bId"] for w in erp.writes_log if w["applied"])
            assert all(applied[batch_id_for(key)] == 1 for key, _, _ in outbox), (
                f"seed {seed}: a write took effect twice or never: "
                f"{[(t, applied[batch_id_for(k)]) for k, t, _ in outbox if applied[batch_id_for(k)] != 1]}"
            )
            assert sum(applied.values()) == len(outbox)
            # The company shows each change once: one update (SyncToken 0 -> 1) per chosen invoice.
            tokens = {i: erp.db["Invoice"][i]["SyncToken"] for i in erp.db["Invoice"]}
            assert {i for i, tok in tokens.items() if tok != "0"} == chosen
            assert {tokens[i] for i in chosen} == {"1"}
            assert {status_field(erp.db["Invoice"][i]) for i in chosen} == {"reminded · L2"}
    # Every kill hit a sync in progress, in both phases.
    assert (outcome.killed_pulling, outcome.killed_writing) == (SEEDS, SEEDS)


@pytest.mark.slow
def test_netsuite_sync_killed_at_random_points_loses_nothing_and_creates_each_payment_once(
    tmp_path: Path, rng: random.Random
) -> None:
    outcome = Outcome()
    # One account for every seed (seeding it takes seconds); each seed syncs into a fresh store
    # under its own connection name, so its payments are new to the account.
    with NetSuiteSandbox(seed="large", invoices=NETSUITE_INVOICES) as erp:
        settings = {
            "account": erp.account,
            "consumer_key": erp.consumer_key,
            "consumer_secret": erp.consumer_secret,
            "token_id": erp.token_id,
            "token_secret": erp.token_secret,
            "wsdl_url": erp.wsdl_url,
            "endpoint": erp.url,
            "list_batch_max": 10,
        }
        pulls = ("search", "searchMoreWithId", "getDeleted")
        phases = Phases(
            pulls=lambda: sum(1 for r in list(erp.requests_log) if r.operation in pulls),
            writes=lambda: sum(1 for r in list(erp.requests_log) if r.operation == "upsertList"),
        )
        for seed in range(NETSUITE_SEEDS):
            open_before = {
                i: erp.book.money(erp.record("invoice", i), "invoice", "amountRemaining")
                for i in erp.ids("invoice")
            }
            payments_before = set(erp.ids("customerPayment"))
            state = sync_with_kills("netsuite", tmp_path / f"ns{seed}", settings, phases, rng, outcome)
            records, outbox = stored(state)

            expected = {
                "customers": set(erp.ids("customer")),
                "invoices": set(erp.ids("invoice")),
                "credit_memos": set(erp.ids("creditMemo")),
                "payments": set(erp.ids("customerPayment")),
            }
            for stream, ids in expected.items():
                # Payments created by this very sync may land after the payments stream was read.
                lost = (ids & payments_before if stream == "payments" else ids) - records[stream]
                assert not lost, f"seed {seed}: {stream} lost: {sorted(lost)[:5]}"
            assert {s for _, _, s in outbox} == {"done"} and len(outbox) > 100

            # Each key created exactly one payment or user note; a key that arrived again updated it.
            kinds = op_types(state)
            ours = {external_id_for(key) for key, _, _ in outbox if kinds[key] == "payment_application"}
            notes = {external_id_for(key) for key, _, _ in outbox if kinds[key] == "note"}
            created = Counter(w.external_id for w in erp.writes_log if w.created)
            assert all(created[x] == 1 for x in ours), f"seed {seed}: a payment was created twice or never"
            assert len(notes) == len(ours) and all(created[x] == 1 for x in notes), (
                f"seed {seed}: a note was created twice or never"
            )
            noted = Counter(n.get("externalId") for n in erp.book.records["note"].values())
            assert all(noted[x] == 1 for x in notes), f"seed {seed}: a customer shows a note twice"
            assert set(erp.ids("customerPayment")) - payments_before == {
                erp.book.by_external["customerPayment"][x] for x in ours
            }
            # Each paid invoice's open amount went down by 10.00 once, and no other invoice changed.
            paid = set()
            for x in ours:
                payment = erp.record("customerPayment", erp.book.by_external["customerPayment"][x])
                [line] = [el for el in payment.iter() if str(el.tag).endswith("}doc")]
                paid.add(str(line.text))
            assert len(paid) == len(ours)
            for i, before in open_before.items():
                now = erp.book.money(erp.record("invoice", i), "invoice", "amountRemaining")
                assert now == (before - Decimal("10.00") if i in paid else before), f"invoice {i}"
    assert (outcome.killed_pulling, outcome.killed_writing) == (NETSUITE_SEEDS, NETSUITE_SEEDS)


# -- the crash campaign: thousands of write-backs, dozens of kills, both stores ----------------------

CAMPAIGN_INVOICES = int(os.environ.get("ARBRIDGE_CAMPAIGN_INVOICES", "10000"))
CAMPAIGN_KILLS = int(os.environ.get("ARBRIDGE_CAMPAIGN_KILLS", "50"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_crash_campaign_of_50_kills_over_10000_write_backs_loses_none_and_applies_none_twice(
    tmp_path: Path, store_url: str
) -> None:
    """Cycles killed between the rows of one decision, between a request's headers and its body,
    and at random instants, restarted at once; the ERP's own ledger counts each write once."""
    with QuickBooksSandbox(
        seed="large", records=CAMPAIGN_INVOICES, refresh_grace_seconds=3600, throttle=False
    ) as erp:
        settings = tmp_path / "settings.json"
        settings.write_text(
            json.dumps(
                {
                    "base_url": erp.base_url,
                    "token_url": erp.token_url,
                    "realm_id": erp.realm_id,
                    "client_id": erp.client_id,
                    "client_secret": erp.client_secret,
                    "refresh_token": erp.issue_refresh_token(),
                    "collection_status_field_id": "1",
                    "batch_max": 30,
                }
            )
        )
        connection = f"campaign-{tmp_path.name}"[:60]
        campaign = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.engine.kill_campaign_target",
                store_url,
                str(settings),
                connection,
                str(CAMPAIGN_INVOICES),
                str(CAMPAIGN_KILLS),
                os.environ.get("ARBRIDGE_KILL_SEED", "20261204"),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert campaign.returncode == 0, campaign.stderr[-4000:]
        result = json.loads(campaign.stdout.splitlines()[-1])
        kills = Counter(result["kills"])
        # Every way of dying was met, and often.
        assert (
            sum(kills.values()) >= CAMPAIGN_KILLS and min(kills[k] for k in ("row", "headers", "time")) >= 5
        )

        _, outbox = stored(store_url)
        invoices = set(erp.db["Invoice"])
        assert len(outbox) == len(invoices) >= CAMPAIGN_INVOICES
        assert {t for _, t, _ in outbox} == invoices and {s for _, _, s in outbox} == {"done"}
        # The ERP's ledger, per idempotency key: applied exactly once, none lost, none twice.
        applied = Counter(w["bId"] for w in erp.writes_log if w["applied"])
        counts = Counter(applied[batch_id_for(key)] for key, _, _ in outbox)
        assert counts == {1: len(outbox)}, f"applied n times: number of keys {dict(counts)}"
        assert sum(applied.values()) == len(outbox)
        # And the company shows it: one update per invoice, each with the decided status.
        assert {erp.db["Invoice"][i]["SyncToken"] for i in invoices} == {"1"}
        assert {status_field(erp.db["Invoice"][i]) for i in invoices} == {"reminded · L2"}
