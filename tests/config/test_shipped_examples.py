"""Every example file shipped in config/ loads as it is, with the connectors that are really installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from config import load_config
from config.dunning_policy import load_dunning_policy
from connectors.registry import discover
from rules.cashapp.settings import load_rules

CONFIG = Path(__file__).resolve().parents[2] / "config"
SHIPPED = sorted(p.name for p in CONFIG.glob("*.yaml"))


def test_every_shipped_yaml_file_is_one_of_the_kinds_tested_here() -> None:
    known = {"example.yaml", "cashapp-rules.example.yaml"} | {
        n for n in SHIPPED if n.startswith("dunning-policy")
    }
    assert set(SHIPPED) == known


def test_the_example_configuration_loads_with_the_real_connectors(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    for name in ("qbo-client-secret", "qbo-refresh-token", "smtp-password"):
        (creds / name).write_text(f"{name}-value\n")
    environ = {
        "ARBRIDGE_ADMIN_TOKEN": "t" * 32,
        "QBO_CLIENT_ID": "client",
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    cfg = load_config(CONFIG / "example.yaml", registry=discover(), environ=environ)
    qbo, netsuite = cfg.connections
    assert qbo.validated_settings is not None
    # The disabled NetSuite connection's settings are the NetSuite connector's own, not a guess.
    assert netsuite.settings["account"] == "1234567_SB1" and not netsuite.enabled
    assert cfg.rules.dunning.policy == CONFIG / "dunning-policy.example.yaml"
    assert cfg.rules.dunning.worklist.reporting_currency == "USD"


@pytest.mark.parametrize("name", [n for n in SHIPPED if n.startswith("dunning-policy")])
def test_every_shipped_dunning_policy_loads(name: str) -> None:
    policy = load_dunning_policy(CONFIG / name)
    assert policy.default_policy in policy.policies


def test_the_shipped_cash_application_rules_load() -> None:
    assert load_rules(CONFIG / "cashapp-rules.example.yaml") is not None


def test_the_example_configuration_passes_check_up_to_the_erp(tmp_path: Path) -> None:
    """``arbridge check`` validates the example as shipped; only reaching Intuit is left to fail."""
    from cli import arbridge

    creds = tmp_path / "creds"
    creds.mkdir()
    for name in ("qbo-client-secret", "qbo-refresh-token", "smtp-password"):
        (creds / name).write_text(f"{name}-value\n")
    copy = tmp_path / "example.yaml"
    # Beside the policy it names, with the state store in this test's folder.
    text = (CONFIG / "example.yaml").read_text()
    copy.write_text(
        text.replace(
            "policy: dunning-policy.example.yaml", f"policy: {CONFIG / 'dunning-policy.example.yaml'}"
        )
    )
    env = {
        "ARBRIDGE_ADMIN_TOKEN": "t" * 32,
        "QBO_CLIENT_ID": "client",
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    result = CliRunner().invoke(arbridge, ["check", "-c", str(copy)], env=env, obj={})
    assert result.exit_code != 2, result.output
    assert "invalid configuration" not in result.output and "Traceback" not in result.output
    assert "store: sqlite" in result.output
    assert "skip globex-netsuite: disabled" in result.output
