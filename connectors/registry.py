"""Find connectors through the ``arbridge.connectors`` entry-point group.

The core never imports a connector package by name: ``pip install arbridge-connector-acme`` adds
one. A connector that fails to import is reported and skipped, never allowed to crash the daemon.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import metadata

from connectors.base import Connector

GROUP = "arbridge.connectors"
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


_cached: Registry | None = None


def discover(entry_points: list[metadata.EntryPoint] | None = None, *, refresh: bool = False) -> Registry:
    """Load every connector registered in the ``arbridge.connectors`` group (once per process).

    Args:
        entry_points: use these instead of the installed ones (tests).
        refresh: look again even if the installed connectors were already loaded.
    """
    global _cached
    if entry_points is None and _cached is not None and not refresh:
        return _cached
    registry = Registry()
    eps = entry_points if entry_points is not None else list(metadata.entry_points(group=GROUP))
    for ep in eps:
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Connector)):
                raise TypeError(f"{ep.value} is not a Connector subclass")
        except Exception as exc:  # a broken plugin must never take the daemon down
            registry.broken[ep.name] = BrokenConnector(ep.name, ep.value, f"{type(exc).__name__}: {exc}")
            log.warning("connector %s (%s) failed to load and is skipped: %s", ep.name, ep.value, exc)
            continue
        registry.connectors[ep.name] = cls
        dist = getattr(ep, "dist", None)
        if dist is not None:
            registry.distributions[ep.name] = f"{dist.name} {dist.version}"
    if entry_points is None:
        _cached = registry
    return registry
