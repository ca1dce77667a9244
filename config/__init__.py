"""Deployment configuration: one YAML file, validated, with secrets by reference only.

Typical use::

    from config import load_config

    cfg = load_config("/etc/arbridge/arbridge.yaml")
    for conn in cfg.enabled_connections():
        settings = conn.validated_settings  # the connector's settings model, secrets as SecretStr
"""

from config.errors import ConfigError
from config.loader import default_config, load_config, parse_config
from config.model import (
    CashAppRulesConfig,
    ConnectionConfig,
    DefaultsConfig,
    DeploymentConfig,
    DunningRulesConfig,
    LoggingConfig,
    RulesConfig,
    Schedule,
    ServerConfig,
    StoreConfig,
    WorkersConfig,
    WriteBackConfig,
    format_duration,
    parse_duration,
)

__all__ = [
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
