"""Payments land once in Business Central, and BC online is reached with an Entra ID token from msal."""

from __future__ import annotations

import ssl
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import trustme

from connectors.base import ConnectorContext, MemoryKeyValueStore, OutboundOp
from connectors.business_central import BusinessCentralConnector
from connectors.business_central.connector import marker_for
from mapping.models import Allocation, PaymentApplication, Stream, TargetType
from sandboxes.business_central import BusinessCentralSandbox
from sandboxes.fault_proxy import FaultProxy
from tests.connectors.business_central.bc_target import onprem_settings


def test_payment_application_posts_a_journal_line_that_lowers_the_invoice_once() -> None:
    with BusinessCentralSandbox(seed="demo", notification_delay=0) as bc:
        state = MemoryKeyValueStore()
        connector = BusinessCentralConnector.create(onprem_settings(bc), ConnectorContext("bc", state=state))
        invoice = next(
            r for p in connector.read(Stream.INVOICES, None) for r in p.records if r.open_amount > 20
        )  # type: ignore[attr-defined]
        op = OutboundOp(
            "bc/payment_application/customer/lockbox-42",
            PaymentApplication(
                target_type=TargetType.CUSTOMER,
                target_id=invoice.customer_remote_id,  # type: ignore[attr-defined]
                customer_remote_id=invoice.customer_remote_id,  # type: ignore[attr-defined]
                amount=Decimal("20.00"),
                currency="USD",
                date=date(2026, 11, 2),
                reference="LOCKBOX 0042",
                allocations=[
                    Allocation(
                        target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=Decimal("20.00")
                    )
                ],
            ),
        )
        [result] = connector.write([op])
        assert result.ok, result.error
        [again] = BusinessCentralConnector.create(
            onprem_settings(bc), ConnectorContext("bc", state=state)
        ).write([op])
        assert again.ok and again.duplicate
        entry = bc.company.entries[invoice.remote_id]
        assert entry["remainingAmount"] == invoice.open_amount - Decimal("20.00")  # type: ignore[attr-defined]
        payments = [e for e in bc.company.entries.values() if e["externalDocumentNumber"].startswith("ARB-")]
        assert len(payments) == 1 and payments[0]["amount"] == Decimal("-20.00")
        assert not bc.company.journal_lines
        found = connector.find_written(op)
        assert found is not None and found.ok


def _payment(key: str, invoice: Any, amount: str = "20.00") -> OutboundOp:
    return OutboundOp(
        key,
        PaymentApplication(
            target_type=TargetType.CUSTOMER,
            target_id=invoice.customer_remote_id,
            customer_remote_id=invoice.customer_remote_id,
            amount=Decimal(amount),
            currency="USD",
            date=date(2026, 11, 2),
            reference="LOCKBOX 0043",
            allocations=[
                Allocation(
                    target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=Decimal(amount)
                )
            ],
        ),
    )


def test_a_payment_whose_lines_a_stopped_write_left_in_the_journal_is_posted_once_on_resend() -> None:
    with BusinessCentralSandbox(seed="demo", notification_delay=0) as bc:
        connector = BusinessCentralConnector.create(onprem_settings(bc), ConnectorContext("bc"))
        invoice = next(
            r for p in connector.read(Stream.INVOICES, None) for r in p.records if r.open_amount > 20
        )  # type: ignore[attr-defined]
        op = _payment("bc/payment_application/customer/lockbox-43", invoice)
        # The process that wrote the line was stopped before it posted the journal.
        journal = next(j for j in bc.company.journals.values() if j["code"] == "ARBRIDGE")
        bc.company.add_payment_line(
            journal,
            {
                "customerId": invoice.customer_remote_id,  # type: ignore[attr-defined]
                "amount": Decimal("20.00"),
                "externalDocumentNumber": marker_for(op.key),
                "appliesToInvoiceNumber": invoice.number,  # type: ignore[attr-defined]
            },
        )
        [result] = connector.write([op])
        assert result.ok and result.duplicate
        posted = [e for e in bc.company.entries.values() if e["externalDocumentNumber"] == marker_for(op.key)]
        assert len(posted) == 1 and not bc.company.journal_lines
        entry = bc.company.entries[invoice.remote_id]
        assert entry["remainingAmount"] == invoice.open_amount - Decimal("20.00")  # type: ignore[attr-defined]


def test_payments_cost_three_calls_per_hundred_after_one_look_at_the_journal() -> None:
    with BusinessCentralSandbox(seed="demo", invoices=400, throttle=False, notification_delay=0) as bc:
        connector = BusinessCentralConnector.create(onprem_settings(bc), ConnectorContext("bc"))
        invoices = [r for p in connector.read(Stream.INVOICES, None) for r in p.records if r.open_amount > 1]
        ops = [
            _payment(f"bc/payment_application/customer/p{n}", inv, "1.00") for n, inv in enumerate(invoices)
        ]
        assert len(ops) > 100
        before = len(bc.requests_log)
        results = connector.write(ops)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        calls = len(bc.requests_log) - before
        # The journal's id and one look at it, then per 100 payments: look-up, lines, post.
        chunks = -(-len(ops) // 100)
        assert calls == 2 + 3 * chunks
        assert len(
            [e for e in bc.company.entries.values() if e["externalDocumentNumber"].startswith("ARB-")]
        ) == len(ops)


def test_bc_online_signs_in_through_msal_with_client_credentials_over_https(tmp_path: Path) -> None:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with BusinessCentralSandbox(seed="demo") as bc, FaultProxy(bc.local_url, tls=server) as https:
        bc.public_url = https.base_url
        settings = {
            "tenant_id": bc.tenant,
            "environment": bc.environment,
            "client_id": bc.client_id,
            "client_secret": bc.client_secret,
            "authority_host": https.base_url,
            "validate_authority": False,
            "api_host": https.base_url,
            "company": bc.company.name,
            "ca_bundle": str(ca_file),
        }
        connector = BusinessCentralConnector.create(settings, ConnectorContext("bc-online"))
        check = connector.check()
        assert check.ok, check.message
        customers = [r for p in connector.read(Stream.CUSTOMERS, None) for r in p.records]
        assert len(customers) == len(bc.company.customers)
        # msal kept its token: one token request for all the calls.
        assert sum(1 for r in bc.requests_log if r["path"] == "oauth2/token") == 1
        refused = BusinessCentralConnector.create(
            {**settings, "client_secret": "wrong"}, ConnectorContext("x")
        )
        result = refused.check()
        assert not result.ok and "invalid_client" in result.message


def test_an_unapplied_payment_is_applied_to_an_invoice_once_through_the_extension() -> None:
    with BusinessCentralSandbox(seed="demo", notification_delay=0) as bc:
        state = MemoryKeyValueStore()
        connector = BusinessCentralConnector.create(onprem_settings(bc), ConnectorContext("bc", state=state))
        payments = [r for p in connector.read(Stream.PAYMENTS, None) for r in p.records]
        invoices = [r for p in connector.read(Stream.INVOICES, None) for r in p.records]
        payment, invoice = next(
            (p, i)
            for p in payments
            if p.unapplied_amount > 0  # type: ignore[attr-defined]
            for i in invoices
            if i.customer_remote_id == p.customer_remote_id and i.open_amount > p.unapplied_amount  # type: ignore[attr-defined]
        )
        amount = payment.unapplied_amount  # type: ignore[attr-defined]
        op = OutboundOp(
            "bc/payment_application/payment/cashapp-7",
            PaymentApplication(
                target_type=TargetType.PAYMENT,
                target_id=payment.remote_id,
                payment_id=payment.remote_id,
                customer_remote_id=payment.customer_remote_id,  # type: ignore[attr-defined]
                amount=amount,
                currency="USD",
                date=date(2026, 11, 2),
                allocations=[
                    Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=amount)
                ],
            ),
        )
        too_much = op.op.model_copy(
            update={
                "allocations": [
                    Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=amount + 1)
                ]
            }
        )
        [refused] = connector.write([OutboundOp("bc/payment_application/payment/too-much", too_much)])
        assert not refused.ok and "unapplied, less than" in str(refused.error)
        assert not bc.company.applications

        [result] = connector.write([op])
        assert result.ok and result.remote_id == payment.remote_id, result.error
        [again] = BusinessCentralConnector.create(
            onprem_settings(bc), ConnectorContext("bc", state=state)
        ).write([op])
        assert again.ok and again.duplicate
        assert len(bc.company.applications) == 1
        assert bc.company.entries[payment.remote_id]["remainingAmount"] == 0
        assert not bc.company.entries[payment.remote_id]["open"]
        assert bc.company.entries[invoice.remote_id]["remainingAmount"] == invoice.open_amount - amount  # type: ignore[attr-defined]
        found = connector.find_written(op)
        assert found is not None and found.ok
        # Read back, the payment is applied: cash application leaves it alone from now on.
        [after] = [
            r
            for p in connector.read(Stream.PAYMENTS, None)
            for r in p.records
            if r.remote_id == payment.remote_id
        ]
        assert after.unapplied_amount == 0  # type: ignore[attr-defined]


def test_a_payment_bc_refuses_one_line_of_is_not_posted_in_part_and_blocks_no_other() -> None:
    with BusinessCentralSandbox(seed="demo", notification_delay=0) as bc:
        connector = BusinessCentralConnector.create(onprem_settings(bc), ConnectorContext("bc"))
        invoices = [r for p in connector.read(Stream.INVOICES, None) for r in p.records if r.open_amount > 20]  # type: ignore[attr-defined]
        mine = invoices[0]
        other = next(i for i in invoices if i.customer_remote_id != mine.customer_remote_id)  # type: ignore[attr-defined]
        third = next(i for i in invoices if i.remote_id not in (mine.remote_id, other.remote_id))
        good = _payment("bc/payment_application/customer/good", third)
        split = _payment("bc/payment_application/customer/split", mine)
        split = OutboundOp(
            split.key,
            split.op.model_copy(
                update={
                    "amount": Decimal("40.00"),
                    "allocations": [
                        *split.op.allocations,  # type: ignore[attr-defined]
                        # BC refuses this line: the invoice belongs to another customer.
                        Allocation(
                            target_type=TargetType.INVOICE, target_id=other.remote_id, amount=Decimal("20.00")
                        ),
                    ],
                }
            ),
        )
        before = {i.remote_id: bc.company.entries[i.remote_id]["remainingAmount"] for i in (mine, other)}
        ok, refused = connector.write([good, split])
        assert ok.ok, ok.error
        assert not refused.ok and "another customer" in str(refused.error)
        assert {i: bc.company.entries[i]["remainingAmount"] for i in before} == before
        posted = [
            e for e in bc.company.entries.values() if e["externalDocumentNumber"] == marker_for(split.key)
        ]
        assert posted == [] and not bc.company.journal_lines
        paid = bc.company.entries[third.remote_id]["remainingAmount"]
        assert paid == third.open_amount - Decimal("20.00")  # type: ignore[attr-defined]


def test_an_application_of_an_existing_payment_bc_refuses_in_part_applies_nothing() -> None:
    with BusinessCentralSandbox(seed="demo", notification_delay=0) as bc:
        connector = BusinessCentralConnector.create(onprem_settings(bc), ConnectorContext("bc"))
        payments = [r for p in connector.read(Stream.PAYMENTS, None) for r in p.records]
        invoices = [r for p in connector.read(Stream.INVOICES, None) for r in p.records]
        payment, invoice = next(
            (p, i)
            for p in payments
            if p.unapplied_amount > 100  # type: ignore[attr-defined]
            for i in invoices
            if i.customer_remote_id == p.customer_remote_id and 20 < i.open_amount < p.unapplied_amount  # type: ignore[attr-defined]
        )
        owed = invoice.open_amount  # type: ignore[attr-defined]
        # Each row fits what the invoice owes; together they do not, and BC refuses the second.
        rows = [owed - Decimal("5.00"), Decimal("10.00")]
        op = OutboundOp(
            "bc/payment_application/payment/two-rows",
            PaymentApplication(
                target_type=TargetType.PAYMENT,
                target_id=payment.remote_id,
                payment_id=payment.remote_id,
                customer_remote_id=payment.customer_remote_id,  # type: ignore[attr-defined]
                amount=sum(rows, Decimal(0)),
                currency="USD",
                date=date(2026, 11, 2),
                allocations=[
                    Allocation(target_type=TargetType.INVOICE, target_id=invoice.remote_id, amount=a)
                    for a in rows
                ],
            ),
        )
        before = {i: bc.company.entries[i]["remainingAmount"] for i in (payment.remote_id, invoice.remote_id)}
        [result] = connector.write([op])
        assert not result.ok and "Remaining Amount" in str(result.error)
        assert {i: bc.company.entries[i]["remainingAmount"] for i in before} == before
        assert not bc.company.applications
        found = connector.find_written(op)
        assert found is not None and not found.ok


def test_bc_on_premises_with_windows_credentials_signs_in_over_ntlm() -> None:
    users = {"CRONUS\\arbridge-svc": "Winter-2026!"}
    with BusinessCentralSandbox(seed="demo", notification_delay=0, windows_users=users) as bc:
        settings = {
            "deployment": "on_premises",
            "on_premises_auth": "windows",
            "server_url": bc.onprem_api_url,
            "username": "CRONUS\\arbridge-svc",
            "password": "Winter-2026!",
            "company": bc.company.name,
        }
        connector = BusinessCentralConnector.create(settings, ConnectorContext("bc-windows"))
        check = connector.check()
        assert check.ok, check.message
        customers = [r for p in connector.read(Stream.CUSTOMERS, None) for r in p.records]
        assert len(customers) == len(bc.company.customers)
        # NTLM authenticates the connection once: the calls after the handshake carry no challenge.
        answered = [r["status"] for r in bc.requests_log]
        assert answered.count(401) == 2 and answered[-1] == 200

        refused = BusinessCentralConnector.create(
            {**settings, "password": "Summer-2026!"}, ConnectorContext("bc-windows-2")
        ).check()
        assert not refused.ok and "refused the credentials" in refused.message
