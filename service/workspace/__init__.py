"""The collections workspace: the AR team's pages, served by the daemon's own HTTP app.

``install(app, workspace)`` adds the pages to the daemon's Flask app (``service/http.py``):

* ``/login``, ``/logout``: a session for a user of ``arbridge users``, or of an OpenID Connect
  provider (``/sso/login``, ``service/workspace/sso.py``) when ``server.sso`` is set;
* ``/overview`` (and ``/overview.json``): open and overdue AR, aging, DSO, CEI, per connection and
  all together, with the formulas;
* ``/review``: the cash-application proposals waiting for a clerk, accepted or rejected with the
  rules of ``arbridge review`` (``engine.cashapp_review``);
* ``/worklist``: the collectors' ranked queue, where a call, a promise to pay or a dispute is
  logged as ``arbridge dunning call`` records it.

Templates and assets are in ``service/web`` (nothing from a CDN: the install may have no
internet). See ``service/workspace/auth.py`` for sessions, roles and CSRF.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from service.workspace.auth import AddressThrottle
from service.workspace.forecast_panel import ForecastCache
from store import StateStore
from store.users import Users

__all__ = ["WEB_DIR", "Workspace", "install"]

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SESSION_HOURS = 8
REFRESH_EVERY_S = 60.0
log = logging.getLogger("arbridge.workspace")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Workspace:
    """What the pages work with.

    Args:
        store: the state store.
        deployment: the loaded configuration (its connections and dunning settings).
        https_only: serve pages only over HTTPS (the daemon listens beyond this machine, behind a
            TLS-terminating reverse proxy on it); the session cookie is then ``Secure``.
        clock: the current time (injectable for tests).
        token: the server's bearer token: a GET carrying it reads as a viewer (for automation).
    """

    store: StateStore
    deployment: Any
    https_only: bool = False
    clock: Callable[[], datetime] = _utc_now
    token: str | None = None
    throttle: AddressThrottle = field(default_factory=AddressThrottle)
    forecasts: ForecastCache = field(default_factory=ForecastCache)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def refresh_sums(self) -> int:
        """Bring the overview's sums up to date with every connection's records (``store.insights``)."""
        from store.insights import refresh

        read = 0
        for name in self.connections:
            try:
                read += refresh(self.store, name)
            except Exception:  # the overview shows the last sums; the next round tries again
                log.warning("bringing the overview's sums of %s up to date failed", name, exc_info=True)
        return read

    def refresh_sums_unless_fresh(self, every_s: float) -> int | None:
        """``refresh_sums``, unless another process is at it or did it in the last ``every_s`` seconds.

        Returns the records read, or None when the round was left to another process.
        """
        from store.insights import refresh_turn

        # A tenth of the period of slack: a process's own next round never finds its last one fresh.
        fresh_for = timedelta(seconds=every_s * 0.9)
        try:
            with refresh_turn(self.store, fresh_for=fresh_for) as mine:
                return self.refresh_sums() if mine else None
        except Exception:  # the store may be restarting: the next round tries again
            log.warning("the overview's sums could not be brought up to date", exc_info=True)
            return None

    def refresh_forecasts(self) -> None:
        """Make the overview's cash forecasts again before they go stale (from the stored models)."""
        fx = self.fx_rates()
        for name in self.connections:
            try:
                self.forecasts.warm(self.store, name, self.today(), fx)
            except Exception:  # the overview computes it on the next view; the next round tries again
                log.warning("the cash forecast of %s could not be made", name, exc_info=True)

    def start_refresher(self, every_s: float = REFRESH_EVERY_S) -> None:
        """Refresh the sums in the background, so a page view finds them (nearly) current.

        The sums are in the store: of several processes serving the workspace on one store, one
        does each round and the others skip it. The forecasts are each process's own.
        """
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                self.refresh_sums_unless_fresh(every_s)
                self.refresh_forecasts()
                self._stop.wait(every_s)

        self._thread = threading.Thread(target=run, name="arbridge-insights", daemon=True)
        self._thread.start()

    def stop_refresher(self, timeout: float = 5.0) -> None:
        """Stop the background refresh (after the batch it is in)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def sso(self) -> Any:
        """The single sign-on settings (``server.sso``), or None."""
        return getattr(getattr(self.deployment, "server", None), "sso", None)

    @property
    def users(self) -> Users:
        return Users(self.store)

    @property
    def connections(self) -> list[str]:
        """The enabled connections' names, in the configuration's order."""
        return [c.name for c in self.deployment.connections if getattr(c, "enabled", True)]

    def today(self) -> date:
        return self.clock().date()

    def writes_notes(self, connection: str) -> bool:
        """Whether a call logged here also goes to the ERP as a note on the customer: the connection
        writes back, its connector writes notes and its ``note_mode`` (where it has one) is not off."""
        conn = next((c for c in self.deployment.connections if c.name == connection), None)
        if conn is None or not getattr(getattr(conn, "write_back", None), "enabled", False):
            return False
        if (getattr(conn, "settings", None) or {}).get("note_mode") in ("off", False):
            return False  # the connector can, but this connection was told not to (YAML reads off as false)
        from connectors.registry import discover
        from mapping.models import OpType

        try:
            return OpType.NOTE in discover().get(conn.connector).capabilities.write_ops
        except Exception:  # an unknown or broken connector writes nothing
            return False

    def fx_rates(self) -> Any:
        """The worklist's reporting currency and rates (``rules.dunning.worklist``), or None."""
        dunning = getattr(getattr(self.deployment, "rules", None), "dunning", None)
        settings = getattr(dunning, "worklist", None)
        currency = getattr(settings, "reporting_currency", None)
        if not currency:
            return None
        from rules.dunning.fx import FxRates, read_fx_rates

        path = getattr(settings, "fx_rates", None)
        try:
            return read_fx_rates(path, currency) if path else FxRates(currency)
        except Exception:  # a broken rates file is the worklist's error to report; show currencies apart
            log.warning("the reporting currency's rates could not be read", exc_info=True)
            return None

    def time_zone(self) -> str:
        """The dunning policy's default time zone (the worklist's), UTC without a policy."""
        dunning = getattr(getattr(self.deployment, "rules", None), "dunning", None)
        policy = getattr(dunning, "policy", None)
        if policy is not None and Path(policy).is_file():
            from rules.dunning import load_policy

            return str(load_policy(policy).default_time_zone)
        return "UTC"


def install(app: Flask, workspace: Workspace) -> None:
    """Add the workspace's pages to ``app``."""
    from service.workspace import account_pages, figure_pages, sso, work_pages  # noqa: F401  (they add their routes)
    from service.workspace.pages import blueprint

    app.secret_key = workspace.users.session_key()
    app.config.update(
        SESSION_COOKIE_NAME="arbridge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=workspace.https_only,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    app.extensions["arbridge.workspace"] = workspace
    if workspace.sso is not None:
        sso.register(app, workspace.sso)
    app.register_blueprint(blueprint)


def connection_names(workspace: Workspace, wanted: Sequence[str]) -> list[str]:
    """The connections asked for that exist, else all of them."""
    names = [n for n in wanted if n in workspace.connections]
    return names or workspace.connections
