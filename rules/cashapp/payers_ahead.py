"""Who paid, found in a second process while the documents file is read.

On a large file run (a hundred thousand payments against a million documents) reading the documents
and identifying the payers take a few seconds each, and neither needs the other: identifying reads
the customers and the payments only. On a machine with a second core, a process started first reads
those two files and identifies the payers while the run reads the documents; the run then keeps what
it found (:func:`~rules.cashapp.identify.keep_found_payers`) and identifies nothing itself.

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
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from rules.cashapp.identify import Payer, identify_all, keep_found_payers
from rules.cashapp.model import PaymentInput
from rules.cashapp.payers import CustomerIndex
from rules.cashapp.settings import MatchRules

# Below this size of payments file, identifying them takes less than starting a second Python.
MIN_PAYMENTS_BYTES = 2_000_000

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
        with stdin:
            pickle.dump((customers, payments, rules), stdin)

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
        """Wait for the payers and keep them in ``customers`` for ``payments`` (read by the run from the
        same files); False, keeping nothing, when they cannot be trusted to be the ones of ``payments``."""
        stdout = self._process.stdout
        assert stdout is not None
        try:
            message = pickle.load(stdout)
        except Exception:  # the process died, or wrote something else: the run identifies them itself
            return False
        finally:
            self.close()
        if not isinstance(message, tuple) or len(message) != 3:
            return False
        signatures, count, found = message
        if signatures != self._signatures or signatures != tuple(map(_signature, self._files)):
            return False
        items = [p for p in payments if p.amount > 0]
        if count != len(items) or len(found) != count:
            return False
        keep_found_payers(items, found, customers, rules)
        return True

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


def _identify_files(customers_path: Path, payments_path: Path, rules: MatchRules, out: BinaryIO) -> None:
    """In the second process: read both files, identify every payer, write them with what was read."""
    from rules.cashapp.files import load_customers, load_payments, without_cycle_collection

    try:
        with without_cycle_collection():
            signatures = (_signature(customers_path), _signature(payments_path))
            customers = load_customers(customers_path)
            # Rows the run skips are skipped here alike; a file that stops the run stops this too.
            items = [p for p in load_payments(payments_path, []) if p.amount > 0]
            found: list[Payer] = identify_all(items, customers, rules)
            message: object = (signatures, len(items), found)
    except Exception as exc:  # the run identifies the payers itself, and reports any bad row
        message = ("failed", repr(exc))
    pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


if __name__ == "__main__":
    customers_file, payments_file, match_rules = pickle.load(sys.stdin.buffer)
    _identify_files(customers_file, payments_file, match_rules, sys.stdout.buffer)
