"""The ``arbridge sandbox quickbooks`` command: options and what it prints."""

from __future__ import annotations

import click
from click.testing import CliRunner

from sandboxes.quickbooks.cli import command


def test_command_offers_the_documented_options() -> None:
    assert isinstance(command, click.Command)
    names = {opt for param in command.params for opt in param.opts}
    assert {"--port", "--seed", "--records", "--throttle", "--webhook-url", "--webhook-token"} <= names


def test_unknown_seed_is_refused_before_serving() -> None:
    result = CliRunner().invoke(command, ["--seed", "huge"])
    assert result.exit_code != 0
    assert "huge" in result.output
