"""What an admin and an AR user see of the B1 connector's session, setup and write-backs."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.base import AuthError, BadRecordError, OutboundOp
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    PaymentApplication,
    Stream,
    TargetType,
)
from sandboxes.sap_business_one import ServiceLayerSandbox
from sync_daemon import cli
from tests.connectors.sap_business_one.b1_target import connector_for, create_fields


@pytest.fixture
def b1() -> ServiceLayerSandbox:
    with ServiceLayerSandbox(seed="demo", throttle=False) as sandbox:
        create_fields(sandbox)
        yield sandbox


def _open_invoice(b1: ServiceLayerSandbox) -> dict:
    return next(d for d in b1.company.tables["Invoices"].values() if d["PaidToDate"] == 0)


def _payment(invoice: dict, amount: str) -> PaymentApplication:
    return PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=invoice["CardCode"],
        customer_remote_id=invoice["CardCode"],
        amount=Decimal(amount),
        currency=invoice["DocCurrency"],
        date=date(2026, 11, 2),
        reference="BANK-991",
        allocations=[
            Allocation(
                target_type=TargetType.INVOICE, target_id=str(invoice["DocEntry"]), amount=Decimal(amount)
            )
        ],
    )


def test_a_session_that_timed_out_is_renewed_and_the_read_goes_on(b1: ServiceLayerSandbox) -> None:
    connector = connector_for(b1, page_size=5)
    pages = connector.read(Stream.INVOICES, None)
    first = next(pages)
    b1.expire_sessions()  # the admin's coffee break was longer than SessionTimeout
    rest = list(pages)
    assert len(first.records) + sum(len(p.records) for p in rest) == len(b1.company.tables["Invoices"])
    assert b1.logins == 2 and connector.client.session_timeout == 30


def test_closing_the_connector_logs_out_so_no_session_holds_a_licence(b1: ServiceLayerSandbox) -> None:
    with connector_for(b1) as connector:
        list(connector.read(Stream.CUSTOMERS, None))
        assert len(b1._sessions) == 1
    assert b1._sessions == {}
    assert any(r["path"] == "Logout" and r["status"] == 204 for r in b1.requests_log)


def test_a_refused_login_stops_at_once_with_an_auth_error(b1: ServiceLayerSandbox) -> None:
    connector = connector_for(b1, password="wrong")
    with pytest.raises(AuthError):
        list(connector.read(Stream.CUSTOMERS, None))
    assert [r["path"] for r in b1.requests_log] == ["Login"]


def test_payment_lowers_the_invoice_open_amount_once_even_when_sent_again_after_a_restart(
    b1: ServiceLayerSandbox,
) -> None:
    invoice = _open_invoice(b1)
    item = OutboundOp("k" * 64, _payment(invoice, "100.00"))
    [first] = connector_for(b1).write([item])
    [again] = connector_for(b1).write([item])
    assert first.ok and again.ok and again.duplicate and again.remote_id == first.remote_id
    assert invoice["PaidToDate"] == 100.0
    payment = b1.company.tables["IncomingPayments"][int(first.remote_id)]
    assert payment["U_ARB_OutboxKey"] == item.key
    assert payment["PaymentInvoices"][0]["DocEntry"] == invoice["DocEntry"]


def test_paying_more_than_is_open_is_refused_for_that_payment_alone(b1: ServiceLayerSandbox) -> None:
    invoices = [d for d in b1.company.tables["Invoices"].values() if d["PaidToDate"] == 0][:2]
    too_much = OutboundOp("a" * 64, _payment(invoices[0], str(invoices[0]["DocTotal"] + 1)))
    fine = OutboundOp("b" * 64, _payment(invoices[1], "5.00"))
    payments_before = len(b1.company.tables["IncomingPayments"])
    refused, landed = connector_for(b1).write([too_much, fine])
    assert not refused.ok and isinstance(refused.error, BadRecordError)
    assert "exceeds the open amount" in refused.error.message
    assert landed.ok, "the payment after the refused one was sent again and landed"
    assert len(b1.company.tables["IncomingPayments"]) == payments_before + 1
    assert invoices[0]["PaidToDate"] == 0


def test_a_disputed_invoice_gets_its_status_and_the_dunning_block_the_admin_asked_for(
    b1: ServiceLayerSandbox,
) -> None:
    invoice = _open_invoice(b1)
    op = CollectionStatusUpdate(
        target_type=TargetType.INVOICE,
        target_id=str(invoice["DocEntry"]),
        collection_status=CollectionStatus.DISPUTED,
        dunning_level=1,
        next_action_date=date(2026, 12, 9),
    )
    [result] = connector_for(b1, block_dunning_statuses=["disputed"]).write([OutboundOp("d" * 64, op)])
    assert result.ok
    assert invoice["U_ARB_CollStatus"] == "disputed" and invoice["U_ARB_DunLevel"] == 1
    assert invoice["U_ARB_NextAction"] == "2026-12-09" and invoice["BlockDunning"] == "tYES"
    assert b1.ignored == [], "the connector sent a property B1 would silently ignore"


def test_arbridge_setup_creates_the_fields_once_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    with ServiceLayerSandbox(seed="empty", throttle=False) as b1:
        cfg = tmp_path / "arbridge.yaml"
        cfg.write_text(
            textwrap.dedent(
                f"""\
                version: 1
                store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
                connections:
                  - name: b1
                    connector: sap-business-one
                    settings:
                      service_url: {b1.service_root}
                      company_db: {b1.company_db}
                      username: {b1.user}
                      password: ${{B1_PASSWORD}}
                """
            )
        )
        runner = CliRunner(env={"B1_PASSWORD": b1.password})
        first = runner.invoke(cli, ["setup", "-c", str(cfg), "sap-business-one"], catch_exceptions=False)
        assert first.exit_code == 0, first.output
        assert first.output.count("created") == 8
        assert {(u["TableName"], u["Name"]) for u in b1.company.udfs} >= {
            ("OINV", "ARB_CollStatus"),
            ("ORCT", "ARB_OutboxKey"),
            ("OCLG", "ARB_OutboxKey"),
        }
        second = runner.invoke(cli, ["setup", "-c", str(cfg), "sap-business-one"], catch_exceptions=False)
        assert second.exit_code == 0 and "created" not in second.output
        assert len(b1.company.udfs) == 8
