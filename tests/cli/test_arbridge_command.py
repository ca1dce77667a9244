"""The `arbridge` command as an IT admin uses it."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import connectors.registry as registry_module
from connectors.csv.sample import INVOICE_COLUMNS, write_sample_exports
from connectors.registry import BrokenConnector, discover
from sync_daemon import cli


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "arbridge.yaml"
    path.write_text(textwrap.dedent(body))
    path.chmod(0o600)
    return path


def test_version_is_printed() -> None:
    code, out, _ = invoke("--version")
    assert code == 0 and out.startswith("arbridge, version ")


def test_connectors_lists_each_installed_connector_name_first() -> None:
    code, out, _ = invoke("connectors")
    lines = {line.split("\t")[0]: line for line in out.splitlines()}
    assert code == 0
    assert {"csv", "quickbooks"} <= set(lines)
    assert "streams=customers,invoices,credit_memos,payments" in lines["csv"]
    assert "collection_status" in lines["csv"]


def test_a_connector_that_fails_to_import_is_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = discover()
    broken = registry_module.Registry(
        connectors=dict(registry.connectors),
        broken={
            "acme": BrokenConnector(
                "acme", "arbridge_acme:AcmeConnector", "ModuleNotFoundError: No module named 'acme_sdk'"
            )
        },
    )
    monkeypatch.setitem(registry_module._cached, registry_module.test_doubles_wanted(), broken)
    code, out, err = invoke("connectors")
    assert code == 0
    assert "csv" in out
    assert "acme\tBROKEN" in err and "acme_sdk" in err


def test_an_invalid_config_exits_2_and_names_the_key(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
        version: 1
        connections:
          - name: shop
            connector: csv
            schedule: {intervall: 15m}
            settings: {folder: exports}
        """,
    )
    code, _, err = invoke("check", "-c", str(cfg))
    assert code == 2
    assert "connections[0].schedule.intervall" in err


def _csv_deployment(tmp_path: Path) -> Path:
    exports = write_sample_exports(tmp_path / "exports")
    with open(exports / "invoices.csv", "a", encoding="utf-8", newline="") as fh:
        # A row an export might really contain: a total typed in words.
        csv.DictWriter(fh, fieldnames=INVOICE_COLUMNS).writerow(
            {
                "id": "9001",
                "number": "INV-9001",
                "customer_id": "101",
                "status": "open",
                "currency": "USD",
                "issue_date": "2026-10-01",
                "due_date": "2026-10-31",
                "total": "twelve",
                "open_amount": "12.00",
                "version": "1",
                "modified_at": "2026-11-01T10:00:00+00:00",
            }
        )
    return write_config(
        tmp_path,
        f"""
        version: 1
        store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
        connections:
          - name: shop
            connector: csv
            settings: {{folder: "{exports}"}}
        """,
    )


def test_sync_once_quarantines_a_malformed_row_and_syncs_the_rest(tmp_path: Path) -> None:
    cfg = _csv_deployment(tmp_path)
    code, out, err = invoke("sync", "-c", str(cfg), "--once")
    assert code == 0, err
    assert "shop: ok" in out or "shop: partial" in out
    code, out, _ = invoke("status", "-c", str(cfg), "--json")
    status = json.loads(out)["connections"]["shop"]
    assert status["quarantine"] == 1
    from config import load_config
    from store import StateStore

    store = StateStore.open(load_config(cfg).store.url)
    [entry] = store.quarantined("shop")
    store.close()
    assert (entry["remote_id"], entry["field_path"]) == ("9001", "total")
    assert status["records"]["invoices"] >= 10
    assert status["runs"][0]["status"] == "ok"


def test_check_runs_each_connections_check(tmp_path: Path) -> None:
    cfg = _csv_deployment(tmp_path)
    code, out, _ = invoke("check", "-c", str(cfg))
    assert code == 0
    assert out.startswith("ok   shop:")


def test_audit_verify_reports_an_intact_log(tmp_path: Path) -> None:
    cfg = _csv_deployment(tmp_path)
    invoke("sync", "-c", str(cfg), "--once")
    code, out, _ = invoke("audit", "verify", "-c", str(cfg))
    assert code == 0 and "intact" in out


def test_auth_quickbooks_takes_an_existing_refresh_token_into_the_state_store(tmp_path: Path) -> None:
    from sandboxes.quickbooks.server import QuickBooksSandbox
    from store import StateStore

    with QuickBooksSandbox(seed="empty") as sandbox:
        cfg = write_config(
            tmp_path,
            f"""
            version: 1
            allow_secret_literals: true
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections:
              - name: books
                connector: quickbooks
                settings:
                  base_url: {sandbox.base_url}
                  token_url: {sandbox.token_url}
                  realm_id: "{sandbox.realm_id}"
                  client_id: {sandbox.client_id}
                  client_secret: {sandbox.client_secret}
            """,
        )
        token = sandbox.issue_refresh_token()
        result = CliRunner().invoke(
            cli,
            ["auth", "quickbooks", "-c", str(cfg), "--connection", "books", "--refresh-token"],
            env={"ARBRIDGE_QBO_REFRESH_TOKEN": token},
        )
        assert result.exit_code == 0, result.output
        assert token not in result.output
        code, out, _ = invoke("check", "-c", str(cfg))  # works from the stored (rotated) token alone
        store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
        with store.engine.connect() as conn:
            import sqlalchemy as sa

            stored = conn.execute(
                sa.text("SELECT value FROM connector_state WHERE connection = 'books'")
            ).all()
        store.close()
    assert code == 0 and out.startswith("ok   books:")
    assert stored and all(token not in value for (value,) in stored)  # the consent token was rotated


def test_a_connector_that_keeps_throttling_is_waited_out_and_status_shows_it(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        f"""
        version: 1
        store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
        connections:
          - name: busy-erp
            connector: faulty
            settings:
              seed: 3
              fail_first: 4
              fail_first_kind: throttled
              retry_after: 0.01
              throttled: 0.02
              inner:
                connector: memory
                settings:
                  {{erp: busy, customers: 40, invoices: 300, credit_memos: 5, payments: 60, page_size: 50}}
        """,
    )
    code, out, err = invoke("sync", "-c", str(cfg), "--once")
    assert code == 0, err
    assert out.startswith("busy-erp: ok")
    code, out, _ = invoke("status", "-c", str(cfg))
    assert "run " in out and ": ok," in out
    assert "throttled)" in out
    status = json.loads(invoke("status", "-c", str(cfg), "--json")[1])["connections"]["busy-erp"]
    assert status["runs"][0]["throttled"] >= 4
    assert status["records"] == {"customers": 40, "invoices": 300, "credit_memos": 5, "payments": 60}


def test_each_cycle_logs_the_audit_head_that_audit_verify_accepts(tmp_path: Path) -> None:
    from store import StateStore

    cfg = _csv_deployment(tmp_path)
    invoke("sync", "-c", str(cfg), "--once")
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    store.audit("review_accepted", connection="shop", subject="payment/P1", detail={"by": "clerk"})
    store.close()
    code, _, err = invoke("--log-format", "json", "sync", "-c", str(cfg), "--once")
    assert code == 0
    [finished] = [json.loads(line) for line in err.splitlines() if '"cycle_finished"' in line]
    assert finished["audit_head"].split(":")[0].isdigit()
    log = tmp_path / "shipped.log"
    log.write_text(err)

    code, out, _ = invoke("audit", "verify", "-c", str(cfg), "--checkpoint-file", str(log))
    assert code == 0 and "1 checkpoint(s) found" in out
