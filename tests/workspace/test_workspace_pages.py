"""The AR team's workspace over HTTP: logging in, what each role may do, CSRF, and what it changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.http import create_app
from store import StateStore
from tests.workspace.seed import AS_OF, PASSWORD, TODAY, Seeded, expected_aging, seed, why_not_reminded


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return seed(tmp_path)


@pytest.fixture
def store(seeded: Seeded) -> Iterator[StateStore]:
    s = seeded.store()
    yield s
    s.close()


@pytest.fixture
def client(seeded: Seeded, store: StateStore) -> FlaskClient:
    return create_app(seeded.server(store)).test_client()


def token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has a form with a CSRF token"
    return found.group(1).decode()


def log_in(client: FlaskClient, name: str, password: str = PASSWORD) -> Any:
    form = client.get("/login")
    return client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token(form.data)}
    )


def test_pages_send_a_visitor_to_the_login_first(client: FlaskClient) -> None:
    answer = client.get("/overview")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=/overview")
    assert client.get("/overview.json").status_code == 302


def test_a_viewer_logs_in_and_reads_the_aging_of_the_store(client: FlaskClient, store: StateStore) -> None:
    answer = log_in(client, "viewer")
    assert answer.status_code == 302 and answer.headers["Location"] == "/overview"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    data = client.get("/overview.json").get_json()
    [eur] = data["together"]
    assert {k: Decimal(v["amount"]) for k, v in eur["aging"].items()} == expected_aging()
    assert Decimal(eur["open_ar"]) == sum(expected_aging().values())
    # At October's end nothing had been paid or issued since; not yet due then were invoices 1
    # (due 13 Nov), 7 (due 23 Nov) and 3 (due 28 Nov), all issued in October.
    october = next(m for m in eur["months"] if m["month"] == "2026-10")
    assert Decimal(october["ending_ar"]) == Decimal("3482.94")
    assert Decimal(october["overdue_ar"]) == Decimal("3482.94") - Decimal("500.00") - Decimal(
        "99.99"
    ) - Decimal("750.00")
    page = client.get("/overview").get_data(as_text=True)
    assert "Best Possible DSO" in page and "count-back" in page and "<svg" in page
    assert "30 + 30 + 32/70 × 30" in page  # the formulas are stated
    assert store.audit_entries(limit=1)[0]["event"] == "workspace_login"


def test_a_wrong_password_is_refused_and_audited_without_it(client: FlaskClient, store: StateStore) -> None:
    answer = log_in(client, "clerk", "not the password at all")
    assert answer.status_code == 401 and b"Wrong user name or password" in answer.data
    entry = store.audit_entries(limit=1)[0]
    assert entry["event"] == "workspace_login_failed" and "not the password" not in entry["detail"]
    assert client.get("/overview").status_code == 302


def test_many_failed_logins_from_one_address_are_throttled(client: FlaskClient) -> None:
    for k in range(20):
        log_in(client, f"guess{k}", "nope nope nope")
    assert log_in(client, "viewer").status_code == 429


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, store: StateStore) -> None:
    log_in(client, "clerk")
    answer = client.post("/review/shop/PMT-1/accept", data={})
    assert answer.status_code == 400 and b"security token" in answer.data
    forged = client.post("/review/shop/PMT-1/accept", data={"csrf_token": "guessed"})
    assert forged.status_code == 400
    assert [r["status"] for r in store.match_results("shop")] == ["review"]


def test_a_viewer_gets_no_buttons_and_403_on_a_forged_post(client: FlaskClient, store: StateStore) -> None:
    log_in(client, "viewer")
    page = client.get("/review")
    assert b"PMT-1" in page.data and b">Accept</button>" not in page.data
    assert b"Log</button>" not in client.get("/worklist").data
    answer = client.post("/review/shop/PMT-1/accept", data={"csrf_token": token(page.data)})
    assert answer.status_code == 403 and b"a viewer may not do this" in answer.data
    call = client.post("/worklist/shop/C1/call", data={"csrf_token": token(page.data), "outcome": "reached"})
    assert call.status_code == 403
    assert [r["status"] for r in store.match_results("shop")] == ["review"]


def test_a_clerk_accepts_a_proposal_and_the_outbox_holds_the_application(
    client: FlaskClient, store: StateStore
) -> None:
    log_in(client, "clerk")
    page = client.get("/review")
    assert b">Accept</button>" in page.data
    answer = client.post("/review/shop/PMT-1/accept", data={"csrf_token": token(page.data)})
    assert answer.status_code == 302
    assert b"accepted; the payment application is queued" in client.get("/review").data
    [row] = [r for r in store.outbox_rows("shop", status="pending") if r.op_type == "payment_application"]
    assert row.op_type == "payment_application" and row.target_id == "PMT-1"
    entry = next(e for e in store.audit_entries("shop", limit=20) if e["event"] == "review_accepted")
    assert '"by": "clerk"' in entry["detail"]


def test_a_collector_logs_a_promise_and_the_next_cycle_pauses_that_customer(
    seeded: Seeded, client: FlaskClient, store: StateStore
) -> None:
    log_in(client, "collector")
    page = client.get("/worklist")
    assert b"Anker Logistik" in page.data and b"Log</button>" in page.data
    promised = (TODAY.replace(day=30)).isoformat()
    answer = client.post(
        "/worklist/shop/C1/call",
        data={
            "csrf_token": token(page.data),
            "outcome": "promise",
            "promised_date": promised,
            "note": "pays Monday",
        },
    )
    assert answer.status_code == 302
    assert f"C1 [shop]: promised to pay 1, 2 by {promised}".encode() in client.get("/worklist").data
    entry = next(e for e in store.audit_entries("shop", limit=20) if e["event"] == "dunning_call")
    assert '"by": "collector"' in entry["detail"]

    assert why_not_reminded(seeded, store, "C1", AS_OF) == {"1": "promise_to_pay", "2": "promise_to_pay"}
    seeded.cycle()
    statuses = {(s["target_id"], s["collection_status"]) for s in seeded.written("collection_status")}
    assert {("1", "promised"), ("2", "promised")} <= statuses
    [note] = seeded.written("note")
    assert note["target_id"] == "C1"
    assert note["text"] == f"Call 2026-11-23 by collector: promised to pay 1, 2 by {promised}. pays Monday"


def test_a_promise_without_its_date_is_refused_saying_so(client: FlaskClient, store: StateStore) -> None:
    log_in(client, "collector")
    page = client.get("/worklist")
    client.post("/worklist/shop/C1/call", data={"csrf_token": token(page.data), "outcome": "promise"})
    assert b"a promise needs the day the customer will pay by" in client.get("/worklist").data
    assert [e["event"] for e in store.audit_entries("shop", limit=5)].count("dunning_call") == 0


def test_a_new_password_ends_the_sessions_begun_with_the_old_one(
    client: FlaskClient, store: StateStore
) -> None:
    from store.users import Users

    log_in(client, "viewer")
    assert client.get("/overview").status_code == 200
    Users(store).set_password("viewer", "another long password", by="admin")
    assert client.get("/overview").status_code == 302


def test_beyond_loopback_the_workspace_answers_over_https_only_with_secure_cookies(
    seeded: Seeded, store: StateStore
) -> None:
    from config import parse_config
    from service.http import Health, OpsServer

    data = {
        "version": 1,
        "store": {"url": store.url},
        "server": {"bind": "0.0.0.0:8765", "token": "${ADMIN_TOKEN}"},
        "connections": [{"name": "shop", "connector": "memory"}],
    }
    public = parse_config(data, base_dir=seeded.path.parent, environ={"ADMIN_TOKEN": "t" * 32})
    app = create_app(OpsServer(public, store, health=Health(), on_webhook=lambda c, n: None))
    plain = app.test_client().get("/login")
    assert plain.status_code == 403 and b"HTTPS" in plain.data
    secure = app.test_client().get("/login", base_url="https://arbridge.example")
    assert secure.status_code == 200
    assert "Secure" in secure.headers["Set-Cookie"]
    assert app.test_client().get("/healthz").status_code == 200


def test_a_customer_is_found_and_its_statement_nets_what_it_owes(
    client: FlaskClient, store: StateStore
) -> None:
    log_in(client, "collector")
    found = client.get("/customers?q=bakery").get_data(as_text=True)
    assert "Busy Bakery" in found and "Anker Logistik" not in found
    page = client.get("/worklist")
    client.post(
        "/worklist/shop/C3/call",
        data={"csrf_token": token(page.data), "outcome": "dispute", "invoices": "5", "note": "goods damaged"},
    )
    statement = client.get("/customers/shop/C3").get_data(as_text=True)
    assert "Mueller Maschinenbau GmbH" in statement
    assert '<td class="net">1,802.39</td>' in statement  # 1190.00 + 512.40 + 99.99
    assert "call: dispute of 5 until 2026-12-23 — goods damaged" in statement
    assert "level 1 by email: planned" in statement
    exported = client.get("/customers/shop/C3?format=csv").get_data(as_text=True).splitlines()
    assert exported[0] == "invoice,issued,due,days_overdue,currency,open"
    assert "INV-6,2026-04-07,2026-05-07,200,EUR,512.40" in exported
    assert client.get("/customers/shop/C9").status_code == 404


def test_an_admin_settles_a_reminder_in_doubt_and_a_collector_may_not(
    client: FlaskClient, store: StateStore
) -> None:
    from store.dunning import DunningActions

    book = DunningActions(store)
    [row] = [r for r in book.with_status("shop", ["planned"]) if r.customer_id == "C2"]
    assert book.claim(row.key, "test-process")
    book.in_doubt(row.key, "the connection to the relay was cut after DATA")

    log_in(client, "collector")
    page = client.get("/dunning")
    assert b"the connection to the relay was cut" in page.data and b"It arrived</button>" not in page.data
    refused = client.post(f"/dunning/{row.key}/mark-sent", data={"csrf_token": token(page.data)})
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": token(page.data)})

    log_in(client, "admin")
    page = client.get("/dunning")
    assert b"It arrived</button>" in page.data
    client.post(f"/dunning/{row.key}/mark-sent", data={"csrf_token": token(page.data), "note": "relay log"})
    assert book.get(row.key).status == "sent"  # type: ignore[union-attr]
    entry = next(e for e in store.audit_entries("shop", limit=20) if e["event"] == "dunning_marked_sent")
    assert '"by": "admin"' in entry["detail"] and "relay log" in entry["detail"]
    statuses = [
        r for r in store.outbox_rows("shop") if r.op_type == "collection_status" and r.target_id == "4"
    ]
    assert statuses and statuses[-1].payload["collection_status"] == "reminded"


def test_every_table_can_be_taken_away_as_csv_or_json(client: FlaskClient) -> None:
    log_in(client, "viewer")
    aging = client.get("/overview.csv")
    assert aging.headers["Content-Type"].startswith("text/csv")
    lines = aging.get_data(as_text=True).splitlines()
    assert lines[0] == "as_of,scope,currency,bucket,invoices,open_amount"
    assert "2026-11-23,all connections,EUR,121+,1,512.40" in lines
    book = client.get("/overview.xlsx")
    assert book.headers["Content-Disposition"] == 'attachment; filename="aging.xlsx"'
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = load_workbook(BytesIO(book.data)).active
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == ["as_of", "scope", "currency", "bucket", "invoices", "open_amount"]
    amounts = {r[3]: r[5] for r in cells[1:] if r[1] == "all connections"}
    assert amounts == {k: float(v) for k, v in expected_aging().items()}  # numbers, not text
    listed = client.get("/worklist.csv").get_data(as_text=True).splitlines()
    assert listed[0].startswith("connection,rank,customer,name,currency,at_risk")
    assert listed[1].startswith("shop,1,C3,Mueller Maschinenbau GmbH,EUR,1702.40,200")
    worklist = client.get("/worklist.json").get_json()
    assert [e["customer_id"] for e in worklist["connections"]["shop"]["entries"]] == ["C3", "C2", "C1"]
    assert client.get("/review.json").get_json()["shop"][0]["payment_id"] == "PMT-1"


def test_a_clerk_applies_other_amounts_with_a_write_off_within_what_is_open(
    client: FlaskClient, store: StateStore
) -> None:
    log_in(client, "clerk")
    page = client.get("/review")
    too_much = client.post(
        "/review/shop/PMT-1/change",
        data={"csrf_token": token(page.data), "apply": "7=99.99 6=500.00", "writeoff": "6=20"},
    )
    assert too_much.status_code == 302
    shown = client.get("/review").get_data(as_text=True)
    assert "PMT-1: 6: cash 500.00 + write-off 20 = 520.00 is more than its open amount 512.40" in shown
    client.post(
        "/review/shop/PMT-1/change",
        data={"csrf_token": token(page.data), "apply": "6=412.41; 7=99.99", "writeoff": "6=0.40"},
    )
    assert "PMT-1: changed" in client.get("/review").get_data(as_text=True)
    [row] = [r for r in store.outbox_rows("shop", status="pending") if r.op_type == "payment_application"]
    allocations = {a["target_id"]: (a["amount"], a.get("writeoff")) for a in row.payload["allocations"]}
    assert allocations == {"6": ("412.41", "0.40"), "7": ("99.99", None)}


def test_each_aging_figure_links_to_the_invoices_behind_it(client: FlaskClient) -> None:
    log_in(client, "viewer")
    overview = client.get("/overview").get_data(as_text=True)
    link = re.search(r'href="(/invoices\?bucket=1%E2%80%9330[^"]*)"', overview)
    assert link, "the 1–30 amount links to its invoices"
    page = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    # INV-1 is 10 days past due; INV-8, 30 days, is paid.
    assert "1 invoice(s)" in page and "INV-1" in page and "INV-8" not in page
    shown = re.findall(r'<td class="amount">([^<]+)</td>', page)
    assert shown == [f"{expected_aging()['1–30']:,.2f}"]


def test_a_collector_takes_a_customer_and_sees_only_theirs(client: FlaskClient, store: StateStore) -> None:
    log_in(client, "collector")
    page = client.get("/worklist")
    client.post("/worklist/shop/C2/assign", data={"csrf_token": token(page.data), "to": "collector"})
    refused = client.post("/worklist/shop/C1/assign", data={"csrf_token": token(page.data), "to": "viewer"})
    assert refused.status_code == 302
    everyone = client.get("/worklist").get_data(as_text=True)
    assert "&#39;viewer&#39; is not a collector or an admin" in everyone
    assert "assigned to collector" in everyone
    mine = client.get("/worklist?mine=1").get_data(as_text=True)
    assert "Busy Bakery" in mine and "Anker Logistik" not in mine and "Mueller" not in mine
    entry = next(e for e in store.audit_entries("shop", limit=20) if e["event"] == "worklist_assigned")
    assert '"by": "collector"' in entry["detail"] and '"to": "collector"' in entry["detail"]


def test_a_statement_downloads_as_a_pdf_with_its_balance(client: FlaskClient) -> None:
    from tests.rules.dunning.builders import pdf_text

    log_in(client, "viewer")
    answer = client.get("/customers/shop/C3?format=pdf")
    assert answer.headers["Content-Type"] == "application/pdf" and answer.data.startswith(b"%PDF")
    text = pdf_text(answer.data)
    assert "Statement of account as of 2026-11-23" in text and "Mueller Maschinenbau GmbH" in text
    assert "INV-6" in text and "Balance EUR: 1,802.39" in text


def test_automation_reads_the_json_with_the_servers_bearer_token_and_cannot_act(
    seeded: Seeded, store: StateStore
) -> None:
    from config import parse_config
    from service.http import Health, OpsServer

    data = {
        "version": 1,
        "store": {"url": store.url},
        "server": {"bind": "127.0.0.1:8765", "token": "${ADMIN_TOKEN}"},
        "connections": [{"name": "shop", "connector": "memory"}],
    }
    secret = "t" * 32
    deployment = parse_config(data, base_dir=seeded.path.parent, environ={"ADMIN_TOKEN": secret})
    ops = OpsServer(deployment, store, health=Health(), on_webhook=lambda c, n: None, clock=lambda: AS_OF)
    client = create_app(ops).test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    aging = client.get("/overview.json", headers=bearer).get_json()["together"][0]["aging"]
    assert {k: Decimal(v["amount"]) for k, v in aging.items()} == expected_aging()
    assert client.get("/overview.json", headers={"Authorization": "Bearer wrong"}).status_code == 302
    posted = client.post("/review/shop/PMT-1/accept", headers=bearer)
    assert posted.status_code == 400  # no session, no CSRF token: nothing acts on a token
    assert [r["status"] for r in store.match_results("shop")] == ["review"]


def test_the_open_and_overdue_totals_link_to_their_invoices(client: FlaskClient) -> None:
    log_in(client, "viewer")
    overdue = client.get("/invoices?bucket=overdue&currency=EUR").get_data(as_text=True)
    shown = [Decimal(a.replace(",", "")) for a in re.findall(r'<td class="amount">([^<]+)</td>', overdue)]
    assert sum(shown) == sum(v for k, v in expected_aging().items() if k != "current")
    assert "INV-3" not in overdue and "INV-7" not in overdue  # due in 5 days, due today
    every = client.get("/invoices?bucket=open&currency=EUR").get_data(as_text=True)
    assert "7 invoice(s)" in every
    assert client.get("/invoices?bucket=someday&currency=EUR").status_code == 404


def test_the_overview_reads_the_same_on_every_database(tmp_path: Path, store_url: str) -> None:
    seeded = seed(tmp_path, store_url)
    store = seeded.store()
    try:
        client = create_app(seeded.server(store)).test_client()
        log_in(client, "viewer")
        [eur] = client.get("/overview.json").get_json()["together"]
        assert {k: Decimal(v["amount"]) for k, v in eur["aging"].items()} == expected_aging()
        assert [m["month"] for m in eur["months"]][-1] == "2026-11" and len(eur["months"]) == 12
    finally:
        store.close()


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "overview"]
)
def test_a_login_link_cannot_send_the_user_to_another_site(client: FlaskClient, target: str) -> None:
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD, "csrf_token": token(form.data), "next": target},
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/overview"


def test_a_login_link_brings_the_user_back_to_the_page_asked_for(client: FlaskClient) -> None:
    form = client.get("/login?next=/customers?q=bakery")
    answer = client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORD,
            "csrf_token": token(form.data),
            "next": "/customers?q=bakery",
        },
    )
    assert answer.headers["Location"] == "/customers?q=bakery"


def test_the_overview_tells_how_cash_application_and_dunning_are_doing(client: FlaskClient) -> None:
    log_in(client, "viewer")
    page = client.get("/overview").get_data(as_text=True)
    assert "0 applied automatically (0.0 % of 1 payments), 0 by a clerk" in page
    assert ">1 waiting for review</a>" in page
    assert "Dunning: 0 sent, 3 planned, 0 in doubt, 0 failed" in page


def test_the_overview_json_holds_the_cash_forecast_of_the_stored_model_or_says_there_is_none(
    client: FlaskClient, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics.prediction.forecast import cash_forecast
    from analytics.prediction.model import Predictor
    from engine.payment_model import load_books, refit, stored_predictor

    log_in(client, "viewer")
    before = client.get("/overview.json").get_json()["forecast"]
    assert before["without_model"] == ["shop"] and before["parts"] == []
    assert "arbridge predict --refit" in before["how_to_get_a_model"]

    refit(store, "shop")

    def no_fitting(*_args: Any, **_kwargs: Any) -> Predictor:
        raise AssertionError("a page view must not fit a model")

    monkeypatch.setattr(Predictor, "fit", staticmethod(no_fitting))
    paid, still_open = load_books(store, "shop")
    predictor = stored_predictor(store, "shop", paid)
    assert predictor is not None
    [eur] = cash_forecast(predictor.predict(still_open, TODAY), TODAY).currencies
    after = client.get("/overview.json").get_json()["forecast"]
    assert after["without_model"] == []
    assert after["expected_total"] == {"EUR": round(sum(w.expected for w in eur.weeks), 2)}
    [part] = after["parts"]
    assert [w["expected"] for w in part["weeks"]] == [w.to_json()["expected"] for w in eur.weeks]
    assert [w["high"] for w in part["weeks"]] == [w.to_json()["high"] for w in eur.weeks]
    assert "model fitted" in after["models"]["shop"]
