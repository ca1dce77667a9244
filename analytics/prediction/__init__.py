"""Payment-date prediction: when each open invoice will be paid, how sure, and why.

Learned from a book's own paid invoices (``Predictor.fit``), measured against honest baselines
(``backtest``), and used by the cash forecast, the worklist and the dunning timing. See
``docs/prediction.md``.
"""

from analytics.prediction.backtest import Backtest, Score, backtest
from analytics.prediction.baselines import BASELINES, Baselines
from analytics.prediction.book import OPEN, Book, InvoiceRow
from analytics.prediction.files import BookFileError, read_book
from analytics.prediction.model import Predictions, Predictor

__all__ = [
    "BASELINES",
    "OPEN",
    "Backtest",
    "Baselines",
    "Book",
    "BookFileError",
    "InvoiceRow",
    "Predictions",
    "Predictor",
    "Score",
    "backtest",
    "read_book",
]
