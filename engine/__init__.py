"""The sync engine: pull pages into the store, run the rules, relay the outbox through the connector."""

from engine.sync import (
    CycleReport,
    Decider,
    Decision,
    DecisionContext,
    NeedsReauthError,
    SyncEngine,
    SyncOptions,
)

__all__ = [
    "CycleReport",
    "Decider",
    "Decision",
    "DecisionContext",
    "NeedsReauthError",
    "SyncEngine",
    "SyncOptions",
]
