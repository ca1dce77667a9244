"""TLS verification of ERP calls cannot be switched off in production; a private CA is trusted by file."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from config import ConfigError, load_config

ENV = {"QBO_SECRET": "qbo-secret-value", "NS_SECRET": "ns-secret-value"}


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "arbridge.yaml"
    path.write_text(body)
    path.chmod(0o600)
    return path


def connections(qbo_tls: str = "", ns_tls: str = "") -> str:
    return textwrap.dedent(f"""
    connections:
      - name: books
        connector: quickbooks
        settings:
          realm_id: "123"
          client_id: app
          client_secret: ${{QBO_SECRET}}
          {qbo_tls}
      - name: suite
        connector: netsuite
        settings:
          account: "1234567"
          consumer_key: ck
          consumer_secret: ${{NS_SECRET}}
          token_id: tid
          token_secret: ${{NS_SECRET}}
          {ns_tls}
    """)


def test_turning_tls_verification_off_is_refused_outside_development_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\n" + connections("verify_tls: false", "verify_tls: false"))
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV)
    text = str(info.value)
    assert "connections[0].settings.verify_tls" in text and "connections[1].settings.verify_tls" in text
    assert "dev_mode: true" in text and "ca_bundle" in text


def test_development_mode_allows_it_with_a_loud_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "version: 1\ndev_mode: true\n" + connections("verify_tls: false"))
    cfg = load_config(path, environ=ENV)
    books = cfg.connection("books").validated_settings
    assert books is not None and books.verify_tls is False  # type: ignore[attr-defined]
    assert cfg.dev_mode is True
    assert any("development mode" in w for w in cfg.warnings)
    assert any("connections[0].settings.verify_tls" in w and "NOT verified" in w for w in cfg.warnings)
    assert [r.levelno for r in caplog.records if "verify_tls" in r.getMessage()] == [logging.WARNING]


def test_ca_bundle_is_read_relative_to_the_configuration_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "corporate-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    path = write(tmp_path, "version: 1\n" + connections("ca_bundle: certs/corporate-ca.pem"))
    books = load_config(path, environ=ENV).connection("books").validated_settings
    assert books is not None
    assert books.ca_bundle == str(tmp_path / "certs" / "corporate-ca.pem")  # type: ignore[attr-defined]

    missing = write(tmp_path, "version: 1\n" + connections("", "ca_bundle: /nowhere/ca.pem"))
    with pytest.raises(ConfigError) as info:
        load_config(missing, environ=ENV)
    assert "connections[1].settings.ca_bundle" in str(info.value)
    assert "/nowhere/ca.pem" in str(info.value)
