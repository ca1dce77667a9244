"""Cash arbridge posts to SAP reads back applied, so cash application never applies it a second time.

SAP's journal-entry service has no invoice reference on a customer line: the incoming payment
arbridge posts is an open credit item carrying each invoice's assignment, and until automatic
clearing closes it (a partial payment: never) SAP shows it like a payment on account. These
stories run the daemon's cycle (pull, cash application on the store, write-back) against the
sandbox, with a bank statement in the inbox, and then the next cycles with and without SAP's
automatic clearing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config import default_config
from engine.runner import deciders_for, open_store, sync_connection
from mapping.models import Invoice, Payment, PaymentStatus, Stream
from sandboxes.sap_s4hana.seed import BANK_GL, add_customer, post_invoice, post_payment
from sandboxes.sap_s4hana.server import S4Sandbox
from store import StateStore

FULL = ("10100001", "Mueller Maschinenbau GmbH", "90000001", Decimal("1190.00"))
PARTIAL = ("10100002", "Schmidt Elektro KG", "90000002", Decimal("2000.00"), Decimal("800.00"))
ON_ACCOUNT = ("10100003", "Lyon Optique SARL", Decimal("350.00"))
CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>STMT-{day}</MsgId><CreDtTm>{day}T22:00:00</CreDtTm></GrpHdr>
<Stmt><Id>STMT-{day}</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>EUR</Ccy></Acct>
{entries}
</Stmt></BkToCstmrStmt></Document>
"""
ENTRY = """<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>{day}</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef></Refs>
<RltdPties><Dbtr><Nm>{payer}</Nm></Dbtr></RltdPties>
<RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"""


@pytest.fixture
def sap(specs_dir: Path) -> Iterator[S4Sandbox]:
    """A company with two open invoices and a payment on account a clerk posted in SAP."""
    with S4Sandbox(seed="empty", specs=specs_dir, spike_arrest=None) as sandbox:
        book = sandbox.book
        issued = book.today() - timedelta(days=20)
        for number, name, billing, total, *_ in (FULL, PARTIAL):
            add_customer(book, number, name, ["1010"])
            post_invoice(book, number, "1010", total, issued, billing=billing)
        add_customer(book, ON_ACCOUNT[0], ON_ACCOUNT[1], ["1010"])
        post_payment(
            book,
            ON_ACCOUNT[0],
            "1010",
            ON_ACCOUNT[2],
            book.today() - timedelta(days=3),
            assignment="SCHECK 4711",
        )
        yield sandbox


def deployment(tmp_path: Path, sap: S4Sandbox, store_url: str) -> Any:
    user, password = next(iter(sap.users.items()))
    (tmp_path / "inbox").mkdir()
    return default_config(
        tmp_path,
        overrides={
            "store": {"url": store_url},
            "connections": [
                {
                    "name": "s4",
                    "connector": "sap-s4hana",
                    "settings": {
                        "base_url": sap.base_url,
                        "username": user,
                        "password": password,
                        "company_codes": ["1010"],
                        "bank_gl_account": BANK_GL,
                    },
                    "write_back": {"enabled": True},
                }
            ],
            # A partial payment is applied without a clerk, so the story needs no review step.
            "rules": {
                "cashapp": {
                    "enabled": True,
                    "auto_threshold": 0.5,
                    "review_threshold": 0.4,
                    "statements": {"inbox": "inbox"},
                }
            },
        },
    )


def drop_statement(tmp_path: Path, sap: S4Sandbox) -> None:
    day = sap.book.today().date().isoformat()
    entries = [
        ENTRY.format(amount=FULL[3], day=day, ref="B-1", payer=FULL[1], text=f"RE {FULL[2]}"),
        ENTRY.format(
            amount=PARTIAL[4], day=day, ref="B-2", payer=PARTIAL[1], text=f"Teilzahlung RE {PARTIAL[2]}"
        ),
    ]
    (tmp_path / "inbox" / f"{day}.xml").write_text(CAMT.format(day=day, entries="\n".join(entries)))


def cycle(cfg: Any) -> StateStore:
    store = open_store(cfg)
    conn = cfg.connections[0]
    report = sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), sleep=lambda s: None)
    assert report.status == "ok", report.errors
    return store


def posted_by_arbridge(sap: S4Sandbox) -> list[str]:
    return [j["message_id"] for j in sap.book.journal if j["message_id"]]


def invoice(store: StateStore, billing: str) -> Invoice:
    found = [
        i for i in store.iter_records("s4", Stream.INVOICES) if isinstance(i, Invoice) and i.number == billing
    ]
    assert len(found) == 1, found
    return found[0]


def payments(store: StateStore) -> list[Payment]:
    return [p for p in store.iter_records("s4", Stream.PAYMENTS) if isinstance(p, Payment)]


def unapplied(store: StateStore) -> list[Payment]:
    return [p for p in payments(store) if p.unapplied_amount > 0]


def outbox_applications(store: StateStore) -> list[str]:
    return [r.key for r in store.outbox_rows("s4") if r.op_type == "payment_application"]


@pytest.mark.parametrize("clearing", ["automatic clearing runs", "automatic clearing never runs"])
def test_cash_posted_for_a_full_and_a_partial_payment_is_never_applied_again(
    tmp_path: Path, sap: S4Sandbox, store_url: str, clearing: str
) -> None:
    cfg = deployment(tmp_path, sap, store_url)
    cycle(cfg).close()  # the book as it stands
    drop_statement(tmp_path, sap)

    store = cycle(cfg)  # the statement's two lines are applied and posted
    first = outbox_applications(store)
    store.close()
    assert len(first) == 2 and len(posted_by_arbridge(sap)) == 2

    for _ in range(3):
        if clearing == "automatic clearing runs":
            sap.run_automatic_clearing()
        store = cycle(cfg)
        # Nothing proposed, nothing queued, nothing posted again.
        assert outbox_applications(store) == first
        assert len(posted_by_arbridge(sap)) == 2
        clerks = [p.remote_id for p in payments(store) if p.customer_remote_id == ON_ACCOUNT[0]]
        proposed = {m["payment_id"]: m["status"] for m in store.match_results("s4")}
        assert set(proposed) <= {"B-1", "B-2", *clerks}, proposed
        full, partial = invoice(store, FULL[2]), invoice(store, PARTIAL[2])
        assert (full.open_amount, full.status.value) == (Decimal(0), "paid")
        assert (partial.open_amount, partial.status.value) == (PARTIAL[3] - PARTIAL[4], "partially_paid")
        posted = [p for p in payments(store) if p.customer_remote_id in (FULL[0], PARTIAL[0])]
        assert sorted((p.amount, p.unapplied_amount, p.status) for p in posted) == [
            (PARTIAL[4], Decimal(0), PaymentStatus.APPLIED),
            (FULL[3], Decimal(0), PaymentStatus.APPLIED),
        ]
        assert {a.target_id for p in posted for a in p.allocations} == {full.remote_id, partial.remote_id}
        # The clerk's payment on account is SAP's own: it stays unapplied.
        assert [(p.customer_remote_id, p.unapplied_amount) for p in unapplied(store)] == [
            (ON_ACCOUNT[0], ON_ACCOUNT[2])
        ]
        store.close()
