"""Find connectors through the ``arbridge.connectors`` entry-point group.

The core never imports a connector package by name: ``pip install arbridge-connector-acme`` adds
one. A connector that fails to import is reported and skipped, never allowed to crash the daemon.

Test doubles (the ``memory`` ERP and the fault-injecting ``faulty`` wrapper) are registered in a
group of their own, ``arbridge.test_connectors``, and loaded only when asked for (the environment
variable ``ARBRIDGE_TEST_DOUBLES=1``, which the test suite sets): an admin is never offered a
connector that pretends to be an ERP.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib import metadata

from connectors.base import Connector

GROUP = "arbridge.connectors"
TEST_GROUP = "arbridge.test_connectors"
TEST_DOUBLES_ENV = "ARBRIDGE_TEST_DOUBLES"
log = logging.getLogger("arbridge.registry")


class UnknownConnectorError(LookupError):
    def __init__(self, name: str, installed: list[str]) -> None:
        listing = ", ".join(installed) or "none"
        super().__init__(f"no connector named {name!r} is installed (installed: {listing})")
        self.name = name
        self.installed = installed


@dataclass
class BrokenConnector:
    name: str
    target: str
    error: str


@dataclass
class Registry:
    """The connectors installed in this environment."""

    connectors: dict[str, type[Connector]] = field(default_factory=dict)
    broken: dict[str, BrokenConnector] = field(default_factory=dict)
    distributions: dict[str, str] = field(default_factory=dict)
    test_doubles: set[str] = field(default_factory=set)

    def get(self, name: str) -> type[Connector]:
        if name in self.connectors:
            return self.connectors[name]
        if name in self.broken:
            b = self.broken[name]
            raise UnknownConnectorError(name, sorted(self.connectors)) from ImportError(
                f"connector {name!r} ({b.target}) failed to load: {b.error}"
            )
        raise UnknownConnectorError(name, sorted(self.connectors))

    def names(self) -> list[str]:
        return sorted(self.connectors)


_cached: dict[bool, Registry] = {}


def test_double_names() -> list[str]:
    """The names of the installed test doubles, loaded or not."""
    return sorted(ep.name for ep in metadata.entry_points(group=TEST_GROUP))


def test_doubles_wanted() -> bool:
    """Whether this process asked for the test doubles (``ARBRIDGE_TEST_DOUBLES=1``)."""
    return os.environ.get(TEST_DOUBLES_ENV, "").strip().lower() in ("1", "true", "yes")


def discover(
    entry_points: list[metadata.EntryPoint] | None = None,
    *,
    refresh: bool = False,
    test_doubles: bool | None = None,
) -> Registry:
    """Load every connector registered in the ``arbridge.connectors`` group (once per process).

    Args:
        entry_points: use these instead of the installed ones (tests).
        refresh: look again even if the installed connectors were already loaded.
        test_doubles: also load the ``arbridge.test_connectors`` group; by default only when
            ``ARBRIDGE_TEST_DOUBLES=1``.
    """
    doubles = test_doubles_wanted() if test_doubles is None else test_doubles
    if entry_points is None and doubles in _cached and not refresh:
        return _cached[doubles]
    registry = Registry()
    if entry_points is not None:
        eps = [(ep, False) for ep in entry_points]
    else:
        eps = [(ep, False) for ep in metadata.entry_points(group=GROUP)]
        if doubles:
            eps += [(ep, True) for ep in metadata.entry_points(group=TEST_GROUP)]
    for ep, double in eps:
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Connector)):
                raise TypeError(f"{ep.value} is not a Connector subclass")
        except Exception as exc:  # a broken plugin must never take the daemon down
            registry.broken[ep.name] = BrokenConnector(ep.name, ep.value, f"{type(exc).__name__}: {exc}")
            log.warning("connector %s (%s) failed to load and is skipped: %s", ep.name, ep.value, exc)
            continue
        registry.connectors[ep.name] = cls
        if double:
            registry.test_doubles.add(ep.name)
        dist = getattr(ep, "dist", None)
        if dist is not None:
            registry.distributions[ep.name] = f"{dist.name} {dist.version}"
    if entry_points is None:
        _cached[doubles] = registry
    return registry
