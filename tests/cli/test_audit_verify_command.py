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


def verify(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify", "-c", str(config)], catch_exceptions=False)
    return result.exit_code, result.output


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
    assert verify(config) == (0, "audit log intact\n")


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
