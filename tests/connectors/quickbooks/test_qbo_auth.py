"""OAuth: rotating refresh tokens are stored before use; a dead grant stops without a retry loop."""

from __future__ import annotations

import json
import logging

import pytest
import responses
from click.testing import CliRunner
from qbo_fakes import REALM, FakeQbo, RecordingStore, json_answer, make_connector

from connectors.base import MemoryKeyValueStore
from connectors.errors import AuthError
from connectors.quickbooks.auth import REAUTH_KEY, TOKENS_KEY, TokenManager, consent_url, parse_redirect
from connectors.quickbooks.cli import auth_command
from mapping.models import Stream


def _company_info(_sent: object) -> tuple[int, dict[str, str], str]:
    return json_answer(
        {"QueryResponse": {"CompanyInfo": [{"CompanyName": "Sandbox Company_US_1", "Id": "1"}]}}
    )


def test_rotated_refresh_token_is_persisted_before_it_is_used() -> None:
    events: list[str] = []
    state = RecordingStore(events)
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps, events=events)
        fake.install()
        fake.token_answers = [
            (200, {"access_token": "at-A", "refresh_token": "rt-rotated-1", "expires_in": 3600}),
            (200, {"access_token": "at-B", "refresh_token": "rt-rotated-2", "expires_in": 3600}),
        ]
        fake.handlers["query"] = _company_info
        conn = make_connector(fake, state=state)
        assert conn.check().ok

        # The new refresh token reached the store before the first API call used its access token.
        put_at = events.index(f"put {TOKENS_KEY}", events.index("token refresh_token"))
        api_at = next(i for i, e in enumerate(events) if e.startswith("api query"))
        assert put_at < api_at
        assert events[api_at].endswith("Bearer at-A")
        assert json.loads(state.get(TOKENS_KEY) or "{}")["refresh_token"] == "rt-rotated-1"

        # The next refresh uses the rotated token, not the bootstrap one from the settings.
        conn.tokens.access_token(force_refresh=True)
        assert fake.token_forms[0]["refresh_token"] == "rt-bootstrap"
        assert fake.token_forms[1]["refresh_token"] == "rt-rotated-1"
        assert json.loads(state.get(TOKENS_KEY) or "{}")["refresh_token"] == "rt-rotated-2"

        # A restarted connector with the same (stale) settings token keeps the stored one.
        again = make_connector(fake, state=state)
        assert json.loads(state.get(TOKENS_KEY) or "{}")["refresh_token"] == "rt-rotated-2"
        assert again.tokens.access_token() == "at-B"


def test_revoked_refresh_token_needs_reauth_without_retry_loop(caplog: pytest.LogCaptureFixture) -> None:
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.token_answers = [(400, {"error": "invalid_grant"})]
        conn = make_connector(fake)
        with caplog.at_level(logging.WARNING), pytest.raises(AuthError) as first:
            list(conn.read(Stream.INVOICES, None))
        for _ in range(5):
            with pytest.raises(AuthError):
                list(conn.read(Stream.INVOICES, None))
        assert "re-authorization" in first.value.message
        assert len(fake.token_forms) == 1, "the dead grant must not be retried"
        assert fake.api_calls() == []
        assert conn.context.state.get(REAUTH_KEY)
        said = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(said) == 1 and "arbridge auth quickbooks" in said[0].getMessage()
        check = conn.check()
        assert not check.ok and "re-authoriz" in check.message


def test_token_rotated_by_a_sibling_process_is_picked_up_instead_of_reauth() -> None:
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        state = MemoryKeyValueStore()
        tokens = TokenManager(
            state,
            client_id="c",
            client_secret="s",
            token_url=fake_token_url(),
            bootstrap_refresh_token="rt-old",
        )
        # Another worker rotates the token between our read and our refresh.
        original_load = tokens._load
        calls = {"n": 0}

        def load() -> dict[str, str]:
            calls["n"] += 1
            if calls["n"] == 2:
                state.put(TOKENS_KEY, json.dumps({"refresh_token": "rt-sibling"}))
            return original_load()

        tokens._load = load  # type: ignore[method-assign]
        fake.token_answers = [(400, {"error": "invalid_grant"})]
        assert tokens.access_token() == "at-1"
        assert [f["refresh_token"] for f in fake.token_forms] == ["rt-old", "rt-sibling"]
        assert tokens.needs_reauth is None


def fake_token_url() -> str:
    from qbo_fakes import TOKEN_URL

    return TOKEN_URL


def test_secrets_never_appear_in_reprs_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    sentinel = "SENTINEL-SECRET-7f3a"
    with responses.RequestsMock() as rsps, caplog.at_level(logging.DEBUG):
        fake = FakeQbo(rsps)
        fake.install()
        fake.token_answers = [(400, {"error": "invalid_grant", "error_description": sentinel})]
        conn = make_connector(fake, client_secret=sentinel, refresh_token=sentinel, verifier_token=sentinel)
        with pytest.raises(AuthError) as err:
            conn.tokens.access_token()
        texts = [
            repr(conn),
            repr(conn.settings),
            repr(conn.tokens),
            repr(conn.client),
            str(err.value),
            caplog.text,
        ]
        assert all(sentinel not in t for t in texts)


def test_consent_url_asks_for_the_accounting_scope_and_redirect_parsing_keeps_the_realm() -> None:
    url = consent_url("cid", "https://localhost/cb", "xyz")
    assert "scope=com.intuit.quickbooks.accounting" in url and "state=xyz" in url
    got = parse_redirect(f"https://localhost/cb?code=AB11&state=xyz&realmId={REALM}")
    assert (got.code, got.state, got.realm_id) == ("AB11", "xyz", REALM)
    assert parse_redirect("AB11").code == "AB11"
    with pytest.raises(AuthError):
        parse_redirect("https://localhost/cb?error=access_denied&state=xyz")


def test_auth_command_exchanges_the_pasted_code_and_stores_tokens_without_printing_them() -> None:
    state = MemoryKeyValueStore({REAUTH_KEY: "the refresh token was rejected"})
    settings = {
        "client_id": "cid",
        "client_secret": "csecret",
        "redirect_uri": "https://localhost/cb",
        "realm_id": REALM,
        "token_url": fake_token_url(),
    }
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.token_answers = [
            (200, {"access_token": "at-X", "refresh_token": "rt-from-code", "expires_in": 3600})
        ]
        result = CliRunner().invoke(
            auth_command,
            ["--connection", "books", "--redirect-url", f"https://localhost/cb?code=C0DE&realmId={REALM}"],
            obj={"state_for": lambda name: state, "settings_for": lambda name: settings},
        )
    assert result.exit_code == 0, result.output
    assert fake.token_forms[0]["grant_type"] == "authorization_code"
    assert fake.token_forms[0]["code"] == "C0DE"
    assert json.loads(state.get(TOKENS_KEY) or "{}")["refresh_token"] == "rt-from-code"
    assert not state.get(REAUTH_KEY)
    assert "rt-from-code" not in result.output and "at-X" not in result.output


def test_auth_command_adopts_an_existing_refresh_token_by_rotating_it() -> None:
    state = MemoryKeyValueStore()
    settings = {"client_id": "cid", "client_secret": "csecret", "token_url": fake_token_url()}
    with responses.RequestsMock() as rsps:
        fake = FakeQbo(rsps)
        fake.install()
        fake.token_answers = [(200, {"access_token": "at-Y", "refresh_token": "rt-new", "expires_in": 3600})]
        result = CliRunner().invoke(
            auth_command,
            ["--connection", "books", "--refresh-token"],
            obj={"state_for": lambda name: state, "settings_for": lambda name: settings},
            env={"ARBRIDGE_QBO_REFRESH_TOKEN": "rt-playground"},
        )
    assert result.exit_code == 0, result.output
    assert fake.token_forms[0]["refresh_token"] == "rt-playground"
    assert json.loads(state.get(TOKENS_KEY) or "{}")["refresh_token"] == "rt-new"
