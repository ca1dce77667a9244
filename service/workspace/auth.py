"""Who is asking, and may they: sessions, roles, CSRF tokens and login throttling for the workspace.

* A session is Flask's signed cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` whenever the
  daemon listens beyond this machine), signed with a key kept in the state store. It names the
  user and when their password was set: a new password, a removed user or a changed role take
  effect at the next request, because the user is read from the store every time.
* Every POST carries the session's CSRF token (a hidden field, or the ``X-CSRF-Token`` header),
  compared in constant time; without it the request is refused with 400 before anything runs.
* Roles grant permissions (``PERMISSIONS``); a page asks ``can(...)`` before offering a button,
  and the action answers 403 to a role without the permission, whatever the browser sent.
* A user of single sign-on (``service.workspace.sso``) has the same session, CSRF token and
  permissions; the session keeps the claim values that granted the role instead of a password
  time, and the role is worked out from them and ``server.sso.roles`` at every request, so a mapping
  taken out of the configuration ends the sessions it granted.
* Logins are throttled per account (``store.users``: locks that double after five wrong
  passwords) and per client address (``LOGIN_WINDOW``), so neither one account nor many can be
  guessed at the network's speed.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, g, redirect, request, session, url_for

from store.users import User, Users

__all__ = [
    "LOGIN_FAILURES_PER_ADDRESS",
    "LOGIN_WINDOW_S",
    "PERMISSIONS",
    "AddressThrottle",
    "can",
    "check_csrf",
    "csrf_token",
    "current_user",
    "requires",
    "role_for",
    "start_session",
    "start_sso_session",
]

PERMISSIONS: dict[str, frozenset[str]] = {
    # The overview, customers, worklist and review queue, read only.
    "view": frozenset({"viewer", "collector", "clerk", "admin"}),
    # A call's outcome, a promise to pay, a dispute.
    "log_call": frozenset({"collector", "admin"}),
    # Accept or reject a cash-application proposal.
    "review": frozenset({"clerk", "admin"}),
    # Mark a reminder in doubt as sent, or send it again.
    "dunning_decide": frozenset({"admin"}),
}
# Who a request with the server's bearer token is: a viewer, for reading only.
TOKEN_USER = User(
    username="server.token",
    role="viewer",
    password_set_at=datetime(1970, 1, 1, tzinfo=UTC),
    created_at=datetime(1970, 1, 1, tzinfo=UTC),
    failed_logins=0,
    locked_until=None,
    last_login_at=None,
)
LOGIN_WINDOW_S = 600.0
LOGIN_FAILURES_PER_ADDRESS = 20

F = TypeVar("F", bound=Callable[..., Any])


class AddressThrottle:
    """Failed logins per client address within a sliding window."""

    def __init__(
        self,
        limit: int = LOGIN_FAILURES_PER_ADDRESS,
        window_s: float = LOGIN_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str) -> deque[float]:
        now = self._clock()
        seen = self._failures.setdefault(address, deque())
        while seen and now - seen[0] >= self.window_s:
            seen.popleft()
        return seen

    def blocked(self, address: str) -> bool:
        """Whether this address failed too often lately."""
        with self._lock:
            return len(self._recent(address)) >= self.limit

    def failed(self, address: str) -> None:
        """Count one failed login from ``address``."""
        with self._lock:
            self._recent(address).append(self._clock())
            if len(self._failures) > 10_000:  # bound memory against many addresses
                self._failures = {k: v for k, v in self._failures.items() if v}


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def check_csrf() -> None:
    """Refuse (400) a POST without the session's CSRF token."""
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(str(sent).encode(), str(expected).encode()):
        abort(
            400,
            description="the form's security token is missing or out of date: reload the page and try again",
        )


def start_session(user: User) -> None:
    """A fresh session for ``user`` (a new CSRF token too, so one seen before the login is useless)."""
    session.clear()
    session.permanent = True
    session["user"] = user.username
    session["password_set_at"] = user.password_set_at.isoformat()
    session["csrf"] = secrets.token_urlsafe(32)


def start_sso_session(username: str, grants: list[str]) -> None:
    """A fresh session for a user of single sign-on, whose claim values ``grants`` map to a role."""
    session.clear()
    session.permanent = True
    session["user"] = username
    session["sso"] = grants
    session["sso_since"] = datetime.now(UTC).isoformat()
    session["csrf"] = secrets.token_urlsafe(32)


def role_for(grants: list[str], roles: Mapping[str, str]) -> str | None:
    """The role the first of ``roles`` (claim value → role) among ``grants`` gives; None: no access."""
    return next((role for value, role in roles.items() if value in grants), None)


def _sso_user(name: str, grants: Any, sso: Any) -> User | None:
    """The user of a single sign-on session, as long as single sign-on still grants them a role."""
    role = role_for(list(grants), sso.roles) if sso is not None and isinstance(grants, list) else None
    if role is None:
        return None
    since = datetime.fromisoformat(str(session.get("sso_since")))
    return User(
        username=name,
        role=role,
        password_set_at=since,
        created_at=since,
        failed_logins=0,
        locked_until=None,
        last_login_at=since,
    )


def current_user(users: Users, token: str | None = None, sso: Any = None) -> User | None:
    """The logged-in user, read from the store; None (and the session ended) when it no longer holds.

    Without a session, a GET carrying ``Authorization: Bearer <server.token>`` reads as a viewer:
    the JSON and CSV behind the pages, for those who automate (the token ``/metrics`` takes).
    ``sso`` is ``server.sso``: with it, single sign-on sessions hold, and password sessions only
    while it allows password logins.
    """
    if "user" in g:
        return cast(User | None, g.user)
    if token and "user" not in session and request.method == "GET":
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            g.user = TOKEN_USER
            return TOKEN_USER
    name = session.get("user")
    user: User | None = None
    if name and "sso" in session:
        user = _sso_user(str(name), session.get("sso"), sso)
    elif name and (sso is None or sso.password_login):
        user = users.get(str(name))
        if user is not None and session.get("password_set_at") != user.password_set_at.isoformat():
            user = None
    if user is None and name:
        for key in ("user", "password_set_at", "sso", "sso_since"):
            session.pop(key, None)
    g.user = user
    return user


def can(permission: str) -> bool:
    """Whether the logged-in user's role grants ``permission`` (for templates: offer the button?)."""
    user = cast(User | None, g.get("user"))
    return user is not None and user.role in PERMISSIONS[permission]


def requires(permission: str, users: Callable[[], Users]) -> Callable[[F], F]:
    """Guard a view: log in first (a page) or 401 (an action), then 403 without the permission."""

    def wrap(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = current_user(users())
            if user is None:
                if request.method == "GET":
                    return redirect(url_for("workspace.login", next=request.full_path.rstrip("?")))
                abort(401, description="log in first")
            if user.role not in PERMISSIONS[permission]:
                abort(403, description=f"a {user.role} may not do this")
            return view(*args, **kwargs)

        return cast(F, guarded)

    return wrap
