"""The statement inbox: camt.053, BAI2 and MT940 files an admin (or the bank's SFTP job) drops in a
folder, imported once each into the store, whose credit lines the matcher then applies like payments.

A file is known by the SHA-256 of its content, so the same statement dropped twice, or renamed,
adds nothing. A file that cannot be read is quarantined with the reason (in ``arbridge status``) and
the cycle goes on.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.cashapp.bank import StatementError, read_statement, sniff_format
from rules.cashapp.model import PaymentInput
from store import StateStore
from store.cashapp import CashAppState

log = logging.getLogger("arbridge.statements")


@dataclass
class InboxReport:
    """What one look at the inbox did."""

    files: int = 0
    lines: int = 0
    quarantined: list[str] = field(default_factory=list)


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
        """Import every file not seen before; quarantine those that cannot be read."""
        report = InboxReport()
        if not self.folder.is_dir():
            log.warning(
                "statement inbox %s does not exist", self.folder, extra={"connection": self.connection}
            )
            return report
        for path in sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            try:
                content = path.read_bytes()
            except OSError as exc:  # a file still being copied in, or unreadable: next cycle
                log.warning(
                    "cannot read statement %s: %s", path.name, exc, extra={"connection": self.connection}
                )
                continue
            digest = hashlib.sha256(content).hexdigest()
            if self.state.statement_known(self.connection, digest):
                continue
            fmt = sniff_format(content[:4096])
            reason: str | None = None
            lines: list[PaymentInput] = []
            if fmt == "csv":
                reason = "not a camt.053, BAI2 or MT940 statement"
            else:
                try:
                    lines = read_statement(path)
                except (StatementError, ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
                    reason = str(exc) or type(exc).__name__
            added = self.state.import_statement(
                self.connection,
                digest,
                file_name=path.name,
                fmt=None if fmt == "csv" else fmt,
                lines=(line_to_json(x) for x in lines),
                reason=reason,
                run_id=run_id,
            )
            if reason:
                report.quarantined.append(f"{path.name}: {reason}")
                log.warning(
                    "statement %s quarantined: %s",
                    path.name,
                    reason,
                    extra={"connection": self.connection, "run_id": run_id, "event": "quarantined"},
                )
                self.store.audit(
                    "statement_quarantined",
                    connection=self.connection,
                    run_id=run_id,
                    subject=path.name,
                    detail={"sha256": digest, "reason": reason},
                )
                continue
            report.files += 1
            report.lines += added
            self.store.audit(
                "statement_imported",
                connection=self.connection,
                run_id=run_id,
                subject=path.name,
                detail={"sha256": digest, "format": fmt, "lines": len(lines), "new_lines": added},
            )
        return report
