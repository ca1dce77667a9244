"""The dunning channels section: SMTP, letters, call tasks, webhook — secrets by reference only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from config import ConfigError, load_config
from config.model import BUILTIN_POLICY
from tests.config.fakes import registry, write_config

SENTINEL = "smtp-sentinel-3c9e1b7d"

SECTION = """
version: 1
rules:
  dunning:
    enabled: true
    policy: policy.yaml
    templates: my-templates
    payment_link: "https://pay.example.com/{customer_id}?ref={reference}"
    channels:
      email:
        host: smtp.example.com
        username: arbridge
        password: "${SMTP_PASSWORD}"
        from: "Example AR <ar@example.com>"
        reply_to: collections@example.com
      letter: {dir: spool/letters}
      call: {dir: spool/calls}
      webhook:
        url: https://crm.example.com/hooks/dunning
        secret: "${file:webhook-secret}"
    retry: {initial: 10m, max: 2h, attempts: 5}
    expire_after: 2d
"""


def _files(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(BUILTIN_POLICY.read_text())
    (tmp_path / "my-templates").mkdir()
    (tmp_path / "webhook-secret").write_text("hook-key\n")


def test_the_channels_section_loads_with_secrets_resolved_and_paths_beside_the_file(tmp_path: Path) -> None:
    _files(tmp_path)
    cfg = load_config(
        write_config(tmp_path, SECTION), registry=registry(), environ={"SMTP_PASSWORD": SENTINEL}
    )
    dunning = cfg.rules.dunning
    email = dunning.channels.email
    assert email is not None and email.password is not None
    assert email.password.get_secret_value() == SENTINEL
    assert (email.security, email.effective_port, email.from_address) == (
        "starttls",
        587,
        "Example AR <ar@example.com>",
    )
    assert (
        dunning.channels.letter is not None and dunning.channels.letter.dir == tmp_path / "spool" / "letters"
    )
    assert dunning.channels.webhook is not None and dunning.channels.webhook.secret is not None
    assert dunning.channels.webhook.secret.get_secret_value() == "hook-key"
    assert dunning.channels.configured == ["email", "letter", "call", "webhook"]
    assert dunning.templates == tmp_path / "my-templates"
    assert (dunning.retry.initial, dunning.retry.attempts, dunning.expire_after) == (
        timedelta(minutes=10),
        5,
        timedelta(days=2),
    )
    assert SENTINEL not in repr(cfg) and SENTINEL not in cfg.model_dump_json()


def test_an_smtp_password_written_in_the_file_is_refused(tmp_path: Path) -> None:
    _files(tmp_path)
    text = SECTION.replace('"${SMTP_PASSWORD}"', f'"{SENTINEL}"')
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), registry=registry(), environ={})
    assert [k for k, _ in caught.value.errors] == ["rules.dunning.channels.email.password"]
    assert SENTINEL not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (
            ("host: smtp.example.com", "host: smtp.example.com\n        security: none"),
            "rules.dunning.channels.email",
            "a password is never sent in plain text to another machine",
        ),
        (
            ("url: https://crm.example.com", "url: http://crm.example.com"),
            "rules.dunning.channels.webhook.url",
            "expected https",
        ),
        (
            ("?ref={reference}", "?ref={invoice}"),
            "rules.dunning.payment_link",
            "expected only the placeholders",
        ),
        (
            ("templates: my-templates", "templates: missing-templates"),
            "rules.dunning.templates",
            "expected an existing folder",
        ),
    ],
    ids=["plain-password", "http-webhook", "unknown-placeholder", "missing-templates"],
)
def test_unsafe_or_broken_channel_settings_are_named(
    tmp_path: Path, change: tuple[str, str], key: str, problem: str
) -> None:
    _files(tmp_path)
    text = SECTION.replace(*change)
    assert text != SECTION
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text), registry=registry(), environ={"SMTP_PASSWORD": "x"})
    [(path, message)] = caught.value.errors
    assert path == key and problem in message
