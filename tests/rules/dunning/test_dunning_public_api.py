"""The dunning package's public API is pinned: a change here is a deliberate one."""

from __future__ import annotations

import rules.dunning

EXPECTED = [
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


def test_public_api_is_pinned() -> None:
    assert sorted(rules.dunning.__all__) == sorted(EXPECTED)
    for name in EXPECTED:
        assert getattr(rules.dunning, name) is not None


def test_cli_exposes_the_dunning_group_with_plan() -> None:
    from cli.dunning_files import dunning_group

    assert dunning_group.name == "dunning"
    assert {"plan", "render"} <= set(dunning_group.commands)  # type: ignore[attr-defined]
