"""Small stand-in connectors, so configuration tests do not depend on the real ones."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator

from connectors.base import Capabilities, CheckResult, Connector, ConnectorSettings, Cursor, Page
from connectors.registry import BrokenConnector, Registry
from mapping.models import Stream


class _Reads(Connector):
    def check(self) -> CheckResult:
        return CheckResult(ok=True, message="fake")

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        return iter(())


class QuickBooksSettings(ConnectorSettings):
    base_url: str = "https://quickbooks.api.intuit.com"
    realm_id: str
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr | None = None
    collection_status_field_id: Literal["1", "2", "3"] | None = None


class FakeQuickBooks(_Reads):
    name = "quickbooks"
    capabilities = Capabilities(
        streams=frozenset({Stream.CUSTOMERS, Stream.INVOICES, Stream.CREDIT_MEMOS, Stream.PAYMENTS})
    )
    settings_model = QuickBooksSettings


class NetSuiteSettings(ConnectorSettings):
    account: str  # as connectors.netsuite names it
    consumer_key: SecretStr
    consumer_secret: SecretStr
    token_id: SecretStr
    token_secret: SecretStr


class FakeNetSuite(_Reads):
    name = "netsuite"
    capabilities = Capabilities(streams=frozenset({Stream.CUSTOMERS, Stream.INVOICES}))
    settings_model = NetSuiteSettings


class ChattySettings(ConnectorSettings):
    """Settings whose validator quotes its input, as careless third-party code might."""

    api_key: SecretStr
    region: str = "eu"

    @field_validator("api_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 40:
            raise ValueError(f"api key {value.get_secret_value()!r} is too short")
        return value


class FakeChatty(_Reads):
    name = "chatty"
    capabilities = Capabilities(streams=frozenset({Stream.INVOICES}))
    settings_model = ChattySettings


def registry() -> Registry:
    """The connectors the example configuration uses, plus one with a careless validator."""
    return Registry(connectors={"quickbooks": FakeQuickBooks, "netsuite": FakeNetSuite, "chatty": FakeChatty})


def registry_with_broken(name: str) -> Registry:
    reg = registry()
    error = "ModuleNotFoundError: No module named 'zeep'"
    reg.broken[name] = BrokenConnector(name, f"acme_{name}:Connector", error)
    return reg


QBO_ENV = {
    "QBO_CLIENT_ID": "ABcd1234client",
    "QBO_CLIENT_SECRET": "qbo-secret-value",
    "QBO_REFRESH_TOKEN": "qbo-refresh-value",
}


def write_config(directory: Path, text: str, *, name: str = "arbridge.yaml", mode: int = 0o600) -> Path:
    """Write a configuration file (dedented) with the given permissions."""
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    path.chmod(mode)
    return path


QBO_CONNECTION = """
version: 1
connections:
  - name: acme-qbo
    connector: quickbooks
    settings:
      realm_id: "9130350000000000"
      client_id: "${QBO_CLIENT_ID}"
      client_secret: "${QBO_CLIENT_SECRET}"
      refresh_token: "${QBO_REFRESH_TOKEN}"
"""
