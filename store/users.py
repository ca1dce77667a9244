"""The workspace's users: roles, argon2 password hashes, login throttling, and the session key.

A password is never stored, logged or audited: only its argon2id hash (argon2-cffi's defaults,
rehashed on login when those defaults grow). After ``FREE_FAILURES`` wrong passwords in a row an
account is locked for a while that doubles with every further failure (up to ``MAX_LOCK``), so a
password cannot be guessed at the speed of the network; a right password during the lock is
refused like a wrong one and does not count.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from store import schema as t
from store.state import StateStore, from_ts, now, ts

__all__ = [
    "FREE_FAILURES",
    "MAX_LOCK",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "Assignments",
    "LoginResult",
    "User",
    "UserError",
    "Users",
]

ROLES = ("viewer", "collector", "clerk", "admin")
MIN_PASSWORD_LENGTH = 12
FREE_FAILURES = 5
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_HASHER = PasswordHasher()
# Verified against for unknown names, so a login takes as long whether the name exists or not.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


class UserError(ValueError):
    """A user change that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    """One person who may log in to the workspace."""

    username: str
    role: str
    password_set_at: datetime
    created_at: datetime
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a login attempt came to: ``user`` when it succeeded, else why not (for the log)."""

    user: User | None
    reason: str = ""
    locked_until: datetime | None = None


def _user(r: Any) -> User:
    return User(
        username=r.username,
        role=r.role,
        password_set_at=datetime.fromisoformat(r.password_set_at),
        created_at=datetime.fromisoformat(r.created_at),
        failed_logins=int(r.failed_logins or 0),
        locked_until=from_ts(r.locked_until),
        last_login_at=from_ts(r.last_login_at),
    )


def check_role(role: str) -> str:
    """The role, or UserError naming the roles there are."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> None:
    """Refuse a password too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def lock_for(failures: int) -> timedelta | None:
    """How long an account is locked after ``failures`` wrong passwords in a row."""
    if failures < FREE_FAILURES:
        return None
    return min(FIRST_LOCK * 2 ** (failures - FREE_FAILURES), MAX_LOCK)


class Users:
    """The workspace's users in the state store; every change is in the audit log."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- reading ----------------------------------------------------------------------------------

    def get(self, username: str) -> User | None:
        """The user with this name."""
        u = t.users
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(u).where(u.c.username == username)).first()
        return None if row is None else _user(row)

    def all(self) -> list[User]:
        """Every user, by name."""
        u = t.users
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(sa.select(u).order_by(u.c.username))]

    # -- changes ------------------------------------------------------------------------------------

    def add(self, username: str, password: str, role: str, *, by: str) -> User:
        """Create a user.

        Raises:
            UserError: a bad name, role or password, or the name is taken.
        """
        if not _NAME.match(username):
            raise UserError(
                f"{username!r}: a user name is 1 to 100 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            )
        check_role(role)
        check_password(password)
        stamp = ts(now())
        with self.store.transaction() as conn:
            taken = conn.execute(sa.select(t.users.c.username).where(t.users.c.username == username)).first()
            if taken is not None:
                raise UserError(f"user {username!r} exists already (change the password with passwd)")
            conn.execute(
                sa.insert(t.users).values(
                    username=username,
                    role=role,
                    password_hash=_HASHER.hash(password),
                    password_set_at=stamp,
                    created_at=stamp,
                    failed_logins=0,
                )
            )
            self.store.audit(
                "user_added", subject=f"user/{username}", detail={"by": by, "role": role}, conn=conn
            )
        found = self.get(username)
        assert found is not None
        return found

    def set_password(self, username: str, password: str, *, by: str) -> None:
        """Give a user a new password; the sessions begun with the old one end, a lock is lifted.

        Raises:
            UserError: no such user, or the password is too short.
        """
        check_password(password)
        self._update(
            username,
            "user_password_set",
            {"by": by},
            password_hash=_HASHER.hash(password),
            password_set_at=ts(now()),
            failed_logins=0,
            locked_until=None,
        )

    def set_role(self, username: str, role: str, *, by: str) -> None:
        """Give a user another role (from their next page on).

        Raises:
            UserError: no such user or role.
        """
        check_role(role)
        self._update(username, "user_role_set", {"by": by, "role": role}, role=role)

    def remove(self, username: str, *, by: str) -> None:
        """Delete a user; their sessions end with their next request.

        Raises:
            UserError: no such user.
        """
        with self.store.transaction() as conn:
            gone = conn.execute(sa.delete(t.users).where(t.users.c.username == username)).rowcount
            if not gone:
                raise UserError(f"no user {username!r}")
            self.store.audit("user_removed", subject=f"user/{username}", detail={"by": by}, conn=conn)

    def _update(self, username: str, event: str, detail: dict[str, Any], **values: Any) -> None:
        with self.store.transaction() as conn:
            changed = conn.execute(
                sa.update(t.users).where(t.users.c.username == username).values(**values)
            ).rowcount
            if not changed:
                raise UserError(f"no user {username!r}")
            self.store.audit(event, subject=f"user/{username}", detail=detail, conn=conn)

    # -- logging in ---------------------------------------------------------------------------------

    def login(self, username: str, password: str, *, at: datetime | None = None) -> LoginResult:
        """Check a password, counting failures and honouring a lock."""
        at = at or now()
        user = self.get(username)
        if user is None:
            _verify(_DUMMY_HASH, password)
            return LoginResult(None, "unknown user")
        if user.locked_until is not None and user.locked_until > at:
            _verify(_DUMMY_HASH, password)
            return LoginResult(None, "locked", user.locked_until)
        u = t.users
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(u.c.password_hash).where(u.c.username == username)).scalar()
        if stored is None or not _verify(stored, password):
            failures = user.failed_logins + 1
            lock = lock_for(failures)
            until = at + lock if lock is not None else None
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(u)
                    .where(u.c.username == username)
                    .values(failed_logins=u.c.failed_logins + 1, locked_until=ts(until) if until else None)
                )
            return LoginResult(None, "wrong password", until)
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_login_at": ts(at)}
        if _HASHER.check_needs_rehash(stored):
            values["password_hash"] = _HASHER.hash(password)
        with self.engine.begin() as conn:
            conn.execute(sa.update(u).where(u.c.username == username).values(**values))
        return LoginResult(self.get(username))

    # -- the session key ----------------------------------------------------------------------------

    def setting(self, key: str, make: Any) -> str:
        """A workspace setting, created with ``make()`` the first time (the same for every process)."""
        w = t.workspace_settings
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(w.c.value).where(w.c.key == key)).scalar()
        if value is not None:
            return str(value)
        stmt = self.store._insert(w).values(key=key, value=str(make()), updated_at=ts(now()))
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
        with self.engine.connect() as conn:
            return str(conn.execute(sa.select(w.c.value).where(w.c.key == key)).scalar_one())

    def session_key(self) -> str:
        """The key that signs the workspace's session cookies, made once per store."""
        return self.setting("session_key", lambda: secrets.token_hex(32))


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class Assignments:
    """Which collector works which customer on the worklist; every change is audited."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.engine = store.engine

    def of(self, connection: str) -> dict[str, str]:
        """Customer id → the user it is assigned to, in one connection."""
        a = t.worklist_assignments
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(a.c.customer_id, a.c.username).where(a.c.connection == connection))
            return {str(c): str(u) for c, u in rows}

    def assign(self, connection: str, customer_id: str, username: str | None, *, by: str) -> None:
        """Give the customer to ``username`` (None: to nobody).

        Raises:
            UserError: ``username`` is not a user who may log calls (a collector or an admin).
        """
        a = t.worklist_assignments
        if username is not None:
            user = Users(self.store).get(username)
            if user is None or user.role not in ("collector", "admin"):
                raise UserError(f"{username!r} is not a collector or an admin")
        with self.store.transaction() as conn:
            conn.execute(sa.delete(a).where(a.c.connection == connection, a.c.customer_id == customer_id))
            if username is not None:
                conn.execute(
                    sa.insert(a).values(
                        connection=connection,
                        customer_id=customer_id,
                        username=username,
                        assigned_by=by,
                        assigned_at=ts(now()),
                    )
                )
            self.store.audit(
                "worklist_assigned",
                connection=connection,
                subject=f"customer/{customer_id}",
                detail={"by": by, "to": username},
                conn=conn,
            )
