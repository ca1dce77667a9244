"""The policy file format: the committed JSON schema, the examples, and the error messages."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from rules.dunning import DunningPolicy, load_policy
from rules.dunning.policy import dump_policy_json_schema

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "config" / "dunning-policy.schema.json"
EXAMPLES = sorted((ROOT / "config").glob("dunning-policy.*.yaml"))


def test_committed_schema_matches_the_policy_model() -> None:
    assert SCHEMA.read_text() == dump_policy_json_schema(), (
        "regenerate: python -c 'from rules.dunning.policy import dump_policy_json_schema as d; "
        'open("config/dunning-policy.schema.json", "w").write(d())\''
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_policies_follow_the_json_schema(path: Path) -> None:
    data = json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(data)
    assert load_policy(path).policies


def test_a_segment_naming_an_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValidationError, match="segment 'vip' names unknown policy 'gold'"):
        DunningPolicy.model_validate(
            {
                "default_policy": "p",
                "policies": {"p": {"levels": [{"days_overdue": 1, "channels": ["email"]}]}},
                "segments": [{"name": "vip", "policy": "gold"}],
            }
        )


def test_an_unquoted_yaml_time_is_still_read_as_a_time() -> None:
    data = yaml.safe_load(
        "default_policy: p\ncontact_window: {start: 9:30, end: 17:00}\n"
        "policies: {p: {levels: [{days_overdue: 1, channels: [email]}]}}\n"
    )
    window = DunningPolicy.model_validate(data).contact_window
    assert (window.start.hour, window.start.minute, window.end.hour) == (9, 30, 17)


def test_money_given_as_one_number_applies_to_every_currency() -> None:
    pol = DunningPolicy.model_validate(
        {
            "default_policy": "p",
            "policies": {
                "p": {
                    "minimum_amount": "7.50",
                    "levels": [{"days_overdue": 1, "channels": ["email"], "fee": 3}],
                }
            },
        }
    )
    assert str(pol.policies["p"].minimum_amount["*"]) == "7.50"
    assert str(pol.policies["p"].levels[0].fee["*"]) == "3"
