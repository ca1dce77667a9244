"""The statement inbox: camt.053, BAI2 and MT940 files an admin (or the bank's SFTP job) drops in a
folder, imported once each into the store, whose credit lines the matcher then applies like payments.

A file is known by the SHA-256 of its content, so the same statement dropped twice, or renamed,
adds nothing. A file that cannot be read is quarantined with the reason (in ``arbridge status``) and
the cycle goes on.

Once the store holds a file's outcome, the file leaves the inbox: to ``imported/``, or to
``rejected/`` with a ``.reason.txt`` beside it. The move comes after the commit, so a crash in
between leaves a file the next cycle knows by its hash and only moves.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.cashapp.bank import RejectedLine, StatementError, iter_statement, sniff_format
from rules.cashapp.model import PaymentInput
from store import StateStore
from store.cashapp import CashAppState

log = logging.getLogger("arbridge.statements")

IMPORTED = "imported"
REJECTED = "rejected"
REASON_SUFFIX = ".reason.txt"


@dataclass
class InboxReport:
    """What one look at the inbox did."""

    files: int = 0
    lines: int = 0
    quarantined: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)


def line_to_json(line: PaymentInput) -> dict[str, Any]:
    """A statement line as the store keeps it (money as a decimal string)."""
    return {
        "payment_id": line.payment_id,
        "date": line.date.isoformat(),
        "amount": str(line.amount),
        "currency": line.currency,
        "customer_id": line.customer_id,
        "payer_name": line.payer_name,
        "payer_account": line.payer_account,
        "reference": line.reference,
    }


class StatementInbox:
    """One folder of statement files feeding one connection's cash application."""

    def __init__(self, store: StateStore, connection: str, folder: Path) -> None:
        self.store = store
        self.connection = connection
        self.folder = folder
        self.state = CashAppState(store)

    def import_new(self, run_id: str | None = None) -> InboxReport:
        """Import every file not seen before, quarantine those that cannot be read, and move each
        file out of the inbox once the store holds its outcome."""
        report = InboxReport()
        if not self.folder.is_dir():
            log.warning(
                "statement inbox %s does not exist", self.folder, extra={"connection": self.connection}
            )
            return report
        for path in sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            try:
                digest, head = _digest(path)
            except OSError as exc:  # a file still being copied in, or unreadable: next cycle
                log.warning(
                    "cannot read statement %s: %s", path.name, exc, extra={"connection": self.connection}
                )
                continue
            known = self.state.statement(self.connection, digest)
            if known is None:
                reason = self._import(path, head, digest, report, run_id)
            else:  # imported or quarantined before, maybe by a cycle that stopped before moving it
                reason = (known["reason"] or "quarantined") if known["status"] == "quarantined" else None
            moved = self._move_out(path, reason)
            if moved is not None:
                report.moved.append(str(moved.relative_to(self.folder)))
        return report

    def _import(
        self, path: Path, head: bytes, digest: str, report: InboxReport, run_id: str | None
    ) -> str | None:
        """Read and store one new file; returns why it was quarantined, or None when imported.

        The lines go into the store as they are read (a camt.053 of any size is streamed), with the
        lines set aside, the file's record and its audit entry, all in one transaction.
        """
        fmt = sniff_format(head)
        reason: str | None = "not a camt.053, BAI2 or MT940 statement" if fmt == "csv" else None
        if reason is None:
            try:
                with self.store.transaction() as conn:
                    self._store_lines(path, fmt, digest, report, run_id, conn)
                return None
            except (StatementError, ValueError, KeyError, IndexError, UnicodeDecodeError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
        with self.store.transaction() as conn:
            self.state.import_statement(
                self.connection, digest, file_name=path.name, fmt=None if fmt == "csv" else fmt,
                lines=(), reason=reason, run_id=run_id, conn=conn,
            )  # fmt: skip
            self.store.audit(
                "statement_quarantined",
                connection=self.connection,
                run_id=run_id,
                subject=path.name,
                detail={"sha256": digest, "reason": reason},
                conn=conn,
            )
        report.quarantined.append(f"{path.name}: {reason}")
        log.warning(
            "statement %s quarantined: %s",
            path.name,
            reason,
            extra={"connection": self.connection, "run_id": run_id, "event": "quarantined"},
        )
        return reason

    def _store_lines(
        self, path: Path, fmt: str, digest: str, report: InboxReport, run_id: str | None, conn: Any
    ) -> None:
        rejected: list[RejectedLine] = []
        read = [0]

        def usable() -> Iterator[dict[str, Any]]:
            for item in iter_statement(path):
                if isinstance(item, RejectedLine):
                    rejected.append(item)
                    continue
                read[0] += 1
                yield line_to_json(item)

        added = self.state.import_statement(
            self.connection, digest, file_name=path.name, fmt=fmt, lines=usable(), run_id=run_id, conn=conn
        )
        for line in rejected:
            # One bad line is set aside with where it is and why; the file's other lines count.
            self.store.quarantine_item(
                self.connection,
                "bank_statements",
                f"{path.name}: {line.where}"[:200],
                line.reason,
                run_id=run_id,
                conn=conn,
            )
            report.quarantined.append(f"{path.name}: {line}")
            log.warning(
                "statement %s: line set aside: %s",
                path.name,
                line,
                extra={"connection": self.connection, "run_id": run_id, "event": "quarantined"},
            )
        report.files += 1
        report.lines += added
        self.store.audit(
            "statement_imported",
            connection=self.connection,
            run_id=run_id,
            subject=path.name,
            detail={
                "sha256": digest,
                "format": fmt,
                "lines": read[0],
                "new_lines": added,
                "rejected": [str(r) for r in rejected],
            },
            conn=conn,
        )

    def _move_out(self, path: Path, reason: str | None) -> Path | None:
        """Move a file whose outcome is stored to imported/ or rejected/; None if it could not be."""
        folder = self.folder / (REJECTED if reason else IMPORTED)
        try:
            folder.mkdir(exist_ok=True)
            target = move_without_overwriting(path, folder, keep_free=(REASON_SUFFIX,) if reason else ())
            if reason:
                (folder / (target.name + REASON_SUFFIX)).write_text(reason + "\n", encoding="utf-8")
        except OSError as exc:
            # The store already knows the file by its hash, so leaving it costs a retry next cycle.
            log.warning(
                "cannot move statement %s to %s: %s",
                path.name,
                folder,
                exc,
                extra={"connection": self.connection},
            )
            return None
        return target


def _digest(path: Path) -> tuple[str, bytes]:
    """The SHA-256 of a file, read in chunks, and its first bytes (to tell its format)."""
    sha = hashlib.sha256()
    head = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if not head:
                head = chunk[:4096]
            sha.update(chunk)
    return sha.hexdigest(), head


def move_without_overwriting(path: Path, folder: Path, keep_free: tuple[str, ...] = ()) -> Path:
    """Move a file into a folder under its name, or with ``-1``, ``-2``, ... before its extension when
    taken; a name is also taken when one of ``keep_free`` appended to it exists. Returns where it went.
    """
    for n in range(10_000):
        name = path.name if n == 0 else f"{path.stem}-{n}{path.suffix}"
        target = folder / name
        if any((folder / (name + extra)).exists() for extra in keep_free):
            continue
        try:
            _move_exclusive(path, target)
        except FileExistsError:
            continue
        return target
    raise OSError(f"no free name for {path.name} in {folder}")


def _move_exclusive(path: Path, target: Path) -> None:
    # A hard link fails when the target exists, where a rename would silently replace it.
    try:
        os.link(path, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise FileExistsError(target) from None
        path.rename(target)
        return
    path.unlink()
