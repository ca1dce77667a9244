"""Who paid, found in a second process while the documents file is read.

On a large file run (a hundred thousand payments against a million documents) reading the documents
and identifying the payers take a few seconds each, and neither needs the other: identifying reads
the customers and the payments only. On a machine with a second core, a process started first reads
those two files and identifies the payers while the run reads the documents. It sends them in
batches, in the order the run decides the payments (by date), the first a small one: the run starts
deciding as soon as the first batch is in, and takes the next when a payment needs it
(:meth:`~rules.cashapp.payers.CustomerIndex.keep_payers`). The run identifies nothing itself. The
numbers each payment's reference quotes come with its payer (:attr:`PayersAhead.reference_keys`), so
the run does not read the references for them either.

Whatever goes wrong on the way (no second core, a process that cannot start or dies, a file changed
between the two reads, a row the second process read differently) costs only the time: the run then
identifies the payers itself, as it would without this, and a bad file is reported by the run's own
read with its line.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from array import array
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from rules.cashapp.identify import Payer, PayerHit, identify_all, payer_keys
from rules.cashapp.model import PaymentInput
from rules.cashapp.normalize import extract_number_keys_all
from rules.cashapp.payers import CustomerIndex
from rules.cashapp.settings import MatchRules

# Below this size of payments file (some 50,000 payments), a second Python saves no time: at 20,000
# payments against 200,000 documents it finished no sooner, for 40 % more processor time.
MIN_PAYMENTS_BYTES = 5_000_000
# The payments of the first batch sent; each next one is twice as many. A small first batch lets the
# run start deciding early; larger ones later cost less per payment.
FIRST_BATCH = 2_000

# What tells that a file is the one the other process read: its size and last change.
_Signature = tuple[int, int]


def _signature(path: Path) -> _Signature:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class PayersAhead:
    """The payers of a payments file, being identified in a second process (see the module docstring)."""

    def __init__(self, customers: Path, payments: Path, rules: MatchRules) -> None:
        """Start identifying; use :meth:`start`, which tells whether it is worth it."""
        self._files = (customers, payments)
        self._signatures = (_signature(customers), _signature(payments))
        # A fresh interpreter that imports this module alone (not a fork, which would inherit the
        # threads numpy and pyarrow start, whatever locks they hold; nor multiprocessing's spawn, which
        # imports the whole command line again). It imports the code this process runs.
        path = os.pathsep.join(os.path.abspath(entry) for entry in sys.path if entry)
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
        stdin = self._process.stdin
        assert stdin is not None
        # Once keep_in kept the payers: the number keys of each payment's reference, by position in
        # the payments it was given (what match_payments takes as reference_keys for them).
        self.reference_keys: _SentKeys | None = None
        with stdin:
            pickle.dump((customers, payments, rules, FIRST_BATCH), stdin)

    @classmethod
    def start(cls, customers: Path | None, payments: Path, rules: MatchRules) -> PayersAhead | None:
        """Start identifying the payers of ``payments`` when that can save time: a customers file, a
        payments file of at least :data:`MIN_PAYMENTS_BYTES`, and a second core. None otherwise, or
        when the process cannot be started."""
        if customers is None or _cores() < 2:
            return None
        try:
            if payments.stat().st_size < MIN_PAYMENTS_BYTES:
                return None
            return cls(customers, payments, rules)
        except OSError:
            return None

    def keep_in(self, customers: CustomerIndex, payments: Sequence[PaymentInput], rules: MatchRules) -> bool:
        """Keep the payers in ``customers`` for ``payments`` (read by the run from the same files) as they
        arrive, and their references' number keys in :attr:`reference_keys`; False, keeping nothing,
        when they cannot be trusted to be the ones of ``payments``."""
        header = self._next()
        if not isinstance(header, tuple) or len(header) != 2:
            self.close()
            return False
        signatures, count = header
        # The position in ``payments`` of each payment the other process identifies (the receipts).
        where = [i for i, p in enumerate(payments) if p.amount > 0]
        items = list(map(payments.__getitem__, where))
        if signatures != self._signatures or signatures != tuple(map(_signature, self._files)) \
                or count != len(items):
            self.close()
            return False
        keys = payer_keys(items)
        kept = _Arrived()
        ended = False

        def arriving() -> bool:
            nonlocal ended
            if ended:
                return False
            batch = self._next()
            if not isinstance(batch, tuple) or len(batch) != _BATCH_FIELDS:  # no more, or it died
                ended = True
                self.close()
                # Those it did not send (only if it stopped midway) are identified here, together.
                sent = kept.keys()
                missing = [p for p, key in zip(items, keys, strict=True) if key not in sent]
                if missing:
                    kept.add(payer_keys(missing), identify_all(missing, customers, rules))
                kept.complete()
                numbers.complete(items, rules.number_min_digits)
                return False
            positions, found, number_keys = _decoded(cast(_Batch, batch))
            kept.add(list(map(keys.__getitem__, positions)), found)
            numbers.add(positions, number_keys)
            return True

        numbers = _SentKeys(len(payments), where, arriving)
        customers.keep_payers(rules, kept, arriving)
        self.reference_keys = numbers
        return True

    def _next(self) -> object:
        """The next thing the process sent, or None when it sent no more (or something unreadable)."""
        stdout = self._process.stdout
        if stdout is None or stdout.closed:
            return None
        try:
            return pickle.load(stdout)
        except Exception:  # the process ended, or wrote something else: the run identifies them itself
            return None

    def close(self) -> None:
        """Stop the process if it still runs (the run failed or no longer needs it)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> PayersAhead:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


_Key = tuple[str | None, ...]


class _Arrived:
    """The payers sent so far, by their payments' keys (what
    :meth:`~rules.cashapp.payers.CustomerIndex.prepared_payer` asks for).

    They arrive in the order the run asks for them, so each is handed out by comparing the key asked
    for with the next one sent: a hundred thousand keys hashed into a dict and looked up again cost
    the run more than the comparisons. A key asked out of that order (asked again, or by another
    caller) is looked up in a dict of all of them, made then.
    """

    __slots__ = ("_by_key", "_complete", "_found", "_keys", "_next")

    def __init__(self) -> None:
        self._keys: list[_Key] = []
        self._found: list[Payer] = []
        self._next = 0
        self._by_key: dict[_Key, Payer] | None = None
        self._complete = False

    def add(self, keys: list[_Key], found: list[Payer]) -> None:
        """Keep the payers ``found`` of the payments of ``keys`` (in the order they will be asked for)."""
        self._keys += keys
        self._found += found
        if self._by_key is not None:
            self._by_key.update(zip(keys, found, strict=True))

    def complete(self) -> None:
        """No more will be added: a key not among those kept has no payer here."""
        self._complete = True

    def keys(self) -> set[_Key]:
        """The keys of the payers kept."""
        return set(self._keys)

    def get(self, key: _Key, /) -> Payer | None:
        """The payer kept for ``key``, if any (None too when the next one asked for is yet to come)."""
        at = self._next
        keys = self._keys
        if at < len(keys):
            if keys[at] == key:
                self._next = at + 1
                return self._found[at]
        elif not self._complete:
            # Asked for the next one, not yet sent: more are added before it is asked for again.
            return None
        if self._by_key is None:
            self._by_key = dict(zip(keys, self._found, strict=True))
        return self._by_key.get(key)


class _SentKeys:
    """The number keys of the payments' references (as
    :func:`~rules.cashapp.normalize.extract_number_keys` finds them), by position in the payments the
    run decides, as they arrive with the payers: asked for a payment's keys not sent yet, it takes the
    next batch. Those the other process did not send (only if it stopped midway) are found here."""

    __slots__ = ("_arriving", "_by_position", "_where")

    def __init__(self, count: int, where: list[int], arriving: Callable[[], bool]) -> None:
        """Keys for ``count`` payments, of which those at ``where`` are sent; ``arriving`` takes the next
        batch, and says whether more may come."""
        # None: still to come; a payment that is not a receipt (not sent) quotes nothing to look for.
        self._by_position: list[Sequence[str] | None] = [()] * count
        for i in where:
            self._by_position[i] = None
        self._where = where
        self._arriving = arriving

    def add(self, positions: list[int], keys: list[list[str]]) -> None:
        """Keep the ``keys`` of the receipts at ``positions`` (counted among the receipts only)."""
        by_position = self._by_position
        for i, found in zip(map(self._where.__getitem__, positions), keys, strict=True):
            by_position[i] = found

    def complete(self, receipts: list[PaymentInput], min_digits: int) -> None:
        """No more will be added: find the keys of the ``receipts`` not sent, together."""
        by_position = self._by_position
        missing = [(i, p) for i, p in zip(self._where, receipts, strict=True) if by_position[i] is None]
        found = extract_number_keys_all([p.reference for _, p in missing], min_digits)
        for (i, _), keys in zip(missing, found, strict=True):
            by_position[i] = keys

    def __call__(self, position: int) -> Sequence[str]:
        """The keys of the payment at ``position``, waiting for its batch if it has not come yet."""
        keys = self._by_position[position]
        return self._when_arrived(position) if keys is None else keys

    def _when_arrived(self, position: int) -> Sequence[str]:
        by_position = self._by_position
        while by_position[position] is None and self._arriving():
            pass
        keys = by_position[position]
        assert keys is not None  # when no more came, complete() found those not sent
        return keys


# A batch as sent: the positions of its payments (int64), which of them have a hit (a byte each), and
# those hits by field (customer ids and texts joined, or a list when a text holds the separator; scores
# as float64; sources numbered in a table of them); then, by position in the batch, the notes, ties and
# rivals of those that have any; last, the number keys of each payment's reference, joined by a space
# and the payments' by a line break (keys are digits: neither is ever part of one). A few large
# values pickle and unpickle in a fraction of the time of a hundred thousand small objects, and the run
# makes the payers from them with C-speed loops.
_Scored = list[tuple[float, str]]
_Batch = tuple[bytes, bytes, str | list[str], bytes, str | list[str], list[str], bytes,
               list[tuple[int, str, _Scored, _Scored]], str]
_BATCH_FIELDS = 9
# Joins the customer ids and texts of a batch.
_SEP = "\x00"
_hit = attrgetter("hit")
_customer_id = attrgetter("customer_id")
_score = attrgetter("score")
_how = attrgetter("how")
_source = attrgetter("source")


def _joined(texts: list[str]) -> str | list[str]:
    joined = _SEP.join(texts)
    return joined if joined.count(_SEP) == len(texts) - 1 else texts


def _split(texts: str | list[str]) -> list[str]:
    return texts.split(_SEP) if isinstance(texts, str) else texts


def _encoded(positions: list[int], found: list[Payer], number_keys: list[tuple[str, ...]]) -> _Batch:
    """A batch of payers and their references' number keys as the second process sends it."""
    hits = list(map(_hit, found))
    sure: list[PayerHit] = [hit for hit in hits if hit is not None]
    sources = list(map(_source, sure))
    table = list(dict.fromkeys(sources))
    codes = bytes(map({source: i for i, source in enumerate(table)}.__getitem__, sources))
    rich = [(i, payer.note, payer.ties, payer.rivals) for i, payer in enumerate(found)
            if payer.note or payer.ties or payer.rivals]
    return (array("q", positions).tobytes(), bytes([hit is not None for hit in hits]),
            _joined(list(map(_customer_id, sure))), array("d", map(_score, sure)).tobytes(),
            _joined(list(map(_how, sure))), table, codes, rich, "\n".join(map(" ".join, number_keys)))


def _decoded(batch: _Batch) -> tuple[list[int], list[Payer], list[list[str]]]:
    """The positions of a batch :func:`_encoded` made, and the payers and number keys of their payments."""
    positions_sent, has_hit, customer_ids, scores_sent, hows, table, codes, rich, number_keys = batch
    positions, scores = array("q"), array("d")
    positions.frombytes(positions_sent)
    scores.frombytes(scores_sent)
    made = iter(list(map(PayerHit, _split(customer_ids), scores.tolist(), _split(hows),
                         map(table.__getitem__, codes))))
    hits = [next(made) if sure else None for sure in has_hit]
    # Nobody changes a payer's ties or rivals: those without any share one empty list.
    none: _Scored = []
    found = list(map(Payer, hits, repeat(""), repeat(none), repeat(none)))
    for i, note, ties, rivals in rich:
        found[i] = Payer(hits[i], note, ties, rivals)
    keys = list(map(str.split, number_keys.split("\n"))) if has_hit else []
    return positions.tolist(), found, keys


def _read_files(customers_path: Path, payments_path: Path) -> tuple[tuple[_Signature, _Signature],
                                                                   CustomerIndex, list[PaymentInput]] | None:
    """In the second process: both files as the run reads them (the payments it decides), and what
    tells that they are the ones it reads; None when they cannot be read."""
    from rules.cashapp.files import load_customers, load_payments

    try:
        signatures = (_signature(customers_path), _signature(payments_path))
        customers = load_customers(customers_path)
        # Rows the run skips are skipped here alike; a file that stops the run stops this too.
        return signatures, customers, [p for p in load_payments(payments_path, []) if p.amount > 0]
    except Exception:  # the run reports the bad file, with its line, and identifies the payers
        return None


def _identify_files(read: tuple[tuple[_Signature, _Signature], CustomerIndex, list[PaymentInput]],
                    rules: MatchRules, first_batch: int, out: BinaryIO) -> None:
    """In the second process: send what was read, then the payers in batches."""
    signatures, customers, items = read
    _send(out, (signatures, len(items)))
    # The order the run decides them in (rules.cashapp.matcher.match_payments): by date, stable.
    order = sorted(range(len(items)), key=[p.date for p in items].__getitem__)
    size, start = first_batch, 0
    while start < len(order):
        positions = order[start:start + size]
        batch = [items[i] for i in positions]
        number_keys = extract_number_keys_all([p.reference for p in batch], rules.number_min_digits)
        _send(out, _encoded(positions, identify_all(batch, customers, rules), number_keys))
        start, size = start + size, size * 2


def _send(out: BinaryIO, message: object) -> None:
    pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


if __name__ == "__main__":
    from rules.cashapp.files import without_cycle_collection

    customers_file, payments_file, match_rules, batch = pickle.load(sys.stdin.buffer)
    with without_cycle_collection():
        files_read = _read_files(customers_file, payments_file)
        if files_read is not None:
            _identify_files(files_read, match_rules, batch, sys.stdout.buffer)
    # All is sent and flushed. Ending here, with what was read still held, spares freeing the
    # customers' index and the payments object by object (the run may still be deciding on the
    # other core).
    os._exit(0)
