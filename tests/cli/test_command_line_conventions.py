"""One convention for the whole command line, checked on every command an admin or a clerk can type.

The tree is walked as installed (plugins' ``sandbox``, ``auth`` and ``setup`` subcommands included),
so a command added later is held to the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.options import CONFIG_ENV, AsOf, Duration
from sync_daemon import cli

README = Path(__file__).resolve().parents[2] / "README.md"

# Commands that work on files given on their own command line, not on a deployment.
WITHOUT_A_DEPLOYMENT = {
    ("connectors",),
    ("demo",),
    ("match",),
    ("new-connector",),
    ("dunning", "plan"),
    ("dunning", "render"),
}
# What a command checks on its own command line before it reads the configuration.
MORE_ARGUMENTS = {
    ("review", "forget"): ["--account", "DE89370400440532013000"],
    # On files it needs no deployment; refitting the stored models does.
    ("predict",): ["--refit"],
}
SECRET_WORDS = re.compile(r"secret|token|password|passphrase|credential|api[-_]?key|private[-_]key")
DURATION_WORDS = re.compile(r"timeout|latency|interval|delay|drain|wait|backoff|every|expire")


def commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from commands(command.commands[name], (*path, name))


ALL = list(commands(cli))
LEAVES = [(path, c) for path, c in ALL if not isinstance(c, click.Group)]


def ident(item: tuple[tuple[str, ...], click.Command]) -> str:
    return " ".join(item[0]) or "arbridge"


def options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and p.name not in ("help", "version")]


def test_the_tree_holds_every_documented_command() -> None:
    paths = {" ".join(p) for p, _ in LEAVES}
    expected = {
        "check", "sync", "run", "status", "connectors", "demo", "worklist", "match",
        "outbox list", "outbox retry", "outbox drop", "audit verify", "audit head",
        "review accept", "review change", "review reject", "review aliases", "review forget",
        "dunning plan", "dunning render", "dunning preview", "dunning mark-sent", "dunning resend",
        "sandbox quickbooks", "sandbox netsuite", "auth quickbooks",
    }  # fmt: skip
    assert expected <= paths


@pytest.mark.parametrize("item", ALL, ids=ident)
def test_help_works_without_a_configuration_file(
    item: tuple[tuple[str, ...], click.Command], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    result = CliRunner().invoke(cli, [*item[0], "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: arbridge {' '.join(item[0])}".rstrip())
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == [], "asking for help must not create files"


@pytest.mark.parametrize("item", ALL, ids=ident)
def test_every_option_says_what_it_is_for(item: tuple[tuple[str, ...], click.Command]) -> None:
    undocumented = [o.opts[0] for o in options(item[1]) if not (o.help or "").strip()]
    assert undocumented == []
    assert (item[1].help or "").strip(), "the command itself has a description"


@pytest.mark.parametrize("item", ALL, ids=ident)
def test_no_secret_is_taken_as_a_command_line_value(item: tuple[tuple[str, ...], click.Command]) -> None:
    for option in options(item[1]):
        name = option.opts[-1]
        if not SECRET_WORDS.search(name) or name.endswith(("-env", "-file")):
            continue  # an option naming where a secret is kept holds no secret itself
        assert option.is_flag, f"{name} takes a secret on the command line, where shell history keeps it"


@pytest.mark.parametrize("item", ALL, ids=ident)
def test_options_shared_by_commands_are_written_one_way(item: tuple[tuple[str, ...], click.Command]) -> None:
    for option in options(item[1]):
        if option.name == "config_path":
            assert option.opts == ["-c", "--config"] and option.envvar == CONFIG_ENV
        if "--connection" in option.opts:
            assert option.multiple, "--connection is repeatable everywhere"
        if "--as-of" in option.opts:
            assert isinstance(option.type, AsOf), "--as-of takes a date or a date-time"
        if DURATION_WORDS.search(option.name or ""):
            assert isinstance(option.type, Duration), f"{option.opts[0]} takes a duration like 30s"


@pytest.mark.parametrize("item", LEAVES, ids=ident)
def test_every_command_on_a_deployment_takes_c_after_its_name(
    item: tuple[tuple[str, ...], click.Command], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, command = item
    has_config = any(o.name == "config_path" for o in options(command))
    if path in WITHOUT_A_DEPLOYMENT or path[0] == "sandbox":
        assert not has_config
        return
    assert has_config
    missing = tmp_path / "nowhere.yaml"
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    given = CliRunner().invoke(cli, [*path, *_required_values(path, command), "-c", str(missing)])
    monkeypatch.setenv(CONFIG_ENV, str(missing))
    from_env = CliRunner().invoke(cli, [*path, *_required_values(path, command)])
    for result in (given, from_env):
        assert result.exit_code == 2, result.output
        assert f"configuration file {missing} does not exist" in result.output
        assert "Traceback" not in result.output


def _required_values(path: tuple[str, ...], command: click.Command) -> list[str]:
    """Placeholders for what a command requires besides the configuration, so it reaches loading it."""
    out: list[str] = list(MORE_ARGUMENTS.get(path, []))
    for param in command.params:
        if not param.required or param.name == "config_path":
            continue
        value = param.type.choices[0] if isinstance(param.type, click.Choice) else "x=1"
        out += [value] if isinstance(param, click.Argument) else [param.opts[0], str(value)]
    return out


def test_the_readme_command_table_lists_every_command() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Commands") :]
    table = table[: table.index("\n\n", table.index("| command |"))]
    listed = set(re.findall(r"`arbridge ([a-z][a-z0-9 -]*?)(?: -| \[| …| [A-Z]|`)", table))
    missing = [" ".join(p) for p, _ in LEAVES if " ".join(p) not in listed]
    assert missing == []
