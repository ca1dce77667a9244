"""The faulty connector: wraps another connector and injects faults, for reliability tests."""

from connectors.faulty.connector import FaultState, FaultyConnector, FaultySettings, InnerConnector

__all__ = ["FaultState", "FaultyConnector", "FaultySettings", "InnerConnector"]
