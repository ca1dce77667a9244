"""Fidelity to Oracle's SuiteTalk: envelopes against the 2023_2 XSDs, real answers, netsuitesdk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from connectors.base import ConnectorContext, OutboundOp
from connectors.errors import ConnectorError, TransientError
from connectors.netsuite import NetSuiteConnector
from connectors.netsuite.client import SOAP_ENV, as_list, response_body, to_python
from mapping.models import (
    Allocation,
    CollectionStatus,
    CollectionStatusUpdate,
    Customer,
    Invoice,
    PaymentApplication,
    Stream,
    TargetType,
)
from sandboxes.netsuite import NetSuiteSandbox
from sandboxes.netsuite.schema import EnvelopeValidator


@pytest.fixture(scope="module")
def oracle_wsdl(specs_dir: Path) -> Path:
    return specs_dir / "netsuite" / "2023_2" / "netsuite.wsdl"


@pytest.fixture(scope="module")
def oracle(oracle_wsdl: Path) -> EnvelopeValidator:
    """Oracle's full 2023_2 schema (about a second to load: once per module)."""
    return EnvelopeValidator(oracle_wsdl)


@pytest.fixture(scope="module")
def samples(specs_dir: Path) -> list[Path]:
    found = sorted((specs_dir / "netsuite" / "samples").rglob("*.xml"))
    assert len(found) == 42
    return found


def _full_cycle(sandbox: NetSuiteSandbox, conn: NetSuiteConnector) -> None:
    """Every operation the connector sends: reads, incremental reads with deletions, writes, gets."""
    cursors = {s: list(conn.read(s, None))[-1].cursor for s in Stream}
    invoice = sandbox.ids("invoice")[2]
    rec = sandbox.record("invoice", invoice)
    customer = rec.find("{*}entity").get("internalId")  # type: ignore[union-attr]
    due = Decimal(rec.findtext("{*}amountRemaining") or "0")
    sandbox.touch("invoice", invoice, memo="touched")
    sandbox.delete("creditMemo", sandbox.ids("creditMemo")[0])
    for s in Stream:
        list(conn.read(s, cursors[s]))
    status = OutboundOp(
        "st",
        CollectionStatusUpdate(
            target_type=TargetType.INVOICE,
            target_id=invoice,
            collection_status=CollectionStatus.REMINDED,
            dunning_level=1,
            next_action_date=date(2024, 7, 1),
        ),
    )
    cust_status = OutboundOp(
        "cs",
        CollectionStatusUpdate(
            target_type=TargetType.CUSTOMER, target_id=customer, collection_status=CollectionStatus.ON_HOLD
        ),
    )
    payment = OutboundOp(
        "pay",
        PaymentApplication(
            target_type=TargetType.CUSTOMER,
            target_id=customer,
            customer_remote_id=customer,
            amount=due,
            currency="USD",
            date=date(2024, 7, 1),
            reference="WIRE 1",
            allocations=[Allocation(target_type=TargetType.INVOICE, target_id=invoice, amount=due)],
        ),
    )
    results = conn.write([status, cust_status, payment])
    assert all(r.ok for r in results), results
    assert conn.find_written(payment) is not None
    assert conn.fetch(TargetType.INVOICE, invoice) is not None
    assert conn.check().ok


@pytest.mark.parametrize("wsdl", ["sandbox subset", "oracle 2023_2"])
def test_every_connector_envelope_validates_against_oracle_xsd(
    oracle: EnvelopeValidator, oracle_wsdl: Path, wsdl: str, sandbox_settings: Any
) -> None:
    with NetSuiteSandbox(seed="demo") as sandbox:
        overrides: dict[str, Any] = {"page_size": 20}
        if wsdl.startswith("oracle"):
            overrides["wsdl_url"] = oracle_wsdl.as_uri()
        conn = NetSuiteConnector.create(sandbox_settings(sandbox, **overrides), ConnectorContext("fidelity"))
        answers: list[bytes] = []
        conn.client.session.hooks["response"].append(
            lambda r, *a, **k: answers.append(r.content) if r.request.method == "POST" else None
        )
        _full_cycle(sandbox, conn)
        operations = {r.operation for r in sandbox.requests_log}
        assert operations >= {"search", "searchMoreWithId", "getDeleted", "get", "updateList", "upsertList"}
        for logged in sandbox.requests_log:
            assert logged.status == 200
            assert oracle.errors(logged.body) == [], logged.operation
        # The sandbox's answers are SuiteTalk too: they validate against Oracle's schema.
        assert len(answers) == len(sandbox.requests_log)
        for body in answers:
            assert oracle.errors(body) == []


def test_real_sample_envelopes_parse_through_the_connector(samples: list[Path]) -> None:
    conn = NetSuiteConnector.create(
        {
            "account": "TSTDRV1",
            "consumer_key": "k",
            "consumer_secret": "s",
            "token_id": "t",
            "token_secret": "s",
            "default_currency": "USD",
        },
        ConnectorContext("samples"),
    )
    assert isinstance(conn, NetSuiteConnector)
    faults = mapped = garbled = 0
    for path in samples:
        content = path.read_bytes()
        try:
            response = response_body(content)
        except ConnectorError as exc:
            if b"Fault>" in content:
                faults += 1
                continue
            # Two recorded answers are cut short: a truncated answer is retried, never half-parsed.
            assert isinstance(exc, TransientError)
            with pytest.raises(etree.XMLSyntaxError):
                etree.fromstring(content)
            garbled += 1
            continue
        data = to_python(response)
        assert isinstance(data, dict) and data, path
        for read in as_list(data.get("readResponse")):
            record = read.get("record") or {}
            stream = {"Invoice": Stream.INVOICES, "Customer": Stream.CUSTOMERS}.get(record.get("_type"))
            if stream is not None and path.parent.name == "get":
                canonical = conn.to_record(stream, record)
                assert isinstance(canonical, Invoice | Customer)
                assert canonical.remote_id == record["internalId"]
                mapped += 1
    assert (faults, mapped, garbled) == (2, 2, 2)


def test_older_namespace_search_answer_reads_like_the_current_one(samples: list[Path]) -> None:
    [sample] = [p for p in samples if p.name == "get_deleted_invoices.xml"]
    body = etree.parse(str(sample)).getroot().find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    result = to_python(body[0])["getDeletedResult"]
    rows = as_list(result["deletedRecordList"])
    assert [r["record"]["internalId"] for r in rows] == ["1", "2", "3"]
    assert result["status"]["isSuccess"] == "true"


@pytest.fixture(scope="module")
def sdk_sandbox() -> Iterator[NetSuiteSandbox]:
    with NetSuiteSandbox(seed="demo") as sb:
        yield sb


def test_netsuitesdk_client_searches_gets_and_upserts_against_the_sandbox(
    oracle_wsdl: Path, sdk_sandbox: NetSuiteSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netsuitesdk.internal.client import NetSuiteClient

    sb = sdk_sandbox
    # netsuitesdk builds both URLs from class-level templates: point them at Oracle's WSDL file and
    # at the sandbox's endpoint.
    monkeypatch.setattr(
        NetSuiteClient, "WSDL_URL_TEMPLATE", oracle_wsdl.as_uri() + "#{account}{wsdl_version}"
    )
    monkeypatch.setattr(
        NetSuiteClient, "DATACENTER_URL_TEMPLATE", sb.url + "#{account}{netsuite_port_version}"
    )
    client = NetSuiteClient(account=sb.account, caching=False, wsdl_version="2023_2", page_size=20)
    client.connect_tba(sb.consumer_key, sb.consumer_secret, sb.token_id, sb.token_secret)

    found = client.search(client.CustomerSearchBasic())
    assert found.totalRecords == len(sb.ids("customer")) and len(found.recordList.record) == 16

    invoice_id = sb.ids("invoice")[0]
    invoice = client.get("invoice", internalId=invoice_id)
    assert invoice.internalId == invoice_id and invoice.tranId.startswith("INV")

    # netsuitesdk's type table has no CustomerPayment: take it from the same zeep client.
    types = "urn:customers_2023_2.transactions.webservices.netsuite.com"
    payment_type = client._client.get_type(f"{{{types}}}CustomerPayment")
    apply_list = client._client.get_type(f"{{{types}}}CustomerPaymentApplyList")
    apply_line = client._client.get_type(f"{{{types}}}CustomerPaymentApply")
    due = float(invoice.amountRemaining)
    payment = payment_type(
        externalId="sdk-payment-1",
        customer=client.RecordRef(internalId=invoice.entity.internalId),
        payment=due,
        applyList=apply_list(apply=[apply_line(apply=True, doc=int(invoice_id), amount=due)]),
    )
    before = len(sb.ids("customerPayment"))
    first = client.upsert(payment)
    second = client.upsert(payment)
    assert first.internalId == second.internalId
    assert len(sb.ids("customerPayment")) == before + 1
    assert sb.record("invoice", invoice_id).findtext("{*}status") == "Paid In Full"
    assert all(r.status == 200 for r in sb.requests_log)


def test_sandbox_wsdl_is_served_with_its_own_endpoint(sdk_sandbox: NetSuiteSandbox) -> None:
    wsdl = requests.get(sdk_sandbox.wsdl_url, timeout=10)
    assert wsdl.status_code == 200 and sdk_sandbox.url.encode() in wsdl.content
    xsd = requests.get(sdk_sandbox.wsdl_url.replace("netsuite.wsdl", "xsd/platform.core.xsd"), timeout=10)
    assert xsd.status_code == 200 and b"TokenPassport" in xsd.content
    assert (
        requests.get(sdk_sandbox.base_url + "/wsdl/v2023_2_0/../../server.py", timeout=10).status_code == 404
    )
