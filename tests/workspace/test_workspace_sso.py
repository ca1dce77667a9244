"""Single sign-on to the workspace with an OpenID Connect provider (a real one on the loopback)."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from service.http import create_app
from store import StateStore
from store.users import Users
from tests.workspace.oidc_provider import CLIENT_ID, CLIENT_SECRET, FORGERIES, Provider
from tests.workspace.seed import PASSWORD, Seeded, seed
from tests.workspace.test_workspace_pages import token

ROLES = {"ar-admins": "admin", "ar-clerks": "clerk", "ar-collectors": "collector", "ar-readers": "viewer"}


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider().start()
    yield p
    p.stop()


def sso_settings(tmp_path: Path, provider: Provider, **more: Any) -> dict[str, Any]:
    secret = tmp_path / "sso-client-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    secret.chmod(0o600)
    return {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": f"${{file:{secret}}}",
        "roles_claim": "groups",
        "roles": ROLES,
        **more,
    }


@pytest.fixture
def seeded(tmp_path: Path, provider: Provider) -> Seeded:
    return seed(tmp_path, sso=sso_settings(tmp_path, provider))


@pytest.fixture
def store(seeded: Seeded) -> Iterator[StateStore]:
    s = seeded.store()
    yield s
    s.close()


@pytest.fixture
def client(seeded: Seeded, store: StateStore) -> FlaskClient:
    return create_app(seeded.server(store)).test_client()


def sso_log_in(client: FlaskClient, next_page: str = "") -> Any:
    """The browser's round trip: to the provider, back to the callback, on to the return page."""
    start = client.get("/sso/login" + (f"?next={next_page}" if next_page else ""))
    assert start.status_code == 302
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/sso/callback"
    bounce = client.get(f"{back.path}?{back.query}")
    found = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', bounce.get_data(as_text=True))
    assert found, "the callback sends the browser on from this site"
    return client.get(html.unescape(found.group(1)))


def test_a_user_in_the_collectors_group_logs_in_and_gets_the_collectors_pages(
    client: FlaskClient, provider: Provider, store: StateStore
) -> None:
    provider.user = {"preferred_username": "alice@example.com", "groups": ["staff", "ar-collectors"]}
    login_page = client.get("/login?next=/worklist").get_data(as_text=True)
    assert "Log in with single sign-on" in login_page and 'id="password"' in login_page

    answer = sso_log_in(client, "/worklist")
    assert answer.status_code == 302 and answer.headers["Location"] == "/worklist"
    assert "SameSite=Strict" in answer.headers["Set-Cookie"]
    worklist = client.get("/worklist")
    assert "alice@example.com (collector)" in worklist.get_data(as_text=True)
    assert b"Log</button>" in worklist.data

    # The same CSRF rule and audit trail as a password user's: the call is logged in alice's name.
    assert client.post("/worklist/shop/C1/call", data={"outcome": "reached"}).status_code == 400
    logged = client.post(
        "/worklist/shop/C1/call", data={"csrf_token": token(worklist.data), "outcome": "reached"}
    )
    assert logged.status_code == 302
    call = next(e for e in store.audit_entries("shop", limit=20) if e["event"] == "dunning_call")
    assert json.loads(call["detail"])["by"] == "alice@example.com"
    login = next(e for e in store.audit_entries(limit=20) if e["event"] == "workspace_login")
    assert login["subject"] == "user/alice@example.com"
    assert json.loads(login["detail"])["via"] == "sso"
    assert store.verify_audit() == []

    # A collector may not accept a cash-application proposal, whoever logged them in.
    review = client.get("/review")
    refused = client.post("/review/shop/PMT-1/accept", data={"csrf_token": token(review.data)})
    assert refused.status_code == 403 and b"a collector may not do this" in refused.data

    # The flow was the authorization code flow with PKCE, state and nonce.
    [asked] = provider.authorize_requests
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["state"] and asked["nonce"] and "openid" in asked["scope"].split()
    assert provider.token_requests[0]["code_verifier"]


# What the audit log says refused each forged ID token.
REFUSED_FOR = {
    "bad_signature": "BadSignatureError",
    "wrong_audience": "Invalid claim: 'aud'",
    "wrong_nonce": "Invalid claim: 'nonce'",
    "expired": "The token is expired",
    "wrong_issuer": "Invalid claim: 'iss'",
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_an_id_token_that_fails_a_check_is_refused(
    client: FlaskClient, provider: Provider, store: StateStore, forgery: str
) -> None:
    provider.user = {"preferred_username": "mallory@example.com", "groups": ["ar-admins"]}
    provider.forge = forgery
    answer = sso_log_in(client)
    assert answer.status_code == 401
    assert "Single sign-on failed" in answer.get_data(as_text=True)
    assert client.get("/overview").status_code == 302  # still to the login page
    entry = store.audit_entries(limit=1)[0]
    assert entry["event"] == "workspace_login_failed" and json.loads(entry["detail"])["via"] == "sso"
    assert REFUSED_FOR[forgery] in json.loads(entry["detail"])["why"]


def test_a_replayed_callback_is_refused(client: FlaskClient, provider: Provider) -> None:
    provider.user = {"preferred_username": "alice@example.com", "groups": ["ar-readers"]}
    start = client.get("/sso/login")
    back = urlsplit(
        requests.get(start.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
    )
    assert client.get(f"/sso/return?{back.query}").status_code == 302
    client.post("/logout", data={"csrf_token": token(client.get("/overview").data)})
    # The state was used up with the first return: the same answer again logs no one in.
    assert client.get(f"/sso/return?{back.query}").status_code == 401
    assert client.get("/overview").status_code == 302


def test_a_user_without_a_mapped_group_is_told_they_have_no_access(
    client: FlaskClient, provider: Provider, store: StateStore
) -> None:
    provider.user = {"preferred_username": "bob@example.com", "groups": ["marketing"]}
    answer = sso_log_in(client)
    assert answer.status_code == 403
    text = answer.get_data(as_text=True)
    assert "You are signed in as bob@example.com, but none of your groups or roles gives access" in text
    assert client.get("/overview").status_code == 302
    entry = store.audit_entries(limit=1)[0]
    assert entry["event"] == "workspace_login_refused" and entry["subject"] == "user/bob@example.com"


def test_the_client_secret_never_reaches_the_logs_or_a_dump_of_the_configuration(
    client: FlaskClient,
    provider: Provider,
    seeded: Seeded,
    store: StateStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider.user = {"preferred_username": "alice@example.com", "groups": ["ar-clerks"]}
    with caplog.at_level(logging.DEBUG):
        assert sso_log_in(client).status_code == 302
        provider.forge = "bad_signature"
        assert sso_log_in(client).status_code == 401
    # The secret did go to the provider's token endpoint, and only there.
    sent = provider.token_requests[0]["authorization"].removeprefix("Basic ")
    assert base64.b64decode(sent).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"
    assert caplog.records and CLIENT_SECRET not in caplog.text
    assert all(CLIENT_SECRET not in json.dumps(e) for e in store.audit_entries(limit=100))
    config = seeded.config()
    assert config.server.sso.client_secret.get_secret_value() == CLIENT_SECRET
    for dump in (repr(config), str(config.server), config.model_dump_json(), str(config.model_dump())):
        assert CLIENT_SECRET not in dump


def test_with_password_login_turned_off_only_single_sign_on_opens_the_workspace(
    tmp_path: Path, provider: Provider
) -> None:
    seeded = seed(tmp_path, sso=sso_settings(tmp_path, provider, password_login=False))
    store = seeded.store()
    try:
        client = create_app(seeded.server(store)).test_client()
        assert 'id="password"' not in client.get("/login").get_data(as_text=True)
        # A session begun with a password before it was turned off ends too.
        admin = Users(store).get("admin")
        assert admin is not None
        with client.session_transaction() as session:
            session.update(user="admin", password_set_at=admin.password_set_at.isoformat())
        assert client.get("/overview").status_code == 302
        with client.session_transaction() as session:
            session["csrf"] = "a form from before"
        refused = client.post(
            "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "a form from before"}
        )
        assert refused.status_code == 403 and b"Logging in with a password is turned off" in refused.data
        assert client.get("/overview").status_code == 302
        provider.user = {"preferred_username": "carol@example.com", "groups": ["ar-readers", "ar-admins"]}
        assert sso_log_in(client).status_code == 302
        # Several groups map to roles: the first listed in server.sso.roles wins.
        assert "carol@example.com (admin)" in client.get("/overview").get_data(as_text=True)
    finally:
        store.close()


def test_the_provider_being_down_is_said_on_the_login_page(client: FlaskClient, provider: Provider) -> None:
    provider.stop()
    answer = client.get("/sso/login")
    assert answer.status_code == 503
    assert "The single sign-on provider cannot be reached just now" in answer.get_data(as_text=True)


def test_keycloaks_realm_roles_are_read_by_their_dotted_path() -> None:
    from types import SimpleNamespace

    from service.workspace.auth import role_for
    from service.workspace.sso import granting_values

    sso = SimpleNamespace(
        roles_claim="realm_access.roles", roles={"ar-clerk": "clerk", "ar-viewer": "viewer"}
    )
    claims = {"realm_access": {"roles": ["offline_access", "ar-viewer", "ar-clerk"]}}
    assert granting_values(claims, sso) == ["ar-clerk", "ar-viewer"]
    assert role_for(granting_values(claims, sso), sso.roles) == "clerk"
    assert granting_values({"groups": ["ar-clerk"]}, sso) == []


def test_a_plain_http_issuer_or_a_secret_written_into_the_file_is_refused(tmp_path: Path) -> None:
    from config import ConfigError, load_config

    def problems(sso: dict[str, Any]) -> dict[str, str]:
        path = tmp_path / "arbridge.yaml"
        path.write_text(json.dumps({"version": 1, "server": {"sso": sso}}))
        path.chmod(0o600)
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert CLIENT_SECRET not in str(caught.value)
        return dict(caught.value.errors)

    base = {"issuer": "https://sso.example.com/realms/ar", "client_id": CLIENT_ID, "roles": {"ar": "viewer"}}
    refused = problems({**base, "issuer": "http://sso.example.com/realms/ar", "client_secret": "${X_UNSET}"})
    assert "https://" in refused["server.sso.issuer"]
    assert "server.sso.client_secret" in problems({**base, "client_secret": CLIENT_SECRET})
    assert "server.sso.roles.ar" in problems({**base, "client_secret": "${file:x}", "roles": {"ar": "boss"}})


def test_a_sign_in_cancelled_at_the_provider_is_said_as_the_provider_put_it(
    client: FlaskClient, store: StateStore
) -> None:
    client.get("/sso/login")
    answer = client.get("/sso/return?error=access_denied&error_description=The+user+cancelled&state=x")
    assert answer.status_code == 401
    assert "The single sign-on provider did not sign you in: The user cancelled" in answer.get_data(
        as_text=True
    )
    assert (
        json.loads(store.audit_entries(limit=1)[0]["detail"])["why"] == "the provider answered access_denied"
    )
