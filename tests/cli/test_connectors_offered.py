"""The connectors an admin is offered: the ERPs, not the test doubles, and only what the README promises."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.conformance.manifest import load_manifest
from connectors.registry import TEST_DOUBLES_ENV, discover
from sync_daemon import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def listed(monkeypatch: pytest.MonkeyPatch, doubles: bool) -> dict[str, str]:
    if doubles:
        monkeypatch.setenv(TEST_DOUBLES_ENV, "1")
    else:
        monkeypatch.delenv(TEST_DOUBLES_ENV, raising=False)
    result = CliRunner().invoke(cli, ["connectors"])
    assert result.exit_code == 0
    return {line.split("\t")[0]: line for line in result.stdout.splitlines()}


def test_arbridge_connectors_offers_the_erp_connectors_and_no_test_double(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = listed(monkeypatch, doubles=False)
    assert {"csv", "netsuite", "quickbooks"} <= set(names)
    assert not {"memory", "faulty"} & set(names)


def test_the_test_doubles_are_there_for_tests_and_say_what_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    names = listed(monkeypatch, doubles=True)
    assert "test double" in names["memory"] and "test double" in names["faulty"]
    assert "test double" not in names["quickbooks"]


def test_a_configuration_naming_a_test_double_says_how_it_is_turned_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TEST_DOUBLES_ENV, raising=False)
    config = tmp_path / "arbridge.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections: [{{name: bench, connector: memory}}]
            """
        )
    )
    result = CliRunner().invoke(cli, ["check", "-c", str(config)])
    assert result.exit_code == 2
    assert "connections[0].connector" in result.stderr
    assert f"'memory' is a test double, loaded only with {TEST_DOUBLES_ENV}=1" in result.stderr
    offered = re.search(r"one of: ([^;]+);", result.stderr)
    assert offered is not None and "quickbooks" in offered.group(1)
    assert "memory" not in offered.group(1) and "faulty" not in offered.group(1)


def test_the_readme_names_only_connectors_that_are_installed() -> None:
    intro = re.search(r"payments\*\* from (.+?) \(`arbridge connectors`", README.read_text(), re.S)
    assert intro is not None
    promised = [p.strip() for p in re.split(r",| or ", " ".join(intro.group(1).split())) if p.strip()]
    registry = discover(test_doubles=False)
    titles = [str(load_manifest(registry.get(name))["title"]) for name in registry.names()]
    assert len(promised) >= 3
    assert [p for p in promised if not any(t.startswith(p) for t in titles)] == []
