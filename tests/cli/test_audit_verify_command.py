"""`arbridge audit verify` tells an admin when someone changed or deleted an audit entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from store import StateStore
from sync_daemon import cli


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Path, str]:
    """A deployment whose audit log holds what a few cycles recorded."""
    config = tmp_path / "arbridge.yaml"
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    config.write_text(f'version: 1\nstore: {{url: "{state}"}}\n')
    config.chmod(0o600)
    store = StateStore.open(state)
    for i in range(5):
        store.audit("written", connection="shop", subject=f"invoice/{i}", detail={"level": 1})
    store.close()
    return config, state


def verify(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify", "-c", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.output


def head(config: Path) -> str:
    result = CliRunner().invoke(cli, ["audit", "head", "-c", str(config)], catch_exceptions=False)
    assert result.exit_code == 0
    return result.output.strip()


def audit_ids(state: str) -> list[int]:
    engine = sa.create_engine(state)
    with engine.connect() as conn:
        ids = [int(i) for (i,) in conn.execute(sa.text("SELECT id FROM audit_log ORDER BY id"))]
    engine.dispose()
    return ids


def tamper(state: str, statement: str, **params: object) -> None:
    engine = sa.create_engine(state)
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()


def test_an_intact_log_verifies(synced: tuple[Path, str]) -> None:
    config, state = synced
    assert len(audit_ids(state)) == 5
    code, out = verify(config)
    assert code == 0 and out.startswith("audit log intact: 5 entries\nhead: 5:")


def test_a_changed_entry_is_reported_with_its_row_and_exit_code_1(synced: tuple[Path, str]) -> None:
    config, state = synced
    victim = audit_ids(state)[1]
    tamper(state, 'UPDATE audit_log SET detail = \'{"rule": "forged"}\' WHERE id = :id', id=victim)
    code, out = verify(config)
    assert code == 1
    assert f"TAMPERED: row {victim}: content does not match its hash" in out


def test_a_deleted_entry_is_reported_with_exit_code_1(synced: tuple[Path, str]) -> None:
    config, state = synced
    victim = audit_ids(state)[1]
    tamper(state, "DELETE FROM audit_log WHERE id = :id", id=victim)
    code, out = verify(config)
    assert code == 1
    assert f"TAMPERED: rows {victim}..{victim} are missing (deleted)" in out


def test_deleting_the_newest_entries_is_caught_by_a_checkpoint_kept_elsewhere(
    synced: tuple[Path, str],
) -> None:
    config, state = synced
    checkpoint = head(config)  # the admin's copy, kept off this machine
    assert checkpoint.startswith("5:") and len(checkpoint) == 2 + 64
    newest = audit_ids(state)[-2:]
    tamper(state, "DELETE FROM audit_log WHERE id >= :id", id=newest[0])

    assert verify(config)[0] == 0  # what is left still chains: the chain alone cannot tell
    code, out = verify(config, "--checkpoint", checkpoint)
    assert code == 1
    assert "TAMPERED: rows 4..5 are missing: the log ends at row 3 but a checkpoint names row 5" in out


def test_a_rewritten_log_does_not_match_the_checkpoint(synced: tuple[Path, str]) -> None:
    config, state = synced
    checkpoint = head(config)
    # Someone rebuilds the whole chain with a forged entry: every hash is consistent again.
    tamper(state, "DELETE FROM audit_log")
    store = StateStore.open(state)
    for i in range(5):
        forged = {"level": 2 if i == 3 else 1}
        store.audit("written", connection="shop", subject=f"invoice/{i}", detail=forged)
    store.close()
    ids = audit_ids(state)

    code, out = verify(config, "--checkpoint", checkpoint.replace("5:", f"{ids[-1]}:", 1))
    assert code == 1
    assert f"TAMPERED: row {ids[-1]}: differs from the checkpoint" in out


def test_checkpoints_are_read_from_the_daemons_log(synced: tuple[Path, str], tmp_path: Path) -> None:
    config, _ = synced
    log = tmp_path / "arbridge.log"
    log.write_text(
        '{"event": "cycle_finished", "connection": "shop", "audit_head": "' + head(config) + '"}\n'
        '{"event": "cycle_finished", "connection": "shop", "audit_head": null}\n'
    )
    code, out = verify(config, "--checkpoint-file", str(log))
    assert code == 0 and "1 checkpoint(s) found" in out

    bad = verify(config, "--checkpoint", "5:not-a-hash")
    assert bad[0] == 2 and "expected ROW:HASH" in bad[1]
