"""Cash application: match incoming cash (ERP payments, bank lines) to open invoices, explainably.

Pure functions over the canonical model; the daemon turns ``auto`` results into
:class:`~mapping.models.PaymentApplication` operations and queues ``review`` results for a clerk.
"""

from rules.cashapp.bank import StatementError, read_bai2, read_camt053, read_mt940, read_statement
from rules.cashapp.index import CustomerIndex, DocumentIndex
from rules.cashapp.matcher import identify_payer, match_payment, match_payments
from rules.cashapp.model import (
    Application,
    CustomerInfo,
    MatchResult,
    OpenDocument,
    PaymentInput,
    RemittanceLine,
    customer_from_model,
    document_from_credit_memo,
    document_from_invoice,
    payment_from_model,
)
from rules.cashapp.ops import learn_from_accepted, to_payment_application
from rules.cashapp.settings import MatchRules, load_rules

__all__ = [
    "Application",
    "CustomerIndex",
    "CustomerInfo",
    "DocumentIndex",
    "MatchResult",
    "MatchRules",
    "OpenDocument",
    "PaymentInput",
    "RemittanceLine",
    "StatementError",
    "customer_from_model",
    "document_from_credit_memo",
    "document_from_invoice",
    "identify_payer",
    "learn_from_accepted",
    "load_rules",
    "match_payment",
    "match_payments",
    "payment_from_model",
    "read_bai2",
    "read_camt053",
    "read_mt940",
    "read_statement",
    "to_payment_application",
]
