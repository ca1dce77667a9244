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

    def existing_ids(self, stream: Stream) -> set[str]:
        """The ``remote_id`` of every record of ``stream`` the ERP holds now: what a full read must return.

        Voided and deleted records the ERP still lists belong here (they arrive ``deleted=True``).
        Read them from the test ERP itself (its database, its own listing), never through the
        connector. The completeness checks fail without this hook.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def change_records(self, stream: Stream, n: int) -> list[str]:
        """Change ``n`` existing records of ``stream`` in the ERP, as a user would.

        Returns:
            the ``remote_id`` of every changed record.
        """

    def change_records_at_one_time(self, stream: Stream) -> list[str]:
        """Change more records of ``stream`` than one page holds, all with one modification time.

        As a batch job or an import does. The kit resumes a read at every page boundary inside
        the group and checks that no record of it is lost.

        Returns:
            the ``remote_id`` of every changed record.

        Raises:
            NotImplementedError: the test ERP cannot (the check is then skipped).
        """
        raise NotImplementedError

    def delete_record(self, stream: Stream) -> str:
        """Delete or void one record of ``stream`` in the ERP, as a user would; return its ``remote_id``.

        Raises:
            NotImplementedError: the ERP cannot delete or void a record of this stream (the check
                is then skipped for it).
        """
        raise NotImplementedError

    def break_record(self, stream: Stream) -> tuple[str, str]:
        """Store one record of ``stream`` the connector cannot map (a date that is no date, say).

        Returns:
            its ``remote_id``, and the field the connector's ``Reject.field_path`` must name
            (the ERP's field name or the canonical one, as the connector reports it).

        Raises:
            NotImplementedError: the test ERP cannot hold such a record (the check is then skipped).
        """
        raise NotImplementedError

    def throttle(self, retry_after: int) -> int | None:
        """Make the ERP refuse every call from now on as its rate limit does.

        Args:
            retry_after: the wait to announce where the ERP announces one (``Retry-After``).

        Returns:
            the seconds the ERP's answers announce, or None when its throttling answer says no wait.

        Raises:
            NotImplementedError: the test ERP cannot throttle (the check is then skipped).
        """
        raise NotImplementedError

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
