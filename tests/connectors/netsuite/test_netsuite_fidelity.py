"""Fidelity to Oracle's SuiteTalk: envelopes against the 2023_2 XSDs, real answers, netsuitesdk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
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


@pytest.mark.parametrize("wsdl", ["served by the sandbox", "oracle 2023_2 file"])
def test_every_connector_envelope_validates_against_oracle_xsd(
    oracle: EnvelopeValidator, oracle_wsdl: Path, wsdl: str, sandbox_settings: Any
) -> None:
    with NetSuiteSandbox(seed="demo") as sandbox:
        overrides: dict[str, Any] = {"page_size": 20}
        overrides["wsdl_url"] = oracle_wsdl.as_uri() if wsdl.startswith("oracle") else sandbox.wsdl_url
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
def sdk_sandbox(specs_dir: Path) -> Iterator[NetSuiteSandbox]:
    with NetSuiteSandbox(seed="demo", specs=specs_dir) as sb:
        yield sb


@pytest.fixture
def sdk(sdk_sandbox: NetSuiteSandbox, monkeypatch: pytest.MonkeyPatch) -> Any:
    """netsuitesdk's own client, built from the WSDL the sandbox serves (its URL templates moved there)."""
    from netsuitesdk.internal.client import NetSuiteClient

    sb = sdk_sandbox
    monkeypatch.setattr(
        NetSuiteClient, "WSDL_URL_TEMPLATE", sb.base_url + "/wsdl/{wsdl_version}/netsuite.wsdl"
    )
    monkeypatch.setattr(
        NetSuiteClient, "DATACENTER_URL_TEMPLATE", sb.base_url + "/services/{netsuite_port_version}"
    )
    client = NetSuiteClient(account=sb.account, caching=False, wsdl_version="2023_2", page_size=20)
    client.connect_tba(sb.consumer_key, sb.consumer_secret, sb.token_id, sb.token_secret)
    return client


def _answers(client: Any) -> list[bytes]:
    """Every SOAP answer the client receives from now on, to validate against Oracle's schema."""
    answers: list[bytes] = []
    client._client.transport.session.hooks["response"].append(
        lambda r, *a, **k: answers.append(r.content) if r.request.method == "POST" else None
    )
    return answers


def test_netsuitesdk_loads_the_served_wsdl_and_reads_customers_invoices_and_currencies(
    sdk: Any, sdk_sandbox: NetSuiteSandbox, oracle: EnvelopeValidator
) -> None:
    sb = sdk_sandbox
    answers = _answers(sdk)
    # netsuitesdk's count(): a CustomerSearch holding its basic search (isInactive is false).
    customers = sdk.search(
        sdk.CustomerSearch(
            basic=sdk.CustomerSearchBasic(isInactive=sdk.SearchBooleanField(searchValue=False))
        )
    )
    active = [
        rid for rid in sb.ids("customer") if sb.record("customer", rid).findtext("{*}isInactive") != "true"
    ]
    assert customers.totalRecords == len(active) and len(customers.records) == len(active)

    invoice_id = sb.ids("invoice")[0]
    invoice = sdk.get("invoice", internalId=invoice_id)
    assert invoice.internalId == invoice_id and invoice.tranId.startswith("INV")

    # A transaction search for one customer: entity anyOf, the way integrations filter by customer.
    owner = invoice.entity.internalId
    by_customer = sdk.search(
        sdk.TransactionSearchBasic(
            entity=sdk.SearchMultiSelectField(
                searchValue=[sdk.RecordRef(internalId=owner)], operator="anyOf"
            ),
            type=sdk.SearchEnumMultiSelectField(searchValue=["_invoice"], operator="anyOf"),
        )
    )
    expected = [
        rid
        for rid in sb.ids("invoice")
        if sb.record("invoice", rid).find("{*}entity").get("internalId") == owner
    ]
    assert sorted(r.internalId for r in by_customer.records) == sorted(expected)

    currencies = sdk.getAll("currency")
    assert {c.symbol for c in currencies} == {"USD", "EUR", "GBP"}
    assert [c.name for c in currencies if c.isBaseCurrency] == ["US Dollar"]
    assert all(r.status == 200 for r in sb.requests_log)
    assert answers and all(oracle.errors(body) == [] for body in answers)


def test_a_modified_since_search_without_a_time_zone_is_answered_in_account_time(
    sdk: Any, sdk_sandbox: NetSuiteSandbox, oracle: EnvelopeValidator
) -> None:
    answers = _answers(sdk)
    since = datetime(2000, 1, 1, 8, 30)  # naive: zeep writes xsd:dateTime without an offset
    found = sdk.search(
        sdk.TransactionSearchBasic(lastModifiedDate=sdk.SearchDateField(searchValue=since, operator="after"))
    )
    assert found.totalRecords == sum(
        len(sdk_sandbox.ids(t)) for t in ("invoice", "creditMemo", "customerPayment")
    )
    later = sdk.search(
        sdk.TransactionSearchBasic(
            lastModifiedDate=sdk.SearchDateField(searchValue=datetime(2999, 1, 1), operator="after")
        )
    )
    assert later.totalRecords == 0
    assert [oracle.errors(body) for body in answers] == [[], []]


def test_records_created_through_netsuitesdk_read_back_valid_against_oracle_schema(
    sdk: Any, sdk_sandbox: NetSuiteSandbox, oracle: EnvelopeValidator
) -> None:
    sb = sdk_sandbox
    answers = _answers(sdk)
    customer = sdk.Customer(externalId="sdk-customer-1", companyName="Quayside Chandlery", isPerson=False)
    created = sdk.upsert(customer)
    # zeep (strict) deserializes the record; a field outside Oracle's Customer would fail it.
    again = sdk.get("customer", internalId=created.internalId)
    assert again.companyName == "Quayside Chandlery" and again.dateCreated is not None
    stored = sb.record("customer", created.internalId)
    assert stored.find("{*}dateCreated") is not None and stored.find("{*}createdDate") is None

    invoice_id = sb.ids("invoice")[1]
    invoice = sdk.get("invoice", internalId=invoice_id)
    # netsuitesdk's type table has no CustomerPayment: take it from the same zeep client.
    types = "urn:customers_2023_2.transactions.webservices.netsuite.com"
    payment_type = sdk._client.get_type(f"{{{types}}}CustomerPayment")
    apply_list = sdk._client.get_type(f"{{{types}}}CustomerPaymentApplyList")
    apply_line = sdk._client.get_type(f"{{{types}}}CustomerPaymentApply")
    due = float(invoice.amountRemaining)
    payment = payment_type(
        externalId="sdk-payment-1",
        customer=sdk.RecordRef(internalId=invoice.entity.internalId),
        payment=due,
        applyList=apply_list(apply=[apply_line(apply=True, doc=int(invoice_id), amount=due)]),
    )
    before = len(sb.ids("customerPayment"))
    first = sdk.upsert(payment)
    second = sdk.upsert(payment)
    assert first.internalId == second.internalId
    assert len(sb.ids("customerPayment")) == before + 1
    assert sb.record("invoice", invoice_id).findtext("{*}status") == "Paid In Full"
    paid = sdk.get("customerPayment", internalId=first.internalId)
    assert paid.createdDate is not None
    assert all(oracle.errors(body) == [] for body in answers)


def test_sandbox_serves_oracles_wsdl_with_its_own_endpoint_and_nothing_else(
    sdk_sandbox: NetSuiteSandbox, oracle_wsdl: Path
) -> None:
    wsdl = requests.get(sdk_sandbox.wsdl_url, timeout=10)
    assert wsdl.status_code == 200
    served = etree.fromstring(wsdl.content)
    [address] = served.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == sdk_sandbox.url
    oracle = etree.parse(str(oracle_wsdl)).getroot()
    assert len(list(served.iter("{*}operation"))) == len(list(oracle.iter("{*}operation")))
    xsd = requests.get(sdk_sandbox.wsdl_url.replace("netsuite.wsdl", "xsd/platform.core.xsd"), timeout=10)
    assert xsd.content == (oracle_wsdl.parent / "xsd" / "platform.core.xsd").read_bytes()
    for sneaky in ("/wsdl/v2023_2_0/../../server.py", "/wsdl/v2023_2_0/xsd/../../SOURCES.md"):
        assert requests.get(sdk_sandbox.base_url + sneaky, timeout=10).status_code == 404
