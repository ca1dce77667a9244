"""OAuth: bearer checks on every call, rotating refresh tokens, the consent redirect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from qbo_sandbox_support import FakeClock

from sandboxes.quickbooks import QuickBooksSandbox


def _refresh(sandbox: QuickBooksSandbox, token: str, secret: str | None = None) -> requests.Response:
    return requests.post(
        sandbox.token_url,
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(sandbox.client_id, secret or sandbox.client_secret),
        headers={"Accept": "application/json"},
    )


def test_refresh_rotates_the_refresh_token_and_returns_intuits_fields(sandbox: QuickBooksSandbox) -> None:
    first = sandbox.issue_refresh_token()
    response = _refresh(sandbox, first)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["x_refresh_token_expires_in"] > 0
    assert body["refresh_token"] != first
    assert _refresh(sandbox, body["refresh_token"]).status_code == 200


def test_old_refresh_token_is_invalid_grant_once_the_grace_period_is_over(
    sandbox: QuickBooksSandbox, clock: FakeClock
) -> None:
    old = sandbox.issue_refresh_token()
    new = _refresh(sandbox, old).json()
    # A retry right away (the first answer got lost) gets the same new pair back.
    assert _refresh(sandbox, old).json()["refresh_token"] == new["refresh_token"]
    clock.advance(minutes=5)
    late = _refresh(sandbox, old)
    assert late.status_code == 400
    assert late.json() == {"error": "invalid_grant"}
    assert _refresh(sandbox, new["refresh_token"]).status_code == 200


def test_wrong_client_secret_is_invalid_client(sandbox: QuickBooksSandbox) -> None:
    response = _refresh(sandbox, sandbox.issue_refresh_token(), secret="nope")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_api_call_without_a_token_is_401_authentication_failed(sandbox: QuickBooksSandbox) -> None:
    response = requests.get(f"{sandbox.api_url}/query", params={"query": "select * from Customer"})
    assert response.status_code == 401
    error = response.json()["fault"]["error"][0]
    assert error["code"] == "3200"
    assert "AuthenticationFailed" in error["message"]
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_access_token_expires_after_an_hour(sandbox: QuickBooksSandbox, clock: FakeClock) -> None:
    token = _refresh(sandbox, sandbox.issue_refresh_token()).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = f"{sandbox.api_url}/companyinfo/1"
    assert requests.get(url, headers=headers).status_code == 200
    clock.advance(minutes=61)
    expired = requests.get(url, headers=headers)
    assert expired.status_code == 401
    assert expired.json()["fault"]["error"][0]["detail"].startswith("Token expired")


def test_revoked_tokens_stop_working(sandbox: QuickBooksSandbox) -> None:
    refresh = sandbox.issue_refresh_token()
    token = _refresh(sandbox, refresh).json()["access_token"]
    sandbox.revoke_tokens()
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{sandbox.api_url}/companyinfo/1", headers=headers).status_code == 401
    assert _refresh(sandbox, refresh).json() == {"error": "invalid_grant"}


def test_consent_flow_redirects_with_a_code_that_buys_tokens_once(sandbox: QuickBooksSandbox) -> None:
    redirect_uri = "http://localhost:9999/callback"
    consent = requests.get(
        sandbox.authorize_url,
        params={
            "client_id": sandbox.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "state": "xyz",
        },
        allow_redirects=False,
    )
    assert consent.status_code == 302
    location = urlsplit(consent.headers["Location"])
    params = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    assert params["state"] == ["xyz"]
    assert params["realmId"] == [sandbox.realm_id]
    form = {"grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": redirect_uri}
    auth = (sandbox.client_id, sandbox.client_secret)
    tokens = requests.post(sandbox.token_url, data=form, auth=auth)
    assert tokens.status_code == 200
    assert tokens.json()["refresh_token"]
    assert requests.post(sandbox.token_url, data=form, auth=auth).json() == {"error": "invalid_grant"}


def test_token_for_another_company_is_refused(sandbox: QuickBooksSandbox) -> None:
    headers = {"Authorization": f"Bearer {sandbox.issue_access_token()}", "Accept": "application/json"}
    response = requests.get(f"{sandbox.base_url}/v3/company/123/companyinfo/1", headers=headers)
    assert response.status_code == 403
    assert response.json()["Fault"]["type"] == "AuthorizationFault"
