"""Helpers for the QuickBooks sandbox tests: a hand-moved clock and a thin API client.

Uniquely named (not ``conftest``) so test modules can import it whatever else is on ``sys.path``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from sandboxes.quickbooks import QuickBooksSandbox


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 14, 17, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Api:
    """A thin client for the sandbox's API with a valid bearer token."""

    def __init__(self, sandbox: QuickBooksSandbox) -> None:
        self.sandbox = sandbox
        self.http = requests.Session()
        self.http.headers.update(
            {"Authorization": f"Bearer {sandbox.issue_access_token()}", "Accept": "application/json"}
        )

    def url(self, path: str) -> str:
        return f"{self.sandbox.api_url}/{path.lstrip('/')}"

    def query(self, text: str) -> requests.Response:
        return self.http.get(self.url("query"), params={"query": text, "minorversion": "75"})

    def rows(self, text: str, entity: str) -> list[dict[str, Any]]:
        response = self.query(text)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["QueryResponse"].get(entity, [])
        return rows

    def post(self, entity: str, body: Any, **params: str) -> requests.Response:
        return self.http.post(self.url(entity.lower()), json=body, params={"minorversion": "75", **params})

    def get(self, entity: str, ident: str) -> dict[str, Any]:
        response = self.http.get(self.url(f"{entity.lower()}/{ident}"))
        assert response.status_code == 200, response.text
        record: dict[str, Any] = response.json()[entity]
        return record


def fault_of(response: requests.Response) -> dict[str, Any]:
    """The first Error of a JSON Fault body."""
    body = response.json()
    assert "Fault" in body, body
    error: dict[str, Any] = body["Fault"]["Error"][0]
    error["type"] = body["Fault"]["type"]
    return error
