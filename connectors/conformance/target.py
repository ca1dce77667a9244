"""What an integrator implements to run the conformance kit against a connector and its ERP."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

from connectors.base import Connector
from mapping.models import Operation, Stream


class ConformanceTarget(abc.ABC):
    """A connector together with a test ERP (a sandbox, a fake, a folder) the kit can drive.

    The kit builds one target per test with a fresh, empty ``workdir``. Construct the ERP's test
    data there (or point at a sandbox) and keep it small: the kit reads every stream in full.

    Attributes:
        connector_name: the connector's entry-point name in ``arbridge.connectors``.
    """

    connector_name: ClassVar[str]

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    @abc.abstractmethod
    def make_connector(self) -> Connector:
        """A new connector for the test ERP, as the engine would build it (a new one per call)."""

    @abc.abstractmethod
    def change_records(self, stream: Stream, n: int) -> list[str]:
        """Change ``n`` existing records of ``stream`` in the ERP, as a user would.

        Returns:
            the ``remote_id`` of every changed record.
        """

    @abc.abstractmethod
    def sample_operation(self) -> Operation:
        """An operation the connector can write, valid for a record that exists in the ERP."""

    @abc.abstractmethod
    def effects(self, key: str) -> int:
        """How many times the ERP applied the operation written with idempotency key ``key``."""

    @abc.abstractmethod
    def make_stale(self, op: Operation) -> None:
        """Change ``op``'s target in the ERP so that its current version is no longer the one read."""

    def secrets(self) -> list[str]:
        """Sentinel secret values the connector is configured with; none may ever be shown.

        Return an empty list when the connector has no secrets (the secrets test is then skipped).
        """
        return []

    def reject_auth(self) -> None:
        """Make the ERP refuse the connector's credentials from now on.

        Raises:
            NotImplementedError: the test ERP cannot do that (the auth test is then skipped).
        """
        raise NotImplementedError

    def cleanup(self) -> None:  # noqa: B027 - an optional hook, not a required method
        """Release what the target created (sandbox sessions, registry entries)."""
