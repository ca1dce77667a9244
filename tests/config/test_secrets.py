"""Secrets come by reference only, and once resolved they never show."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from config import ConfigError, load_config
from tests.config.fakes import QBO_CONNECTION, QBO_ENV, write_config
from tests.config.fakes import registry as fake_registry

SENTINEL = "sentinel-7f3a9c1e-do-not-print"


def _load(path: Path, environ: dict[str, str]) -> object:
    return load_config(path, registry=fake_registry(), environ=environ)


def test_env_reference_resolves_to_a_secret_that_never_prints(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    environ = {**QBO_ENV, "QBO_CLIENT_SECRET": SENTINEL, "ARBRIDGE_ADMIN_TOKEN": SENTINEL + "-admin"}
    text = QBO_CONNECTION + 'server: {token: "${ARBRIDGE_ADMIN_TOKEN}"}\n'
    cfg = load_config(write_config(tmp_path, text), registry=fake_registry(), environ=environ)
    conn = cfg.connections[0]
    settings = conn.validated_settings
    assert settings is not None

    assert settings.client_secret.get_secret_value() == SENTINEL  # type: ignore[attr-defined]
    assert cfg.server.token is not None and cfg.server.token.get_secret_value() == SENTINEL + "-admin"
    shown = [repr(cfg), str(cfg), repr(conn), repr(settings), str(settings), cfg.model_dump_json(),
             str(cfg.model_dump()), conn.model_dump_json(), caplog.text]
    for text_shown in shown:
        assert SENTINEL not in text_shown
    assert "${QBO_CLIENT_SECRET}" in conn.model_dump_json()  # the reference, not the secret


def test_secret_never_appears_in_errors_even_when_a_connector_validator_quotes_it(tmp_path: Path) -> None:
    text = """
    version: 1
    connections:
      - name: chatty
        connector: chatty
        settings: {api_key: "${CHATTY_KEY}", region: 7}
    """
    with pytest.raises(ConfigError) as caught:
        _load(write_config(tmp_path, text), {"CHATTY_KEY": SENTINEL})
    error = caught.value
    keys = [key for key, _ in error.errors]
    assert keys == ["connections[0].settings.api_key", "connections[0].settings.region"]
    assert "is too short" in str(error)
    assert SENTINEL not in str(error) and SENTINEL not in repr(error.errors)
    assert error.__cause__ is None and error.__suppress_context__  # no ValidationError with inputs attached


def test_file_reference_reads_the_file_without_its_trailing_newline(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "client-secret").write_text("  spaced secret  \n")
    (secrets / "refresh").write_text("refresh-token\r\n")
    text = QBO_CONNECTION.replace("${QBO_CLIENT_SECRET}", f"${{file:{secrets / 'client-secret'}}}").replace(
        "${QBO_REFRESH_TOKEN}", "${file:secrets/refresh}"  # relative to the configuration file
    )
    cfg = load_config(write_config(tmp_path, text), registry=fake_registry(), environ=QBO_ENV)
    settings = cfg.connections[0].validated_settings
    assert settings.client_secret.get_secret_value() == "  spaced secret  "  # type: ignore[union-attr]
    assert settings.refresh_token.get_secret_value() == "refresh-token"  # type: ignore[union-attr]


def test_credential_directory_reference_reads_systemd_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "run-credentials-arbridge.service"
    creds.mkdir()
    (creds / "qbo-client-secret").write_text("from-load-credential\n")
    text = QBO_CONNECTION.replace("${QBO_CLIENT_SECRET}", "${credential:qbo-client-secret}")
    environ = {**QBO_ENV, "CREDENTIALS_DIRECTORY": str(creds)}
    cfg = load_config(write_config(tmp_path, text), registry=fake_registry(), environ=environ)
    settings = cfg.connections[0].validated_settings
    assert settings.client_secret.get_secret_value() == "from-load-credential"  # type: ignore[union-attr]


def test_credential_reference_outside_systemd_explains_load_credential(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace("${QBO_CLIENT_SECRET}", "${credential:qbo-client-secret}")
    with pytest.raises(ConfigError) as caught:
        _load(write_config(tmp_path, text), QBO_ENV)
    [(key, expected)] = caught.value.errors
    assert key == "connections[0].settings.client_secret"
    assert "CREDENTIALS_DIRECTORY" in expected and "LoadCredential=qbo-client-secret:" in expected


def test_credential_name_cannot_escape_the_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("not a credential")
    creds = tmp_path / "creds"
    creds.mkdir()
    text = QBO_CONNECTION.replace("${QBO_CLIENT_SECRET}", "${credential:../outside}")
    with pytest.raises(ConfigError) as caught:
        _load(write_config(tmp_path, text), {**QBO_ENV, "CREDENTIALS_DIRECTORY": str(creds)})
    assert caught.value.errors[0][0] == "connections[0].settings.client_secret"
    assert caught.value.errors[0][1].startswith("expected a credential name")


def test_unresolvable_references_name_the_key_path_and_what_is_missing(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace("${QBO_REFRESH_TOKEN}", "${file:missing-token}")
    with pytest.raises(ConfigError) as caught:
        _load(write_config(tmp_path, text), {"QBO_CLIENT_ID": "c"})
    assert caught.value.errors == [
        ("connections[0].settings.client_secret", "environment variable QBO_CLIENT_SECRET is not set"),
        ("connections[0].settings.refresh_token", f"file {tmp_path / 'missing-token'} does not exist"),
    ]


def test_secret_literal_in_a_secret_field_is_refused(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace('"${QBO_CLIENT_SECRET}"', "hunter2-client-secret")
    with pytest.raises(ConfigError) as caught:
        _load(write_config(tmp_path, text), QBO_ENV)
    [(key, expected)] = caught.value.errors
    assert key == "connections[0].settings.client_secret"
    assert "use ${ENV_VAR}, ${file:/path/to/file} or ${credential:name}" in expected
    assert "allow_secret_literals" in expected
    assert "hunter2" not in str(caught.value)


def test_secret_literals_for_the_admin_token_and_database_password_are_refused(tmp_path: Path) -> None:
    text = """
    version: 1
    store: {url: "postgresql+psycopg://arbridge:hunter2@db/arbridge"}
    server: {token: hunter2-token}
    """
    with pytest.raises(ConfigError) as caught:
        _load(write_config(tmp_path, text), {})
    assert [key for key, _ in caught.value.errors] == ["store.url", "server.token"]
    assert "hunter2" not in str(caught.value)


def test_database_password_by_reference_is_masked_in_repr(tmp_path: Path) -> None:
    text = 'version: 1\nstore: {url: "postgresql+psycopg://arbridge:${PGPASS}@db:5432/arbridge"}\n'
    cfg = load_config(write_config(tmp_path, text), registry=fake_registry(), environ={"PGPASS": SENTINEL})
    assert cfg.store.url == f"postgresql+psycopg://arbridge:{SENTINEL}@db:5432/arbridge"
    assert cfg.store.redacted_url == "postgresql+psycopg://arbridge:***@db:5432/arbridge"
    assert SENTINEL not in repr(cfg)


def test_secret_literal_allowed_in_development_mode_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = "allow_secret_literals: true\n" + QBO_CONNECTION.replace('"${QBO_CLIENT_SECRET}"', "dev-secret")
    cfg = load_config(write_config(tmp_path, text), registry=fake_registry(), environ=QBO_ENV)

    assert cfg.connections[0].validated_settings.client_secret.get_secret_value() == "dev-secret"  # type: ignore[union-attr]
    [warning] = cfg.warnings
    assert warning.startswith("connections[0].settings.client_secret: a secret is written in the file")
    assert "dev-secret" not in warning
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "connections[0].settings.client_secret" in caplog.text


def test_world_readable_config_with_a_secret_literal_warns(tmp_path: Path) -> None:
    text = "allow_secret_literals: true\n" + QBO_CONNECTION.replace('"${QBO_CLIENT_SECRET}"', "dev-secret")
    path = write_config(tmp_path, text, mode=0o644)
    cfg = load_config(path, registry=fake_registry(), environ=QBO_ENV)
    assert any(
        w.startswith("the configuration file is readable by other users (mode 0644)")
        and "connections[0].settings.client_secret" in w
        and f"chmod 600 {path}" in w
        for w in cfg.warnings
    )

    path.chmod(0o600)
    private = load_config(path, registry=fake_registry(), environ=QBO_ENV)
    assert not any("readable by other users" in w for w in private.warnings)


def test_world_readable_config_with_references_only_is_fine(tmp_path: Path) -> None:
    path = write_config(tmp_path, QBO_CONNECTION, mode=0o644)
    cfg = load_config(path, registry=fake_registry(), environ=QBO_ENV)
    assert cfg.warnings == []


def test_references_work_inside_longer_strings_and_can_be_escaped(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace('"9130350000000000"', '"${REALM_PREFIX}-$${not-a-ref}"')
    environ = {**QBO_ENV, "REALM_PREFIX": "913"}
    cfg = load_config(write_config(tmp_path, text), registry=fake_registry(), environ=environ)
    assert cfg.connections[0].validated_settings.realm_id == "913-${not-a-ref}"  # type: ignore[union-attr]


def test_unknown_reference_kind_and_unterminated_reference_are_named(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace('"${QBO_CLIENT_SECRET}"', '"${vault:qbo}"').replace(
        '"${QBO_REFRESH_TOKEN}"', '"${QBO_REFRESH_TOKEN"'
    )
    with pytest.raises(ConfigError) as caught:
        _load(write_config(tmp_path, text), QBO_ENV)
    assert caught.value.errors == [
        (
            "connections[0].settings.client_secret",
            "unknown reference kind 'vault': use ${ENV_VAR}, ${file:/path/to/file} or ${credential:name}",
        ),
        (
            "connections[0].settings.refresh_token",
            "unterminated reference: expected '}' after '${' (write $${ for a literal ${)",
        ),
    ]


def test_disabled_connection_need_not_have_its_secrets_provisioned_yet(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace("connector: quickbooks", "connector: quickbooks\n    enabled: false")
    cfg = load_config(write_config(tmp_path, text), registry=fake_registry(), environ={"QBO_CLIENT_ID": "c"})

    conn = cfg.connections[0]
    assert not conn.enabled and conn.validated_settings is None  # nothing runnable is pretended
    assert cfg.warnings == [
        "connections[0].settings.client_secret: environment variable QBO_CLIENT_SECRET is not set; "
        "the connection is disabled, so it is skipped",
        "connections[0].settings.refresh_token: environment variable QBO_REFRESH_TOKEN is not set; "
        "the connection is disabled, so it is skipped",
    ]
