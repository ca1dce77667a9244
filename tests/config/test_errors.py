"""What an admin reads when the file is wrong: every key path, what was expected, where."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_config
from tests.config.fakes import QBO_CONNECTION, QBO_ENV, registry, registry_with_broken, write_config


def _errors(path: Path, **kwargs: object) -> ConfigError:
    kwargs.setdefault("registry", registry())
    kwargs.setdefault("environ", QBO_ENV)
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_typo_in_a_key_names_the_key_path(tmp_path: Path) -> None:
    typo = "connector: quickbooks\n    shedule: {interval: 5m}"
    text = QBO_CONNECTION.replace("connector: quickbooks", typo)
    error = _errors(write_config(tmp_path, text))

    [(key, expected)] = error.errors
    assert key == "connections[0].shedule"
    assert expected.startswith("unknown key; did you mean 'schedule'?")
    assert "write_back" in expected  # the keys that are allowed there
    assert "connections[0].shedule (line 5): unknown key" in str(error)


def test_typo_inside_connector_settings_is_prefixed_with_the_connection(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace("realm_id:", "relm_id:")
    error = _errors(write_config(tmp_path, text))
    assert [key for key, _ in error.errors] == [
        "connections[0].settings.realm_id",
        "connections[0].settings.relm_id",
    ]
    assert dict(error.errors)["connections[0].settings.realm_id"] == "a required key is missing"
    assert "did you mean 'realm_id'?" in dict(error.errors)["connections[0].settings.relm_id"]


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    text = """
    version: 1
    logging: {level: LOUD, format: xml}
    server: {max_body_bytes: -1}
    connections:
      - name: Acme QBO
        connector: quickbooks
        schedule: {interval: 5 minutes}
        write_back: {enabled: maybe}
        settings: {collection_status_field_id: "4", realm_id: 9130350000000000, client_id: x,
                   client_secret: "${QBO_CLIENT_SECRET}", refresh_token: "${QBO_REFRESH_TOKEN}"}
    rules:
      cashapp: {auto_threshold: 0.5, review_threshold: 0.7}
    """
    error = _errors(write_config(tmp_path, text))

    assert error.errors == [
        ("logging.level", "expected one of 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ("logging.format", "expected one of 'auto', 'json' or 'text'"),
        ("server.max_body_bytes", "expected a number greater than 0"),
        ("connections[0].name", "expected 1-64 lowercase letters, digits, '-' or '_' (e.g. 'acme-qbo')"),
        (
            "connections[0].schedule.interval",
            "expected a duration like 30s, 15m, 2h, 1d (or 1h30m), or a whole number of seconds",
        ),
        ("connections[0].write_back.enabled", "expected true or false"),
        ("connections[0].settings.realm_id", 'expected a string (put quotes around it, e.g. "0123")'),
        ("connections[0].settings.collection_status_field_id", "expected one of '1', '2' or '3'"),
        ("rules.cashapp", "expected review_threshold to be at most auto_threshold"),
    ]
    assert str(error).startswith(f"invalid configuration in {tmp_path / 'arbridge.yaml'}: 9 problems")


def test_yaml_syntax_error_gives_line_and_column_without_quoting_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "version: 1\nserver:\n  token: hunter2-literal: oops\n")
    error = _errors(path)
    [(key, expected)] = error.errors
    assert key == ""
    assert expected.startswith("expected valid YAML at line 3, column 25: mapping values are not allowed")
    assert "hunter2" not in str(error)


def test_duplicate_key_is_refused_instead_of_silently_overriding(tmp_path: Path) -> None:
    path = write_config(tmp_path, "version: 1\nlogging: {level: DEBUG}\nlogging: {level: ERROR}\n")
    [(_, expected)] = _errors(path).errors
    assert "found the key 'logging' twice (first on line 2)" in expected
    assert "line 3" in expected


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    text = """
    version: 1
    x-qbo: &qbo
      connector: quickbooks
      settings: {realm_id: "1", client_id: c, client_secret: "${QBO_CLIENT_SECRET}",
                 refresh_token: "${QBO_REFRESH_TOKEN}"}
    connections:
      - {<<: *qbo, name: a}
    """
    # Anchors live under a key of their own, which is then an unknown key: merge resolves first.
    error = _errors(write_config(tmp_path, text))
    assert [key for key, _ in error.errors] == ["x-qbo"]


def test_unknown_connector_lists_installed_ones(tmp_path: Path) -> None:
    text = QBO_CONNECTION.replace("connector: quickbooks", "connector: quickbook")
    [(key, expected)] = _errors(write_config(tmp_path, text)).errors
    assert key == "connections[0].connector"
    assert expected == (
        "expected an installed connector, one of: chatty, netsuite, quickbooks; "
        "no connector named 'quickbook'; did you mean 'quickbooks'?"
    )


def test_connector_that_failed_to_import_is_named_at_load_time(tmp_path: Path) -> None:
    # What discovery leaves behind when a plugin's import fails: the error, to tell what to install.
    reg = registry_with_broken("quickbooks")
    del reg.connectors["quickbooks"]
    error = _errors(write_config(tmp_path, QBO_CONNECTION), registry=reg)
    assert error.errors == [
        (
            "connections[0].connector",
            "connector 'quickbooks' is installed but failed to load: "
            "ModuleNotFoundError: No module named 'zeep'",
        )
    ]


def test_disabled_connection_whose_connector_is_not_installed_only_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = QBO_CONNECTION.replace("connector: quickbooks", "connector: dynamics\n    enabled: false")
    cfg = load_config(write_config(tmp_path, text), registry=registry(), environ=QBO_ENV)

    assert cfg.connections[0].validated_settings is None
    assert cfg.enabled_connections() == []
    [warning] = cfg.warnings
    assert warning.startswith("connections[0].connector: expected an installed connector")
    assert warning.endswith("the connection is disabled, so it is skipped")
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_missing_file_and_empty_file_are_config_errors(tmp_path: Path) -> None:
    missing = _errors(tmp_path / "nope.yaml")
    assert missing.errors == [("", f"configuration file {tmp_path / 'nope.yaml'} does not exist")]

    empty = _errors(write_config(tmp_path, "# nothing yet\n"))
    assert empty.errors == [("", "expected a mapping of keys starting with 'version: 1' (the file is empty)")]


def test_missing_version_and_wrong_version_are_named(tmp_path: Path) -> None:
    no_version = _errors(write_config(tmp_path, "logging: {}\n"))
    assert no_version.errors == [("version", "a required key is missing")]
    assert _errors(write_config(tmp_path, "version: 2\n")).errors == [("version", "expected one of 1")]


def test_a_list_where_a_mapping_is_expected_says_so(tmp_path: Path) -> None:
    error = _errors(write_config(tmp_path, "version: 1\nstore: [sqlite]\nconnections: {name: x}\n"))
    assert error.errors == [
        ("store", "expected a mapping of keys (got a list)"),
        ("connections", "expected a list (got a mapping)"),
    ]
