"""Write-back: what the ERP should show on each invoice after a dunning decision."""

from __future__ import annotations

from mapping.models import CollectionStatus, CollectionStatusUpdate, TargetType
from rules.dunning.planner import PlannedAction, Skip, SkipCode

__all__ = ["to_operations"]

# Pauses an ERP user should see on the invoice, as the status that names them.
_PAUSE_STATUS = {
    SkipCode.DISPUTED: CollectionStatus.DISPUTED,
    SkipCode.PROMISE_TO_PAY: CollectionStatus.PROMISED,
    SkipCode.INVOICE_DUNNING_BLOCK: CollectionStatus.ON_HOLD,
    SkipCode.CUSTOMER_DUNNING_BLOCK: CollectionStatus.ON_HOLD,
    SkipCode.CREDIT_MEMO_PENDING: CollectionStatus.ON_HOLD,
}


def to_operations(action: PlannedAction | Skip) -> list[CollectionStatusUpdate]:
    """The invoice-level write-back of a planned action (or of a pause).

    A planned action sets, on every invoice it lists, the level sent, the collection status of that
    level and the earliest date of the next level, so ERP users see the dunning state on the invoice
    itself. A pause (dispute, promise, dunning block, pending credit memo) sets the status that names
    it, with the end of the pause as next action date where known. Waits and other skips change
    nothing in the ERP and give no operation.

    The operations carry no idempotency key: the outbox derives it from their content, so writing
    the same state twice is recognised as the same operation.

    Args:
        action: a planned action or a skip from the planner.

    Returns:
        One ``CollectionStatusUpdate`` per invoice concerned (possibly none).
    """
    if isinstance(action, PlannedAction):
        return [
            CollectionStatusUpdate(
                target_type=TargetType.INVOICE,
                target_id=invoice_id,
                collection_status=action.status,
                dunning_level=action.level,
                next_action_date=action.next_action_date,
                reason=action.reason[:1000],
            )
            for invoice_id in action.invoice_ids
        ]
    status = _PAUSE_STATUS.get(action.skipped)
    if status is None:
        return []
    return [
        CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id=invoice_id,
            collection_status=status,
            next_action_date=action.until,
            reason=action.reason[:1000],
        )
        for invoice_id in action.invoice_ids
    ]
