"""Loading a deployment file: defaults, relative paths, connections and the embedded demo config."""

from __future__ import annotations

import pickle
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from config import ConfigError, DeploymentConfig, default_config, load_config
from config.model import BUILTIN_POLICY
from mapping.models import Stream
from tests.config.fakes import QBO_CONNECTION, QBO_ENV, QuickBooksSettings, registry, write_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


def test_minimal_file_gets_documented_defaults(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, "version: 1\n"), registry=registry(), environ={})

    assert cfg.store.sqlite_path == tmp_path / "arbridge-state" / "arbridge.sqlite"
    assert (cfg.logging.level, cfg.logging.format) == ("INFO", "auto")
    assert (cfg.server.host, cfg.server.port, cfg.server.token) == ("127.0.0.1", 8765, None)
    assert cfg.server.max_body_bytes == 1_048_576
    assert cfg.defaults.schedule.interval == timedelta(minutes=15)
    assert cfg.connections == []
    assert not cfg.rules.dunning.enabled and not cfg.rules.cashapp.enabled
    assert (cfg.rules.cashapp.auto_threshold, cfg.rules.cashapp.review_threshold) == (0.90, 0.60)
    assert cfg.source == tmp_path / "arbridge.yaml"
    assert cfg.warnings == []


def test_example_config_loads(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "qbo-client-secret").write_text("from-systemd\n")
    (creds / "smtp-password").write_text("smtp-secret\n")
    (creds / "qbo-refresh-token").write_text("refresh\n")
    environ = {
        "ARBRIDGE_ADMIN_TOKEN": "t" * 32,
        "QBO_CLIENT_ID": "client",
        "NETSUITE_CONSUMER_KEY": "ck",
        "NETSUITE_CONSUMER_SECRET": "cs",
        "NETSUITE_TOKEN_ID": "ti",
        "NETSUITE_TOKEN_SECRET": "ts",
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    cfg = load_config(EXAMPLE, registry=registry(), environ=environ)

    qbo, netsuite = cfg.connections
    assert qbo.name == "acme-qbo" and qbo.enabled and qbo.write_back.enabled and qbo.write_back.dry_run
    assert isinstance(qbo.validated_settings, QuickBooksSettings)
    assert qbo.validated_settings.client_secret.get_secret_value() == "from-systemd"
    assert qbo.validated_settings.refresh_token is not None
    assert qbo.validated_settings.refresh_token.get_secret_value() == "refresh"
    assert qbo.validated_settings.collection_status_field_id == "1"
    assert qbo.schedule is not None and qbo.schedule.interval == timedelta(minutes=5)
    assert not netsuite.enabled and netsuite.schedule is not None and netsuite.schedule.cron == "0 */2 * * *"
    assert cfg.server.token is not None and cfg.server.token.get_secret_value() == "t" * 32
    assert cfg.rules.dunning.policy == EXAMPLE.parent / "dunning-policy.example.yaml"
    email = cfg.rules.dunning.channels.email
    assert email is not None and email.password is not None
    assert email.password.get_secret_value() == "smtp-secret"
    assert cfg.rules.dunning.channels.configured == ["email", "letter", "call"]
    assert cfg.warnings == []


def test_relative_paths_resolve_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = tmp_path / "etc" / "arbridge"
    etc.mkdir(parents=True)
    (etc / "policies").mkdir()
    (etc / "policies" / "dunning.yaml").write_text(BUILTIN_POLICY.read_text())
    path = write_config(
        etc,
        """
        version: 1
        store: {url: "sqlite:///state/arbridge.sqlite?timeout=30"}
        rules:
          dunning: {enabled: true, policy: policies/dunning.yaml}
          cashapp: {rules: ../cashapp.yaml}
        """,
    )
    monkeypatch.chdir(tmp_path)  # somewhere else entirely

    cfg = load_config(path, registry=registry(), environ={})

    assert cfg.store.url == f"sqlite:///{etc}/state/arbridge.sqlite?timeout=30"
    assert cfg.store.sqlite_path == etc / "state" / "arbridge.sqlite"
    assert cfg.rules.dunning.policy == etc / "policies" / "dunning.yaml"
    assert cfg.rules.cashapp.rules == tmp_path / "etc" / "cashapp.yaml"


def test_postgresql_store_url_is_kept_as_written(tmp_path: Path) -> None:
    path = write_config(tmp_path, "version: 1\nstore: {url: 'postgresql+psycopg://arbridge@db.internal/ar'}\n")
    cfg = load_config(path, registry=registry(), environ={})
    assert cfg.store.url == "postgresql+psycopg://arbridge@db.internal/ar"
    assert not cfg.store.is_sqlite and cfg.store.sqlite_path is None


def test_enabled_dunning_with_a_missing_policy_file_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, "version: 1\nrules:\n  dunning: {enabled: true, policy: nope.yaml}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry=registry(), environ={})
    assert caught.value.errors == [
        ("rules.dunning.policy", f"expected an existing file: {tmp_path / 'nope.yaml'} was not found")
    ]


def test_connection_inherits_the_default_schedule(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace("version: 1", "version: 1\ndefaults:\n  schedule: {interval: 2h}")
    cfg = load_config(write_config(tmp_path, text), registry=registry(), environ=QBO_ENV)
    conn = cfg.connection("acme-qbo")
    assert conn.schedule is not None and conn.schedule.interval == timedelta(hours=2)
    assert cfg.schedule_for(conn).describe() == "every 2h"


def test_streams_default_to_everything_the_connector_reads(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, QBO_CONNECTION), registry=registry(), environ=QBO_ENV)
    assert cfg.connections[0].streams == list(Stream)  # in canonical order


def test_stream_the_connector_does_not_read_is_refused(tmp_path: Path) -> None:
    text = """
    version: 1
    connections:
      - name: globex
        connector: netsuite
        streams: [invoices, payments]
        settings: {account: "1", consumer_key: "${K}", consumer_secret: "${K}", token_id: "${K}",
                   token_secret: "${K}"}
    """
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), registry=registry(), environ={"K": "k"})
    assert caught.value.errors == [
        (
            "connections[0].streams",
            "expected streams connector 'netsuite' reads (customers, invoices); it does not read payments",
        )
    ]


def test_connection_names_must_be_unique(tmp_path: Path) -> None:
    text = QBO_CONNECTION + QBO_CONNECTION.split("connections:\n", 1)[1]
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), registry=registry(), environ=QBO_ENV)
    assert caught.value.errors == [
        (
            "connections",
            "expected unique connection names: 'acme-qbo' is used by connections[0] and connections[1]",
        )
    ]


def test_connection_settings_are_kept_as_written_with_references(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, QBO_CONNECTION), registry=registry(), environ=QBO_ENV)
    conn = cfg.connections[0]
    assert conn.settings["client_secret"] == "${QBO_CLIENT_SECRET}"
    assert conn.validated_settings is not None
    assert isinstance(conn.validated_settings.client_secret, SecretStr)  # type: ignore[attr-defined]


def test_looking_up_an_unknown_connection_lists_the_configured_ones(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, QBO_CONNECTION), registry=registry(), environ=QBO_ENV)
    with pytest.raises(KeyError, match=r"no connection named 'acme' \(configured: acme-qbo\)"):
        cfg.connection("acme")


def test_server_bound_beyond_localhost_needs_a_token(tmp_path: Path) -> None:
    path = write_config(tmp_path, "version: 1\nserver: {bind: '0.0.0.0:8765'}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry=registry(), environ={})
    [(key, expected)] = caught.value.errors
    assert key == "server" and "expected 'token'" in expected and "0.0.0.0" in expected

    ok = write_config(tmp_path, "version: 1\nserver: {bind: '[::1]:9000'}\n", name="ipv6.yaml")
    assert load_config(ok, registry=registry(), environ={}).server.port == 9000


def test_mapping_override_naming_an_unknown_canonical_field_is_refused(tmp_path: Path) -> None:
    text = QBO_CONNECTION + "    mapping: {streams: {invoices: {fields: {po_nmber: PONumber}}}}\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), registry=registry(), environ=QBO_ENV)
    assert caught.value.errors == [
        (
            "connections[0].mapping.streams.invoices.fields.po_nmber",
            "not a field of the canonical invoices record",
        )
    ]


def test_default_config_puts_everything_under_the_state_dir(tmp_path: Path) -> None:
    cfg = default_config(tmp_path / "demo")
    assert isinstance(cfg, DeploymentConfig)
    assert cfg.store.sqlite_path == tmp_path / "demo" / "arbridge.sqlite"
    assert cfg.logging.format == "text"
    assert cfg.connections == [] and cfg.source is None


def test_default_config_takes_sandbox_connections_with_plain_credentials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = {
        "name": "demo-qbo",
        "connector": "quickbooks",
        "settings": {"base_url": "http://127.0.0.1:9101", "realm_id": "1", "client_id": "c",
                     "client_secret": "s", "refresh_token": "r"},
        "write_back": {"enabled": True},
    }
    cfg = default_config(tmp_path, overrides={"connections": [conn], "rules": {"cashapp": {"enabled": True}}},
                         registry=registry())
    assert cfg.connections[0].write_back.enabled and cfg.rules.cashapp.enabled
    assert cfg.rules.cashapp.auto_threshold == 0.90  # deep-merged, not replaced
    assert cfg.connections[0].validated_settings is not None
    assert not caplog.records  # sandbox credentials are not worth a warning in a demo


def test_config_error_survives_pickling() -> None:
    error = ConfigError([("store.url", "expected a SQLite URL")], source="/a.yaml", lines={"store.url": 3})
    copy = pickle.loads(pickle.dumps(error))
    assert copy.errors == error.errors and str(copy) == str(error)
    assert "store.url (line 3): expected a SQLite URL" in str(copy)
