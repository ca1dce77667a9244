"""The matcher's open documents and customers, kept in the process from one run to the next.

A run that matches what changed needs every open document (a payment that names no customer may
take any customer's) and every customer; reading and indexing them from the store costs more than
matching a thousand payments. So they are kept here after a run, with the mark that run left in the
store, and the next run in this process brings them up to date with the records it finds changed,
exactly as it brings the store's ``cashapp_open_documents`` up to date. They are used only while the
store's mark is the one they were kept with: after another process's run, a full run or a run that
did not finish, they are read from the store again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rules.cashapp import CustomerIndex, DocumentIndex
from rules.cashapp.model import OpenDocument

STREAMS = ("invoices", "credit_memos")


@dataclass
class KeptBook:
    """The open documents (by stream and id, ids in the order a full read sees them) and customers."""

    mark: dict[str, Any]
    documents: dict[str, dict[str, OpenDocument]]
    order: dict[str, list[str]]
    customers: CustomerIndex | None = None
    # The learned aliases' digest ``customers`` was built with.
    aliases: str | None = None
    _added: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, mark: dict[str, Any], documents: Iterable[tuple[str, OpenDocument]]) -> KeptBook:
        """A book of these ``(stream, document)``, in step with ``mark``."""
        by: dict[str, dict[str, OpenDocument]] = {s: {} for s in STREAMS}
        for stream, doc in documents:
            by[stream][doc.doc_id] = doc
        return cls(mark, by, {s: sorted(docs) for s, docs in by.items()})

    def apply(self, opened: Iterable[tuple[str, OpenDocument]], closed: Iterable[tuple[str, str]]) -> None:
        """Bring the documents up to date: those now open replace what was kept, the closed go."""
        for stream, doc in opened:
            docs = self.documents[stream]
            if doc.doc_id not in docs:
                self._added.setdefault(stream, []).append(doc.doc_id)
            docs[doc.doc_id] = doc
        gone: dict[str, set[str]] = {}
        for stream, rid in closed:
            if self.documents.get(stream, {}).pop(rid, None) is not None:
                gone.setdefault(stream, set()).add(rid)
        for stream, ids in gone.items():
            self.order[stream] = [i for i in self.order[stream] if i not in ids]
            self._added[stream] = [i for i in self._added.get(stream, []) if i not in ids]

    def index(self) -> DocumentIndex:
        """A fresh index of the open documents, each with all of its open amount (the last run's
        applications consumed some) and in the order a full read gives them."""
        for stream, added in self._added.items():
            # A sorted list and a short tail: the sort merges them in one pass.
            self.order[stream].extend(added)
            self.order[stream].sort()
        self._added.clear()
        docs = [self.documents[s][i] for s in STREAMS for i in self.order[s]]
        for doc in docs:
            doc.remaining = doc.open_amount
        return DocumentIndex(docs)


class _Shelf:
    """The books kept in this process, one per store and connection."""

    def __init__(self) -> None:
        self._books: dict[tuple[str, str], KeptBook] = {}
        self._lock = threading.Lock()

    def take(self, store_url: str, connection: str, mark: dict[str, Any] | None) -> KeptBook | None:
        """The connection's book if it is in step with ``mark``; it is no longer kept either way
        (a run that stops half-way must not leave a book half brought up to date)."""
        with self._lock:
            book = self._books.pop((store_url, connection), None)
        return book if book is not None and mark is not None and book.mark == mark else None

    def keep(self, store_url: str, connection: str, book: KeptBook) -> None:
        with self._lock:
            self._books[(store_url, connection)] = book


BOOKS = _Shelf()
