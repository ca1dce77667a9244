"""The dunning engine: policies, levels, channels, pauses, contact rules and the collectors' worklist.

Pure functions over the canonical model (``mapping.models``): the planner decides, for a given
``as_of``, which customer gets which level on which channel and when, and explains every action and
every skip; renderers and channel senders turn an action into an e-mail, a PDF letter, a call task
or a webhook; ``to_operations`` gives the write-back to the ERP; ``worklist`` ranks customers for
collectors. See ``rules/dunning/README.md``.
"""

from rules.dunning.channels import (
    CallTaskSender,
    LetterSender,
    Sender,
    SendReceipt,
    SmtpEmailSender,
    SmtpSettings,
    WebhookSender,
    message_id_for,
)
from rules.dunning.delivery import DeliveryOutcome, SentLog, deliver
from rules.dunning.history import (
    CustomerHistory,
    HistoryEntry,
    history_from_records,
    read_history,
    summarize_history,
)
from rules.dunning.money import interest_for, quantize
from rules.dunning.planner import (
    ActionLine,
    CustomerGroup,
    PlannedAction,
    Skip,
    SkipCode,
    action_from_json,
    plan,
    plan_customer,
    plan_groups,
)
from rules.dunning.policy import Channel, DunningPolicy, load_policy, policy_json_schema
from rules.dunning.render import Rendered, render
from rules.dunning.worklist import CustomerDocuments, Ranking, WorklistEntry, rank_customers, worklist
from rules.dunning.writeback import to_operations

__all__ = [
    "ActionLine",
    "CallTaskSender",
    "Channel",
    "CustomerDocuments",
    "CustomerGroup",
    "CustomerHistory",
    "DeliveryOutcome",
    "DunningPolicy",
    "HistoryEntry",
    "LetterSender",
    "PlannedAction",
    "Ranking",
    "Rendered",
    "SendReceipt",
    "Sender",
    "SentLog",
    "Skip",
    "SkipCode",
    "SmtpEmailSender",
    "SmtpSettings",
    "WebhookSender",
    "WorklistEntry",
    "action_from_json",
    "deliver",
    "history_from_records",
    "interest_for",
    "load_policy",
    "message_id_for",
    "plan",
    "plan_customer",
    "plan_groups",
    "policy_json_schema",
    "quantize",
    "rank_customers",
    "read_history",
    "render",
    "summarize_history",
    "to_operations",
    "worklist",
]
