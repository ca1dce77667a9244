"""From three quantiles of days late to a whole distribution, conditioned on what is known today.

The model gives the 10 %, 50 % and 90 % quantiles of days late. A two-piece Laplace distribution
(an exponential tail on each side of the median) passes exactly through all three; it is what
turns them into probabilities (paid more than 30 days late?) and weekly amounts for the forecast.
An invoice still open today is known to be paid no earlier than today, so everything is
conditioned on ``days late ≥ days already late``; the exponential right tail makes that step exact
and free of underflow even far into the tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Spread"]

_LN5 = float(np.log(5.0))
_LOG_HALF = float(np.log(0.5))
# The narrowest side a distribution may have (days): a customer who always pays on the same day
# still pays on a calendar that moves by a day now and then.
_MIN_SIDE = 0.5


@dataclass(frozen=True, slots=True)
class Spread:
    """Days-late distributions, one per invoice, with the days each one is already late.

    Attributes:
        median: the unconditional median of days late.
        left: the scale of the early side (days).
        right: the scale of the late side (days).
        floor: days already late today (``today - due``): the invoice is paid on that day or later.
    """

    median: np.ndarray
    left: np.ndarray
    right: np.ndarray
    floor: np.ndarray

    @classmethod
    def through(cls, q10: np.ndarray, q50: np.ndarray, q90: np.ndarray, floor: np.ndarray) -> Spread:
        """The distribution through three quantiles (crossed quantiles are put back in order)."""
        lo, mid, hi = np.sort(np.column_stack([q10, q50, q90]), axis=1).T
        left = np.maximum(mid - lo, _MIN_SIDE) / _LN5
        right = np.maximum(hi - mid, _MIN_SIDE) / _LN5
        return cls(mid, left, right, floor.astype(np.float64))

    def _log_survival(self, x: np.ndarray) -> np.ndarray:
        """log P(days late > x), unconditioned."""
        z = x - self.median
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            early = np.log1p(-0.5 * np.exp(np.minimum(z, 0.0) / self.left))
        return np.where(z < 0, early, _LOG_HALF - np.maximum(z, 0.0) / self.right)

    def survival(self, x: np.ndarray | float) -> np.ndarray:
        """P(days late > x | not paid before today)."""
        at = np.maximum(np.broadcast_to(np.asarray(x, dtype=np.float64), self.median.shape), self.floor)
        return np.exp(self._log_survival(at) - self._log_survival(self.floor))

    def quantile(self, p: float) -> np.ndarray:
        """The ``p`` quantile of days late given the invoice is not paid before today."""
        target = np.log1p(-p) + self._log_survival(self.floor)
        late_side = self.median + self.right * (_LOG_HALF - target)
        with np.errstate(invalid="ignore", divide="ignore"):
            early_side = self.median + self.left * np.log(2.0 * (1.0 - np.exp(np.minimum(target, 0.0))))
        return np.maximum(np.where(target <= _LOG_HALF, late_side, early_side), self.floor)
