"""A new SQLite state store, which holds OAuth tokens and customer data, is readable by its owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import StateStore


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what most shells and services start with: files readable by all
    yield
    os.umask(previous)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_new_sqlite_store_and_its_folder_are_private_to_the_owner(
    tmp_path: Path, usual_umask: None
) -> None:
    path = tmp_path / "arbridge-state" / "arbridge.sqlite"
    store = StateStore.open(f"sqlite:///{path}")
    store.connector_state("books").put("quickbooks.tokens", '{"refresh_token": "kept-here"}')
    files = [path, *path.parent.glob("arbridge.sqlite-*")]  # with the WAL and its index, while open
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    store.close()

    assert len(modes) >= 2, modes
    assert set(modes.values()) == {0o600}, modes
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_an_existing_store_keeps_the_mode_its_admin_gave_it(tmp_path: Path, usual_umask: None) -> None:
    path = tmp_path / "arbridge.sqlite"
    StateStore.open(f"sqlite:///{path}").close()
    path.chmod(0o640)  # shared with a backup group on purpose
    StateStore.open(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
