"""A collector's call reaches SAP Business One: the note as an activity, the promise as a status."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import load_config
from engine.runner import deciders_for, open_store, sync_connection
from sandboxes.sap_business_one import ServiceLayerSandbox
from service.http import Health, OpsServer, create_app
from store.users import Users
from tests.connectors.sap_business_one.b1_target import create_fields
from tests.workspace.seed import PASSWORD, free_port

AS_OF = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def b1() -> Iterator[ServiceLayerSandbox]:
    with ServiceLayerSandbox(seed="demo", throttle=False, clock=lambda: AS_OF) as sandbox:
        create_fields(sandbox)
        yield sandbox


@pytest.fixture
def config_path(tmp_path: Path, b1: ServiceLayerSandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("B1_PASSWORD", b1.password)
    return write_config(tmp_path, b1)


def write_config(tmp_path: Path, b1: ServiceLayerSandbox, note_mode: str = "activity") -> Path:
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            server: {{bind: "127.0.0.1:{free_port()}"}}
            connections:
              - name: b1
                connector: sap-business-one
                settings:
                  service_url: {b1.service_root}
                  company_db: {b1.company_db}
                  username: {b1.user}
                  password: ${{B1_PASSWORD}}
                  note_mode: {note_mode}
                write_back: {{enabled: true}}
            rules:
              dunning: {{enabled: true}}
            """
        )
    )
    path.chmod(0o600)
    return path


def cycle(config_path: Path, offset: timedelta) -> None:
    cfg = load_config(config_path)
    store = open_store(cfg)
    try:
        conn = cfg.connections[0]
        sync_connection(cfg, conn, store, deciders=deciders_for(cfg, conn), as_of=AS_OF + offset)
    finally:
        store.close()


def token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has a form with a CSRF token"
    return found.group(1).decode()


def a_customer_with_open_invoices(b1: ServiceLayerSandbox) -> str:
    return next(
        code
        for code, partner in sorted(b1.company.tables["BusinessPartners"].items())
        if partner["CardType"] == "cCustomer"
        and any(
            d["CardCode"] == code and d["PaidToDate"] == 0 for d in b1.company.tables["Invoices"].values()
        )
    )


def log_promise(config_path: Path, card: str) -> bytes:
    """A collector logs in, logs a promise with a note for ``card``; returns the worklist they see after."""
    cfg = load_config(config_path)
    store = open_store(cfg)
    try:
        Users(store).add("collector", PASSWORD, "collector", by="setup")
        app = create_app(
            OpsServer(cfg, store, health=Health(), on_webhook=lambda c, n: None, clock=lambda: AS_OF)
        )
        client = app.test_client()
        form = client.get("/login")
        client.post(
            "/login", data={"username": "collector", "password": PASSWORD, "csrf_token": token(form.data)}
        )
        page = client.get("/worklist")
        answer = client.post(
            f"/worklist/b1/{card}/call",
            data={
                "csrf_token": token(page.data),
                "outcome": "promise",
                "promised_date": "2026-11-30",
                "note": "pays Monday after the board meeting",
            },
        )
        assert answer.status_code == 302
        return bytes(client.get("/worklist").data)
    finally:
        store.close()


def test_a_promise_logged_in_the_workspace_lands_in_b1_as_one_activity_and_promised_invoices(
    b1: ServiceLayerSandbox, config_path: Path
) -> None:
    cycle(config_path, timedelta(0))
    card = a_customer_with_open_invoices(b1)
    assert b"a note goes to the ERP at the next cycle" in log_promise(config_path, card)

    cycle(config_path, timedelta(hours=1))
    cycle(config_path, timedelta(hours=2))  # the next cycle sends nothing twice

    [activity] = b1.company.activities_of(card)
    assert activity["ActivityProperty"] == "cn_Note" and activity["ActivityDate"] == "2026-11-23"
    assert activity["Notes"].startswith("Call 2026-11-23 by collector: promised to pay ")
    assert activity["Notes"].endswith("by 2026-11-30. pays Monday after the board meeting")
    promised = [
        d
        for d in b1.company.tables["Invoices"].values()
        if d["CardCode"] == card and d.get("U_ARB_CollStatus") == "promised"
    ]
    named = re.search(r"promised to pay (.+) by 2026-11-30", activity["Notes"])
    assert named is not None
    assert sorted(named.group(1).split(", ")) == sorted(str(d["DocEntry"]) for d in promised) != []


def test_with_notes_off_the_call_stays_in_arbridge_and_only_the_promise_reaches_b1(
    b1: ServiceLayerSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B1_PASSWORD", b1.password)
    config_path = write_config(tmp_path, b1, note_mode="off")
    cycle(config_path, timedelta(0))
    card = a_customer_with_open_invoices(b1)
    assert b"a note goes to the ERP" not in log_promise(config_path, card)
    cycle(config_path, timedelta(hours=1))
    assert b1.company.tables["Activities"] == {}
    store = open_store(load_config(config_path))
    try:
        assert "note" not in {row.op_type for row in store.outbox_rows("b1")}, "no note queued to be refused"
    finally:
        store.close()
    assert any(
        d["CardCode"] == card and d.get("U_ARB_CollStatus") == "promised"
        for d in b1.company.tables["Invoices"].values()
    )
