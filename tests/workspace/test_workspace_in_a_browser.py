"""The workspace in a real headless Chromium (Selenium): what a person sees and can do in a browser.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). Without them the
tests are skipped with what to install, except in CI, where they fail. With
``ARBRIDGE_SCREENSHOTS=DIR`` each page is also saved there as a PNG (the docs' screenshots).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.http import OpsServer
from store import StateStore
from tests.workspace.seed import (
    AS_OF,
    INVOICES,
    PASSWORD,
    TODAY,
    Seeded,
    expected_aging,
    seed,
    why_not_reminded,
)

CHROMIUM = os.environ.get("ARBRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ARBRIDGE_CHROMEDRIVER", "/usr/bin/chromedriver")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() or shutil.which(path)):
            return (
                f"no headless browser: {path} not found (apt-get install {package}, or set ARBRIDGE_CHROMIUM)"
            )
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; .ci/run must install it")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1800")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return seed(tmp_path)


@pytest.fixture
def store(seeded: Seeded) -> Iterator[StateStore]:
    s = seeded.store()
    yield s
    s.close()


@pytest.fixture
def server(seeded: Seeded, store: StateStore) -> Iterator[OpsServer]:
    ops = seeded.server(store)
    ops.start()
    yield ops
    ops.stop()


def shot(driver: Any, name: str) -> None:
    folder = os.environ.get("ARBRIDGE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def wait_for(driver: Any, condition: Any) -> None:
    """Wait until the browser shows the next page (a click returns before it has loaded)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(condition)


def log_in(driver: Any, server: OpsServer, name: str, page: str = "/overview") -> None:
    from selenium.webdriver.common.by import By

    driver.get(server.url + page)
    assert "/login" in driver.current_url
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    assert driver.find_element(By.ID, "who").text == f"{name} ({name})"


def test_a_viewer_logs_in_and_the_overview_shows_the_stores_aging_exactly(
    browser: Any, server: OpsServer
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/login")
    shot(browser, "login")
    log_in(browser, server, "viewer")
    assert browser.current_url.endswith("/overview")
    together = browser.find_element(By.CSS_SELECTOR, 'section[data-scope="together"][data-currency="EUR"]')
    shown = {
        cell.get_attribute("data-bucket"): cell.text
        for cell in together.find_elements(By.CSS_SELECTOR, "td.amount")
    }
    expected = expected_aging()
    assert shown == {k: f"{v:,.2f}" for k, v in expected.items()}
    assert together.find_element(By.CSS_SELECTOR, "dd.open-ar").text == f"{sum(expected.values()):,.2f}"
    overdue = sum(v for k, v in expected.items() if k != "current")
    assert together.find_element(By.CSS_SELECTOR, "dd.overdue-ar").text == f"{overdue:,.2f}"
    assert len(together.find_elements(By.CSS_SELECTOR, "svg.chart")) == 3
    assert "32/70 × 30" in browser.find_element(By.ID, "formulas").find_element(By.XPATH, "..").text
    shot(browser, "overview")


def test_a_viewer_follows_the_dso_to_the_invoices_it_is_worked_out_from(
    browser: Any, server: OpsServer
) -> None:
    from selenium.webdriver.common.by import By

    log_in(browser, server, "viewer")
    together = browser.find_element(By.CSS_SELECTOR, 'section[data-scope="together"][data-currency="EUR"]')
    dso = together.find_element(By.CSS_SELECTOR, "dd.dso").text
    together.find_element(By.CSS_SELECTOR, "dd.dso a").click()
    wait_for(browser, lambda d: "/overview/month" in d.current_url)
    assert browser.current_url.endswith("#figure-dso")
    assert browser.find_element(By.CSS_SELECTOR, "strong.dso").text == dso
    invoices = browser.find_elements(By.CSS_SELECTOR, "#open-today tbody tr")
    assert len(invoices) == sum(1 for row in INVOICES if row["open_amount"] != "0.00")
    shot(browser, "month")


def test_a_clerk_accepts_a_proposal_and_the_outbox_holds_the_application(
    browser: Any, server: OpsServer, store: StateStore
) -> None:
    from selenium.webdriver.common.by import By

    log_in(browser, server, "clerk", "/review")
    proposal = browser.find_element(By.ID, "payment-PMT-1")
    assert "512.40 EUR" in proposal.text and "INV-6" in proposal.text
    shot(browser, "review")
    proposal.find_element(By.CSS_SELECTOR, "button.accept").click()
    assert "PMT-1: accepted" in browser.find_element(By.CSS_SELECTOR, ".flash.ok").text
    assert browser.find_element(By.ID, "empty").text == "Nothing waits for review."
    [row] = [r for r in store.outbox_rows("shop", status="pending") if r.op_type == "payment_application"]
    assert row.target_id == "PMT-1"
    assert [(a["target_id"], a["amount"]) for a in row.payload["allocations"]] == [("6", "512.40")]


def test_a_viewer_gets_no_buttons_and_a_forged_post_is_refused_with_403(
    browser: Any, server: OpsServer, store: StateStore
) -> None:
    from selenium.webdriver.common.by import By

    log_in(browser, server, "viewer", "/review")
    assert browser.find_elements(By.ID, "payment-PMT-1")
    assert browser.find_elements(By.CSS_SELECTOR, "button.accept") == []
    browser.get(server.url + "/worklist")
    assert (
        "Anker Logistik" in browser.page_source and browser.find_elements(By.CSS_SELECTOR, "form.call") == []
    )
    # The viewer forges the clerk's form, with a valid CSRF token taken from the logout form.
    browser.execute_script(
        """
        const form = document.createElement('form');
        form.method = 'post';
        form.action = '/review/shop/PMT-1/accept';
        const token = document.querySelector('input[name=csrf_token]').cloneNode();
        form.appendChild(token);
        document.body.appendChild(form);
        form.submit();
        """
    )
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("403"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "403: Not allowed"
    assert "a viewer may not do this" in browser.find_element(By.ID, "error-message").text
    assert [r["status"] for r in store.match_results("shop")] == ["review"]


def test_a_post_without_the_csrf_token_is_refused(browser: Any, server: OpsServer, store: StateStore) -> None:
    from selenium.webdriver.common.by import By

    log_in(browser, server, "clerk", "/review")
    browser.execute_script("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove());")
    browser.find_element(By.CSS_SELECTOR, "#payment-PMT-1 button.accept").click()
    assert "security token is missing" in browser.find_element(By.ID, "error-message").text
    assert [r["status"] for r in store.match_results("shop")] == ["review"]


def test_a_collector_logs_a_promise_and_the_next_cycles_plan_pauses_that_customer(
    browser: Any, server: OpsServer, seeded: Seeded, store: StateStore
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    later = AS_OF + timedelta(hours=1)
    assert "promise_to_pay" not in why_not_reminded(seeded, store, "C1", later).values()

    log_in(browser, server, "collector", "/worklist")
    line = browser.find_element(By.ID, "customer-C1")
    shot(browser, "worklist")
    Select(line.find_element(By.NAME, "outcome")).select_by_value("promise")
    promised = TODAY + timedelta(days=7)
    # A date input takes the date as the browser's locale types it; set its value as the form sends it.
    browser.execute_script(
        "arguments[0].value = arguments[1];",
        line.find_element(By.NAME, "promised_date"),
        promised.isoformat(),
    )
    line.find_element(By.NAME, "note").send_keys("pays next Monday")
    line.find_element(By.CSS_SELECTOR, "form.call button").click()
    assert (
        f"promised to pay 1, 2 by {promised.isoformat()}"
        in browser.find_element(By.CSS_SELECTOR, ".flash.ok").text
    )
    held = browser.find_element(By.CSS_SELECTOR, "#customer-C1 .held").text
    assert "promised" in held

    assert why_not_reminded(seeded, store, "C1", later) == {"1": "promise_to_pay", "2": "promise_to_pay"}
    seeded.cycle(timedelta(hours=1))
    written = {(s["target_id"], s["collection_status"]) for s in seeded.written("collection_status")}
    assert {("1", "promised"), ("2", "promised")} <= written
    [note] = seeded.written("note")  # the ERP got the call as a note on the customer
    assert note["target_id"] == "C1" and note["text"].endswith("pays next Monday")


def test_an_admin_finds_a_customer_and_settles_its_reminder_in_doubt(
    browser: Any, server: OpsServer, store: StateStore
) -> None:
    from selenium.webdriver.common.by import By

    from store.dunning import DunningActions

    book = DunningActions(store)
    [row] = [r for r in book.with_status("shop", ["planned"]) if r.customer_id == "C3"]
    assert book.claim(row.key, "test-process")
    book.in_doubt(row.key, "the relay closed the connection after DATA")

    log_in(browser, server, "admin", "/customers")
    browser.find_element(By.ID, "q").send_keys("mueller")
    browser.find_element(By.CSS_SELECTOR, "form.search button").click()
    wait_for(browser, lambda d: "q=mueller" in d.current_url)
    browser.find_element(By.LINK_TEXT, "C3").click()
    wait_for(browser, lambda d: d.current_url.endswith("/customers/shop/C3"))
    assert browser.find_element(By.CSS_SELECTOR, "td.net").text == "1,802.39"
    assert "level 1 by email: in doubt" in browser.find_element(By.CSS_SELECTOR, "ol.timeline").text
    shot(browser, "customer")

    browser.get(server.url + "/dunning")
    shot(browser, "dunning")
    line = browser.find_element(By.ID, f"action-{row.key}")
    line.find_element(By.NAME, "note").send_keys("relay log shows 250 OK")
    line.find_element(By.CSS_SELECTOR, "button.mark-sent").click()
    assert "recorded as sent" in browser.find_element(By.CSS_SELECTOR, ".flash.ok").text
    assert book.get(row.key).status == "sent"  # type: ignore[union-attr]


def test_the_overview_shows_the_next_weeks_expected_collections_from_the_stored_model(
    browser: Any, server: OpsServer, store: StateStore
) -> None:
    from selenium.webdriver.common.by import By

    from analytics.prediction.forecast import cash_forecast
    from engine.payment_model import load_books, refit, stored_predictor

    log_in(browser, server, "viewer")
    told = browser.find_element(By.ID, "forecast-no-model").text
    assert "No payment-date model stored yet for shop" in told and "arbridge predict --refit" in told

    refit(store, "shop")
    paid, still_open = load_books(store, "shop")
    predictor = stored_predictor(store, "shop", paid)
    assert predictor is not None
    [eur] = cash_forecast(predictor.predict(still_open, TODAY), TODAY).currencies
    expected = sum(w.expected for w in eur.weeks)
    browser.get(server.url + "/overview")

    panel = browser.find_element(By.CSS_SELECTOR, '#forecast .forecast-part[data-currency="EUR"]')
    assert expected > 0
    assert panel.find_element(By.CSS_SELECTOR, "dd.forecast-total").text == f"{expected:,.2f}"
    assert panel.find_element(By.CSS_SELECTOR, "dd.forecast-later").text == f"{eur.later:,.2f}"
    assert len(panel.find_elements(By.CSS_SELECTOR, "svg.chart")) == 1
    assert not browser.find_elements(By.ID, "forecast-no-model")
    shot(browser, "overview-forecast")


def test_a_collector_logs_in_with_single_sign_on_and_lands_on_the_worklist(
    browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    from tests.workspace.oidc_provider import Provider
    from tests.workspace.test_workspace_sso import sso_settings

    # The provider on "localhost" and the workspace on 127.0.0.1 are different sites to the browser:
    # sent back by the provider's sign-in page, it withholds the SameSite=Strict session cookie, as
    # it does coming back from Entra ID or Keycloak.
    provider = Provider(host="localhost", interactive=True).start()
    provider.user = {"preferred_username": "alice@example.com", "groups": ["ar-collectors"]}
    seeded = seed(tmp_path, sso=sso_settings(tmp_path, provider))
    store = seeded.store()
    ops = seeded.server(store)
    ops.start()
    try:
        browser.get(ops.url + "/worklist")
        assert "/login" in browser.current_url
        shot(browser, "login-sso")
        browser.find_element(By.ID, "sso-login").click()
        wait_for(browser, lambda d: d.current_url.startswith(provider.issuer))
        browser.find_element(By.ID, "approve").click()
        wait_for(browser, lambda d: d.current_url.endswith("/worklist"))
        assert browser.find_element(By.ID, "who").text == "alice@example.com (collector)"
        assert browser.find_elements(By.CSS_SELECTOR, "form.call")
        assert provider.authorize_requests[0]["redirect_uri"] == ops.url + "/sso/callback"
    finally:
        ops.stop()
        store.close()
        provider.stop()
