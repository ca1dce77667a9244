"""The JSON schema editors use stays in step with the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.schema import SCHEMA_PATH, generate_schema, main, render_schema

EXAMPLE = SCHEMA_PATH.with_name("example.yaml")


def test_committed_schema_equals_the_generated_one() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), "run: python -m config.schema"


def test_schema_check_command_flags_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    assert main(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err

    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0
    assert json.loads(stale.read_text()) == generate_schema()


def test_schema_describes_every_top_level_key_and_forbids_others() -> None:
    schema = generate_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "version", "allow_secret_literals", "dev_mode", "store", "logging", "server", "defaults",
        "connections", "rules", "workers", "prediction",
    }
    assert schema["required"] == ["version"]


def _validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator(generate_schema())


def test_example_config_validates_against_the_schema() -> None:
    validator = _validator()
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(EXAMPLE.read_text()))]
    assert errors == []


def test_schema_catches_a_typo_and_a_bad_interval_in_the_editor() -> None:
    validator = _validator()
    bad = {"version": 1, "defaults": {"schedule": {"interval": "5 minutes"}}, "loging": {}}
    paths = sorted(".".join(map(str, e.absolute_path)) or "(top)" for e in validator.iter_errors(bad))
    assert paths == ["(top)", "defaults.schedule.interval"]


def test_the_prediction_refit_schedule_reads_words_durations_and_cron() -> None:
    from datetime import UTC, datetime, timedelta

    from pydantic import ValidationError

    from config.model import PredictionConfig

    fitted = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday
    assert PredictionConfig().refit == "weekly"
    assert PredictionConfig(refit="weekly").next_refit(fitted) == fitted + timedelta(days=7)
    assert PredictionConfig(refit="3d").next_refit(fitted) == fitted + timedelta(days=3)
    sunday_night = PredictionConfig(refit="0 3 * * 0")
    assert sunday_night.next_refit(fitted) == datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert not sunday_night.refit_due(fitted, datetime(2026, 11, 29, 2, 59, tzinfo=UTC))
    assert sunday_night.refit_due(fitted, datetime(2026, 11, 29, 3, 0, tzinfo=UTC))
    with pytest.raises(ValidationError, match="'daily', 'weekly' or 'monthly'"):
        PredictionConfig(refit="fortnightly")
