"""Notes in Business Central: comment lines of the customer, through the extension's page.

A collector's note becomes comment lines of the customer (table 97 "Comment Line", the lines the
customer card's Comments action shows), written through the extension's ``customerComments``
page (version 1.2 and later). A comment holds 80 characters, so a note is wrapped over several
lines, all in one ``$batch`` with snapshot isolation: BC keeps every line of a note or none. Each
line's Code (hidden on the Comment Sheet unless a user shows it) carries a marker of the outbox
key; a resend looks the customer's lines up first and finds the marker instead of adding the
note twice.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from connectors.base import (
    BadRecordError,
    ConflictError,
    ConnectorError,
    OutboundOp,
    PermanentError,
    TransientError,
    WriteResult,
)
from connectors.odata import BatchRequest, ODataClient, literal
from mapping.models import Note, TargetType

__all__ = ["COMMENT_MAX", "CustomerComments", "comment_code_for", "comment_lines"]

EXTENSION_ROUTE = "arbridge/collections/v1.0"
COMMENT_MAX = 80  # Comment Line.Comment is Text[80]
LINE_STEP = 10_000  # the Comment Sheet numbers lines in steps of 10000
MISSING_PAGE = (
    "the arbridge extension has no customerComments page: install version 1.2 or later to write "
    "notes, or set note_mode: off"
)


def comment_code_for(key: str) -> str:
    """The Code of every comment line of one note (Comment Line.Code is Code[10], upper case)."""
    return "ARB" + hashlib.sha256(key.encode()).hexdigest()[:7].upper()


def comment_lines(text: str) -> list[str]:
    """A note as comment lines of at most 80 characters, its own line breaks kept."""
    out: list[str] = []
    for paragraph in text.splitlines():
        out.extend(textwrap.wrap(paragraph, COMMENT_MAX, break_long_words=True, break_on_hyphens=False))
    return out or [text.strip()[:COMMENT_MAX]]


class CustomerComments:
    """Writes notes as a customer's comment lines and finds them again.

    Args:
        client: the connection's OData client.
        path: builds a company-scoped path: ``path(route, entity_set, key)``.
        enabled: False when the connection's ``note_mode`` is ``off``.
    """

    def __init__(self, client: ODataClient, path: Callable[..., str], *, enabled: bool = True) -> None:
        self.client = client
        self.path = path
        self.enabled = enabled

    def has_page(self) -> bool:
        """Whether the installed extension serves ``customerComments`` (version 1.2 and later)."""
        try:
            self.client.json("GET", self.path(EXTENSION_ROUTE, "customerComments"), params={"$top": "1"})
        except ConnectorError as exc:
            if exc.erp_code == "BadRequest_ResourceNotFound":
                return False
            raise
        return True

    def _customer_number(self, op: Note) -> str:
        if not self.enabled:
            raise PermanentError("note write-back is off for this connection (note_mode: off)")
        if op.target_type is not TargetType.CUSTOMER:
            raise BadRecordError(
                f"Business Central keeps comment lines on customers: a note on a {op.target_type.value} "
                "is not written"
            )
        raw = self.client.entity(self.path(EXTENSION_ROUTE, "customers", op.target_id))
        if raw is None:
            raise BadRecordError(f"customer {op.target_id} does not exist in Business Central (deleted?)")
        return str(raw["number"])

    def _lines_of(self, number: str) -> list[dict[str, Any]]:
        try:
            data = self.client.json(
                "GET",
                self.path(EXTENSION_ROUTE, "customerComments"),
                params={"$filter": f"customerNumber eq {literal(number)}"},
            )
        except ConnectorError as exc:
            if exc.erp_code == "BadRequest_ResourceNotFound":
                raise PermanentError(MISSING_PAGE, erp_code=exc.erp_code) from exc
            raise
        return [r for r in data.get("value") or [] if isinstance(r, dict)]

    def write(self, outs: Sequence[OutboundOp]) -> dict[str, WriteResult]:
        """Each note in its own ``$batch`` (all its lines or none), in the order given."""
        results: dict[str, WriteResult] = {}
        for out in outs:
            try:
                results[out.key] = self._write_one(out)
            except ConnectorError as exc:
                results[out.key] = WriteResult(out.key, False, error=exc)
        return results

    def _write_one(self, out: OutboundOp) -> WriteResult:
        op = out.op
        assert isinstance(op, Note)
        number = self._customer_number(op)
        existing = self._lines_of(number)
        code = comment_code_for(out.key)
        mine = [r for r in existing if r.get("commentCode") == code]
        if mine:
            return WriteResult(out.key, True, remote_id=str(mine[0]["id"]), duplicate=True)
        last = max((int(r.get("lineNumber") or 0) for r in existing), default=0)
        url = self.client.url(self.path(EXTENSION_ROUTE, "customerComments"))
        body: dict[str, Any] = {"customerNumber": number, "commentCode": code}
        if op.decided_on:
            body["commentDate"] = op.decided_on.isoformat()
        requests = [
            BatchRequest(
                str(n), "POST", url, body={**body, "lineNumber": last + LINE_STEP * n, "comment": line}
            )
            for n, line in enumerate(comment_lines(op.text), start=1)
        ]
        answers = self.client.batch(requests, path=f"{EXTENSION_ROUTE}/$batch", isolation=True)
        failed = next((answers[r.id] for r in requests if not answers[r.id].ok), None)
        if failed is None:
            first = answers[requests[0].id].body
            return WriteResult(
                out.key, True, remote_id=str(first.get("id")) if isinstance(first, dict) else None
            )
        error = failed.error() or TransientError(f"HTTP {failed.status} without an error body")
        if isinstance(error, ConflictError):
            # A user added a comment line between the read and the write: the line numbers were
            # taken and nothing was kept; the next attempt reads the lines again.
            error = TransientError(f"the customer's comment lines changed meanwhile: {error.message}")
        return WriteResult(out.key, False, error=error)

    def find_written(self, out: OutboundOp) -> WriteResult | None:
        """Whether the note's lines are among the customer's comment lines (by their Code)."""
        assert isinstance(out.op, Note)
        try:
            number = self._customer_number(out.op)
        except ConnectorError:
            return None
        code = comment_code_for(out.key)
        mine = [r for r in self._lines_of(number) if r.get("commentCode") == code]
        if mine:
            return WriteResult(out.key, True, remote_id=str(mine[0]["id"]), duplicate=True)
        return WriteResult(out.key, False)
