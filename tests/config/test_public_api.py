"""The names other code imports from ``config``: changes here are deliberate."""

from __future__ import annotations

from pathlib import Path

import pytest

import config
import config.loader
from config import load_config
from tests.config.fakes import QBO_CONNECTION, QBO_ENV, registry, write_config


def test_exported_members() -> None:
    assert sorted(config.__all__) == [
        "CashAppRulesConfig",
        "ConfigError",
        "ConnectionConfig",
        "DefaultsConfig",
        "DeploymentConfig",
        "DunningRulesConfig",
        "LoggingConfig",
        "RulesConfig",
        "Schedule",
        "ServerConfig",
        "StoreConfig",
        "WorkersConfig",
        "WriteBackConfig",
        "default_config",
        "format_duration",
        "load_config",
        "parse_config",
        "parse_duration",
    ]
    assert all(hasattr(config, name) for name in config.__all__)


def test_without_a_registry_the_installed_connectors_are_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[None] = []

    def fake_discover() -> object:
        calls.append(None)
        return registry()

    monkeypatch.setattr(config.loader, "discover", fake_discover)
    cfg = load_config(write_config(tmp_path, QBO_CONNECTION), environ=QBO_ENV)
    assert cfg.connections[0].validated_settings is not None
    assert len(calls) == 1

    # A file without connections has nothing to validate against: no plugin is imported.
    load_config(write_config(tmp_path, "version: 1\n", name="empty.yaml"), environ={})
    assert len(calls) == 1


def test_environment_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in QBO_ENV.items():
        monkeypatch.setenv(key, value)
    cfg = load_config(write_config(tmp_path, QBO_CONNECTION), registry=registry())
    settings = cfg.connections[0].validated_settings
    assert settings.refresh_token.get_secret_value() == QBO_ENV["QBO_REFRESH_TOKEN"]  # type: ignore[union-attr]
