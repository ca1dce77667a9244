"""A record the canonical model refuses is quarantined naming the field and the ERP path it came from,
also when the rule that refused it looks at several fields at once (a model-level check)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import model_validator

from mapping.fieldmap import FieldMap, MappingError
from mapping.models import RECORD_TYPES, Invoice, Stream

MAP = FieldMap(
    {
        "streams": {
            "invoices": {
                "fields": {
                    "remote_id": "Id",
                    "customer_remote_id": "CustomerRef.value",
                    "currency": "CurrencyRef.value",
                    "issue_date": "TxnDate",
                    "due_date": "DueDate",
                    "total": "TotalAmt",
                    "open_amount": "Balance",
                }
            },
            "payments": {
                "fields": {
                    "remote_id": "Id",
                    "currency": "CurrencyRef.value",
                    "date": "TxnDate",
                    "amount": "TotalAmt",
                    "unapplied_amount": "UnappliedAmt",
                    "allocations": {
                        "path": "Line",
                        "each": {
                            "target_type": {"const": "invoice"},
                            "target_id": "TxnId",
                            "amount": "Amount",
                        },
                    },
                }
            },
        }
    }
)
INVOICE = {
    "Id": "130",
    "CustomerRef": {"value": "58"},
    "CurrencyRef": {"value": "EUR"},
    "TxnDate": "2026-11-02",
    "DueDate": "2026-12-02",
    "TotalAmt": "1190.00",
    "Balance": "1190.00",
}
EXTRA: dict[str, Any] = {"remote_modified_at": "2026-11-02T10:00:00+00:00"}


class _OpenWithinTotal(Invoice):
    """A stricter invoice, as a rule across fields looks (its error has no location of its own)."""

    @model_validator(mode="after")
    def _open_within_total(self) -> _OpenWithinTotal:
        if self.open_amount > self.total:
            raise ValueError("open_amount is more than the invoice's total")
        return self


def test_a_check_across_fields_is_quarantined_at_the_field_its_message_names_with_its_erp_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(RECORD_TYPES, Stream.INVOICES, _OpenWithinTotal)

    with pytest.raises(MappingError) as caught:
        MAP.to_record(Stream.INVOICES, {**INVOICE, "Balance": "1500.00"}, **EXTRA)

    assert (caught.value.field, caught.value.path) == ("open_amount", "Balance")
    assert str(caught.value).startswith("invoices 130: open_amount (from Balance): ")


def test_an_amount_finer_than_its_currency_deep_in_a_payment_is_quarantined_at_its_nested_path() -> None:
    payment = {
        "Id": "77",
        "CurrencyRef": {"value": "EUR"},
        "TxnDate": "2026-11-20",
        "TotalAmt": "100.00",
        "UnappliedAmt": "0",
        "Line": [{"TxnId": "130", "Amount": "100.005"}],
    }

    with pytest.raises(MappingError) as caught:
        MAP.to_record(Stream.PAYMENTS, payment, **EXTRA)

    assert (caught.value.field, caught.value.path) == ("allocations.0.amount", "Line")


def test_an_invoice_due_before_its_issue_date_is_an_invoice_not_a_reject() -> None:
    # Re-issued on 2 November, keeping the due date of the invoice it replaces.
    invoice = MAP.to_record(Stream.INVOICES, {**INVOICE, "DueDate": "2026-10-15"}, **EXTRA)

    assert isinstance(invoice, Invoice)
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 11, 2), date(2026, 10, 15))
    assert invoice.open_amount == Decimal("1190.00")
