"""An admin manages the workspace's users from the command line; passwords never appear on it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from store import StateStore
from store.users import Users
from sync_daemon import cli


def config(tmp_path: Path) -> Path:
    path = tmp_path / "arbridge.yaml"
    path.write_text(f"version: 1\nstore:\n  url: sqlite:///{tmp_path / 'state.sqlite'}\n")
    path.chmod(0o600)
    return path


def test_add_list_passwd_role_and_remove_a_user(tmp_path: Path) -> None:
    cfg = str(config(tmp_path))
    runner = CliRunner()
    added = runner.invoke(
        cli, ["users", "add", "-c", cfg, "ada", "--role", "clerk"], input="long password 1\n" * 2
    )
    assert added.exit_code == 0, added.output
    assert "ada: added as clerk" in added.output and "long password 1" not in added.output
    piped = runner.invoke(
        cli,
        ["users", "add", "-c", cfg, "bob", "--role", "viewer", "--password-stdin"],
        input="long password 2\n",
    )
    assert piped.exit_code == 0, piped.output

    listed = runner.invoke(cli, ["users", "list", "-c", cfg])
    assert "ada" in listed.output and "clerk" in listed.output and "never logged in" in listed.output
    assert "2 user(s)" in listed.output

    assert (
        runner.invoke(
            cli, ["users", "passwd", "-c", cfg, "bob", "--password-stdin"], input="long password 3\n"
        ).exit_code
        == 0
    )
    assert runner.invoke(cli, ["users", "role", "-c", cfg, "bob", "collector"]).exit_code == 0
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    try:
        users = Users(store)
        assert users.login("bob", "long password 3").user is not None
        assert users.get("bob").role == "collector"  # type: ignore[union-attr]
    finally:
        store.close()

    assert runner.invoke(cli, ["users", "remove", "-c", cfg, "bob"]).exit_code == 0
    assert "1 user(s)" in runner.invoke(cli, ["users", "list", "-c", cfg]).output


def test_a_short_password_or_an_unknown_user_exits_1_saying_why(tmp_path: Path) -> None:
    cfg = str(config(tmp_path))
    runner = CliRunner()
    short = runner.invoke(
        cli, ["users", "add", "-c", cfg, "ada", "--role", "admin", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    missing = runner.invoke(cli, ["users", "remove", "-c", cfg, "nobody"])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output
