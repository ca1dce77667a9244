"""The memory connector: a generated in-memory ERP for tests and benchmarks."""

from connectors.memory.connector import MemoryConnector, MemoryErp, MemorySettings

__all__ = ["MemoryConnector", "MemoryErp", "MemorySettings"]
