"""The payment model's chances behind the courtesy notice kept for customers likely to pay late.

A dunning policy with ``courtesy.only_likely_late`` asks who is likely to pay after the due date.
When the connection has a stored payment-date model (``engine.payment_model``), each invoice
falling due soon is judged by the model's chance that it is paid a day or more after its due date;
the planner judges the others (and every invoice when there is no model) from the customer's own
late share. The model is never fitted here: the daemon refits it on its own schedule.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from rules.dunning import DunningPolicy
from rules.dunning.planner import reads_payment_behaviour
from store import StateStore
from store.prediction_models import PredictionModels

__all__ = ["courtesy_late_chances"]

log = logging.getLogger("arbridge.rules")

# Open invoices due this much around the courtesy window are predicted: a customer's own calendar
# day may be a day before or after the planning day's.
_MARGIN = timedelta(days=1)


def courtesy_late_chances(
    store: StateStore, connection: str, policy: DunningPolicy, as_of: datetime
) -> dict[str, float] | None:
    """Per open invoice falling due within the courtesy window, the stored model's chance it is paid
    after its due date; None when the policy does not ask or the connection has no usable model.

    Nothing here stops a plan: a model that cannot be read or used is logged, and the planner
    judges from the records as it does without one.
    """
    if not reads_payment_behaviour(policy):
        return None
    try:
        row = PredictionModels(store).get(connection, with_model=False)
        if row is None or row.fitted_at is None:
            return None
        # Imported here: numpy and LightGBM load only for a connection that has a model.
        from engine.payment_model import load_books, stored_predictor

        terms = policy.policies[policy.default_policy].default_terms_days
        paid, still_open = load_books(store, connection, terms)
        predictor = stored_predictor(store, connection, paid)
        if predictor is None:
            return None
        window = max((p.courtesy.days_before_due for p in policy.policies.values() if p.courtesy), default=0)
        today = as_of.date()
        first = (today - _MARGIN).toordinal()
        last = (today + timedelta(days=window) + _MARGIN).toordinal()
        soon = still_open.take((still_open.due >= first) & (still_open.due <= last))
        if not len(soon):
            return {}
        chances = predictor.predict(soon, today).chance_paid_after_due()
        return {
            invoice: chance
            for invoice, chance in zip(soon.invoice_id.tolist(), chances.tolist(), strict=True)
            if chance == chance  # NaN: a baseline stood in for the model, the records judge instead
        }
    except Exception:
        log.exception(
            "the payment model's chances could not be read; the courtesy notice judges from the records",
            extra={"connection": connection, "event": "courtesy_chances_failed"},
        )
        return None
