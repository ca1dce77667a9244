"""No secret ever shows: a full deployment runs at DEBUG with sentinel secrets, then every output is searched.

The deployment syncs a QuickBooks sandbox with write-backs through the real command line (`check`,
`sync --once`, `run`, `status`, `status --json`, `audit verify`), meets an expired access token
and a server error on the way, receives webhooks, and is scraped for metrics. Its store is
PostgreSQL with a password, its dunning channels have an SMTP password and a webhook secret. Every
secret comes from the environment through a reference, as the configuration requires.

Searched: each command's stdout and stderr (JSON logs at DEBUG), the HTTP endpoint's answers, and
every row of every table of the store. The one place OAuth tokens may be is ``connector_state``:
the rotating refresh token must survive a restart, so it is kept there (and only there), and the
current access token with it; none of the configured secrets may be there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests
import sqlalchemy as sa

from connectors.quickbooks.webhooks import sign
from sandboxes.quickbooks.server import QuickBooksSandbox

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "QBO_CLIENT_SECRET": "sentinel-client-secret-4f9a0c",
    "QBO_REFRESH_TOKEN": "sentinel-refresh-token-b71e22",
    "QBO_VERIFIER_TOKEN": "sentinel-verifier-token-9d3c57",
    "ARBRIDGE_ADMIN_TOKEN": "sentinel-admin-token-e05b18",
    "ARBRIDGE_DB_PASSWORD": "sentinel-db-password-c3e8a1",
    "SMTP_PASSWORD": "sentinel-smtp-password-61af4d",
    "DUNNING_WEBHOOK_SECRET": "sentinel-webhook-secret-27cd90",
}
TOKEN_TABLE = "connector_state"


def needles(secret: str) -> set[str]:
    """The secret, and a stretch from its middle (a secret cut short or quoted in part still leaks)."""
    middle = len(secret) // 2
    return {secret, secret[middle - 6 : middle + 6]}


def arbridge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync_daemon", "--log-level", "DEBUG", "--log-format", "json", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def write_config(tmp_path: Path, erp: QuickBooksSandbox, store_url: str, port: int) -> Path:
    closed = free_port()  # nothing listens there: dunning channels fail, and say so in the logs
    policy = tmp_path / "dunning-policy.yaml"
    policy.write_text(
        textwrap.dedent(
            """
            version: 1
            default_policy: std
            contact_window: {channels: []}
            policies:
              std:
                levels:
                  - {days_overdue: 1, channels: [email], also: [webhook, letter]}
            """
        )
    )
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store:
              url: "{store_url}"
            logging: {{level: DEBUG, format: json}}
            server:
              bind: "127.0.0.1:{port}"
              token: "${{ARBRIDGE_ADMIN_TOKEN}}"
            rules:
              dunning:
                enabled: true
                policy: "{policy}"
                channels:
                  # The letters go out: a reminder's statuses reach QuickBooks only once it is sent.
                  letter: {{dir: "{tmp_path / "letters"}"}}
                  email:
                    host: 127.0.0.1
                    port: {closed}
                    security: none
                    username: ar-robot
                    password: "${{SMTP_PASSWORD}}"
                    from: "Accounts Receivable <ar@example.com>"
                  webhook:
                    url: "http://127.0.0.1:{closed}/dunning"
                    secret: "${{DUNNING_WEBHOOK_SECRET}}"
            connections:
              - name: books
                connector: quickbooks
                write_back: {{enabled: true}}
                settings:
                  base_url: "{erp.base_url}"
                  token_url: "{erp.token_url}"
                  realm_id: "{erp.realm_id}"
                  client_id: "{erp.client_id}"
                  client_secret: "${{QBO_CLIENT_SECRET}}"
                  refresh_token: "${{QBO_REFRESH_TOKEN}}"
                  verifier_token: "${{QBO_VERIFIER_TOKEN}}"
                  collection_status_field_id: "1"
            """
        )
    )
    path.chmod(0o600)
    return path


def run_daemon(
    config: Path, env: dict[str, str], port: int, erp: QuickBooksSandbox, tmp_path: Path
) -> dict[str, str]:
    """`arbridge run` until it finished a cycle, with webhooks and scrapes; returns what it said."""
    base = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "run.stderr"
    with open(log_file, "w") as err, open(tmp_path / "run.stdout", "w") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "sync_daemon", "--log-level", "DEBUG", "run", "-c", str(config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    answers: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 120
        while '"cycle_finished"' not in log_file.read_text():
            assert daemon.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "the daemon never finished a cycle"
            time.sleep(0.1)
        token = {"Authorization": f"Bearer {SECRETS['ARBRIDGE_ADMIN_TOKEN']}"}
        body = json.dumps(
            {
                "eventNotifications": [
                    {
                        "realmId": erp.realm_id,
                        "dataChangeEvent": {
                            "entities": [{"name": "Invoice", "id": "1", "operation": "Update"}]
                        },
                    }
                ]
            }
        ).encode()
        hook = f"{base}/webhooks/quickbooks/books"
        verifier = SECRETS["QBO_VERIFIER_TOKEN"]
        for name, answer in {
            "metrics": requests.get(f"{base}/metrics", headers=token, timeout=10),
            "metrics without token": requests.get(f"{base}/metrics", timeout=10),
            "metrics with a wrong token": requests.get(
                f"{base}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10
            ),
            "healthz": requests.get(f"{base}/healthz", timeout=10),
            "readyz": requests.get(f"{base}/readyz", timeout=10),
            "unsigned webhook": requests.post(hook, data=body, timeout=10),
            "wrongly signed webhook": requests.post(
                hook, data=body, headers={"intuit-signature": sign(body, "guess")}, timeout=10
            ),
            "signed webhook": requests.post(
                hook, data=body, headers={"intuit-signature": sign(body, verifier)}, timeout=10
            ),
        }.items():
            answers[name] = f"{answer.status_code} {dict(answer.headers)} {answer.text}"
        assert answers["metrics"].startswith("200") and "arbridge_write_backs_total" in answers["metrics"]
        assert answers["signed webhook"].startswith("200")
        time.sleep(1.0)  # the webhook's pull
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    answers["run stderr"] = log_file.read_text()
    answers["run stdout"] = (tmp_path / "run.stdout").read_text()
    return answers


def dump_store(store_url: str) -> dict[str, str]:
    engine = sa.create_engine(store_url)
    tables: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            for name in sa.inspect(conn).get_table_names():
                rows = conn.execute(sa.text(f'SELECT * FROM "{name}"')).all()
                tables[f"table {name}"] = "\n".join(repr(tuple(r)) for r in rows)
    finally:
        engine.dispose()
    return tables


def test_no_secret_reaches_any_output_of_a_full_deployment(tmp_path: Path, postgres_url: str) -> None:
    store_url = postgres_url.replace("postgres@", "postgres:${ARBRIDGE_DB_PASSWORD}@", 1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **SECRETS}
    port = free_port()
    outputs: dict[str, str] = {}
    with QuickBooksSandbox(seed="demo", client_secret=SECRETS["QBO_CLIENT_SECRET"]) as erp:
        erp.issue_refresh_token(SECRETS["QBO_REFRESH_TOKEN"])
        config = write_config(tmp_path, erp, store_url, port)

        checked = arbridge("check", "-c", str(config), env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        outputs |= {"check stdout": checked.stdout, "check stderr": checked.stderr}

        # On the way: the access token the check obtained expires, and QuickBooks has a bad moment.
        erp.tokens.revoke_access_tokens()
        erp.fail_next(2, 500)
        synced = arbridge("sync", "-c", str(config), "--once", env=env)
        outputs |= {"sync stdout": synced.stdout, "sync stderr": synced.stderr}
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert {401, 500} <= {r["status"] for r in erp.requests_log}

        erp.tokens.revoke_access_tokens()
        outputs |= run_daemon(config, env, port, erp, tmp_path)
        for args in (("status",), ("status", "--json"), ("audit", "verify")):
            done = arbridge(*args, "-c", str(config), env=env)
            outputs |= {f"{' '.join(args)} stdout": done.stdout, f"{' '.join(args)} stderr": done.stderr}
            assert done.returncode == 0, done.stdout + done.stderr
        tokens = erp.tokens.issued_access_tokens | erp.tokens.issued_refresh_tokens
    tables = dump_store(postgres_url)
    outputs |= tables

    # The run did what it should: write-backs reached QuickBooks, and DEBUG lines were logged.
    assert any(w["applied"] for w in erp.writes_log), "no write-back reached QuickBooks"
    assert '"level": "debug"' in outputs["sync stderr"]

    leaks = [
        f"{name} in {where}"
        for name, secret in SECRETS.items()
        for where, text in outputs.items()
        if any(n in text for n in needles(secret))
    ]
    leaks += [
        f"an OAuth token ({token[:6]}…) in {where}"
        for token in tokens - {SECRETS["QBO_REFRESH_TOKEN"]}
        for where, text in outputs.items()
        if where != f"table {TOKEN_TABLE}" and any(n in text for n in needles(token))
    ]
    assert leaks == []
    # The token store holds the current tokens, which the sandbox issued, and nothing configured.
    assert any(t in tables[f"table {TOKEN_TABLE}"] for t in tokens)
