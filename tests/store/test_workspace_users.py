"""Workspace users: only argon2 hashes are kept, wrong passwords lock an account for a while, all audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from store import StateStore
from store.schema import users as users_table
from store.state import now
from store.users import FREE_FAILURES, MAX_LOCK, UserError, Users, lock_for

PASSWORD = "correct horse battery"


@pytest.fixture
def users(store_url: str) -> Iterator[Users]:
    store = StateStore.open(store_url)
    yield Users(store)
    store.close()


def test_a_password_is_stored_only_as_its_argon2_hash(users: Users) -> None:
    users.add("ada", PASSWORD, "clerk", by="root")
    with users.engine.connect() as conn:
        stored = conn.execute(sa.select(users_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.login("ada", PASSWORD).user is not None
    assert users.login("ada", "wrong horse battery").user is None
    assert [(u.username, u.role) for u in users.all()] == [("ada", "clerk")]


def test_adding_passwd_and_removal_are_audited_without_the_password(users: Users) -> None:
    users.add("ada", PASSWORD, "viewer", by="root")
    users.set_password("ada", "another long password", by="root")
    users.set_role("ada", "admin", by="root")
    users.remove("ada", by="root")
    entries = users.store.audit_entries(limit=10)
    assert [e["event"] for e in reversed(entries)] == [
        "user_added",
        "user_password_set",
        "user_role_set",
        "user_removed",
    ]
    assert all(e["subject"] == "user/ada" and '"by": "root"' in e["detail"] for e in entries)
    assert not any(PASSWORD in e["detail"] or "another long" in e["detail"] for e in entries)
    assert users.store.verify_audit() == []


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("ada", "short", "viewer", "at least 12 characters"),
        ("ada", PASSWORD, "boss", "expected one of viewer, collector, clerk, admin"),
        ("has space", PASSWORD, "viewer", "a user name is"),
    ],
)
def test_bad_users_are_refused_saying_why(
    users: Users, name: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        users.add(name, password, role, by="root")
    assert users.all() == []


def test_a_name_is_taken_once(users: Users) -> None:
    users.add("ada", PASSWORD, "viewer", by="root")
    with pytest.raises(UserError, match="exists already"):
        users.add("ada", PASSWORD, "admin", by="root")


def test_wrong_passwords_lock_the_account_even_against_the_right_one(users: Users) -> None:
    users.add("ada", PASSWORD, "clerk", by="root")
    start = now()
    for _ in range(FREE_FAILURES):
        result = users.login("ada", "guess guess guess", at=start)
    assert result.locked_until == start + timedelta(seconds=30)
    refused = users.login("ada", PASSWORD, at=start + timedelta(seconds=10))
    assert refused.user is None and refused.reason == "locked"
    allowed = users.login("ada", PASSWORD, at=start + timedelta(seconds=31))
    assert allowed.user is not None and allowed.user.failed_logins == 0


def test_the_lock_doubles_with_each_failure_up_to_fifteen_minutes() -> None:
    assert lock_for(FREE_FAILURES - 1) is None
    assert [lock_for(FREE_FAILURES + k) for k in range(3)] == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
    ]
    assert lock_for(FREE_FAILURES + 20) == MAX_LOCK


def test_a_new_password_lifts_a_lock(users: Users) -> None:
    users.add("ada", PASSWORD, "clerk", by="root")
    for _ in range(FREE_FAILURES):
        users.login("ada", "guess guess guess")
    users.set_password("ada", "a fresh long password", by="root")
    assert users.login("ada", "a fresh long password").user is not None


def test_every_process_on_the_store_signs_sessions_with_the_same_key(users: Users) -> None:
    key = users.session_key()
    assert len(key) == 64 and Users(users.store).session_key() == key
