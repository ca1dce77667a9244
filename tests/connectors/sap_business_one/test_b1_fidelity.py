"""The B1 connector against SAP's own files: metadata names, recorded answers, the guide's error bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import yaml
from lxml import etree

from connectors.errors import AuthError, ConflictError
from connectors.odata import classify_odata
from connectors.rest import MockTransport, RestSession, fake_response
from connectors.sap_business_one.client import ServiceLayer
from connectors.sap_business_one.connector import SETS
from connectors.sap_business_one.fields import user_fields
from connectors.sap_business_one.settings import SapBusinessOneSettings

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
MAPPING = Path(__file__).resolve().parents[3] / "connectors" / "sap_business_one" / "mapping.yaml"
#: Every property the connector reads or writes besides mapping.yaml's, by SAP type.
USED = {
    "BusinessPartner": {
        "CardCode",
        "CardType",
        "UpdateDate",
        "UpdateTime",
        "Valid",
        "Frozen",
        "Currency",
        "BlockDunning",
    },
    "Document": {
        "DocEntry",
        "DocTotal",
        "PaidToDate",
        "DocumentStatus",
        "Cancelled",
        "UpdateDate",
        "UpdateTime",
        "BlockDunning",
    },
    "Payment": {
        "DocEntry",
        "DocDate",
        "CashSum",
        "TransferSum",
        "TransferAccount",
        "TransferDate",
        "TransferReference",
        "Remarks",
        "Cancelled",
        "PaymentInvoices",
        "PaymentChecks",
        "PaymentCreditCards",
        "CardCode",
        "DocCurrency",
    },
    "PaymentInvoice": {"DocEntry", "SumApplied", "InvoiceType", "TotalDiscount"},
    "UserFieldMD": {"Name", "Type", "Size", "EditSize", "Description", "SubType", "TableName"},
}
TYPE_OF_STREAM = {
    "customers": "BusinessPartner",
    "invoices": "Document",
    "credit_memos": "Document",
    "payments": "Payment",
}


@pytest.fixture(scope="module")
def metadata(specs_dir: Path) -> etree._Element:
    path = specs_dir / "sap-business-one" / "metadata" / "v2-odata4" / "servicelayer_metadata_v4.xml"
    return etree.parse(str(path), etree.XMLParser(huge_tree=True)).getroot()


def _props(metadata: etree._Element, type_name: str) -> set[str]:
    node = next(
        n
        for tag in ("EntityType", "ComplexType")
        for n in metadata.iter(f"{EDM}{tag}")
        if n.get("Name") == type_name
    )
    return {p.get("Name") for p in node.findall(f"{EDM}Property")}


def test_every_entity_set_and_action_the_connector_calls_is_in_sap_metadata(metadata: etree._Element) -> None:
    sets = {es.get("Name"): es.get("EntityType") for es in metadata.iter(f"{EDM}EntitySet")}
    for entity_set, _, _ in SETS.values():
        assert entity_set in sets
    assert sets["UserFieldsMD"] == "SAPB1.UserFieldMD"
    actions = {
        (
            a.get("Name"),
            (a.findall(f"{EDM}Parameter") or [None])[0] is not None
            and a.findall(f"{EDM}Parameter")[0].get("Type"),
        )
        for a in metadata.iter(f"{EDM}Action")
    }
    assert ("Cancel", "SAPB1.Payment") in actions
    login = next(a for a in metadata.iter(f"{EDM}Action") if a.get("Name") == "Login")
    assert {p.get("Name") for p in login.findall(f"{EDM}Parameter")} >= {"CompanyDB", "UserName", "Password"}
    assert any(a.get("Name") == "Logout" for a in metadata.iter(f"{EDM}Action"))
    # The ETags the connector sends If-Match with are the ones SAP declares.
    concurrency = {
        es.get("Name") for es in metadata.iter(f"{EDM}EntitySet") if es.find(f"{EDM}Annotation") is not None
    }
    assert {"BusinessPartners", "Invoices", "CreditNotes"} <= concurrency


def test_every_property_the_connector_reads_or_writes_is_in_sap_metadata(metadata: etree._Element) -> None:
    mapping = yaml.safe_load(MAPPING.read_text())
    for stream, spec in mapping["streams"].items():
        have = _props(metadata, TYPE_OF_STREAM[stream])
        for field, source in spec["fields"].items():
            paths = source if isinstance(source, str) else source.get("path")
            for path in [paths] if isinstance(paths, str) else paths or []:
                assert path in have, (
                    f"{stream}.{field} reads {path}, which SAP's {TYPE_OF_STREAM[stream]} lacks"
                )
    for type_name, used in USED.items():
        missing = used - _props(metadata, type_name)
        assert not missing, f"{type_name} lacks {missing}"


def test_the_fields_setup_creates_use_sap_field_types(metadata: etree._Element) -> None:
    enums = {
        e.get("Name"): {m.get("Name") for m in e.iter(f"{EDM}Member")}
        for e in metadata.iter(f"{EDM}EnumType")
    }
    settings = SapBusinessOneSettings(
        service_url="https://b1/b1s/v2", company_db="X", username="u", password="p"
    )
    for field in user_fields(settings):
        assert field.type in enums["BoFieldTypes"] and field.sub_type in enums["BoFldSubTypes"]
        assert len(field.name) <= 18


def _cassette(specs_dir: Path, name: str) -> list[dict]:
    path = specs_dir / "sap-business-one" / "samples" / "b1sl-python-cassettes" / name
    return yaml.safe_load(path.read_text())["interactions"]


def test_recorded_login_and_collection_replay_through_the_connector_client(specs_dir: Path) -> None:
    login = _cassette(specs_dir, "test_get_item_real.yaml")[0]["response"]
    listing = _cassette(specs_dir, "test_list_items_real.yaml")[0]["response"]
    seen: list[requests.PreparedRequest] = []

    def replay(request: requests.PreparedRequest) -> requests.Response:
        seen.append(request)
        recorded = login if request.url.endswith("/Login") else listing
        headers = {k: v[0] for k, v in recorded["headers"].items() if k.lower() != "set-cookie"}
        return fake_response(recorded["status"]["code"], text=recorded["body"]["string"], headers=headers)

    client = ServiceLayer(
        "https://sap-server.example.com:50000/b1s/v2",
        RestSession(transport=MockTransport(replay)),
        company_db="SBODEMO",
        username="manager",
        password="secret",
    )
    pages = list(client.pages("Items", {"$select": "ItemCode"}, page_size=5))
    assert client.session_timeout == 30 and client.version == "1000280"
    assert [len(p.items) for p in pages] == [5] and pages[0].next is None
    assert pages[0].items[0]["@odata.etag"].startswith('W/"')
    login_request, page_request = seen
    assert json.loads(login_request.body)["CompanyDB"] == "SBODEMO"
    assert page_request.headers["Prefer"] == "odata.maxpagesize=5"


def test_the_guides_error_bodies_are_classified_as_b1_means_them(specs_dir: Path) -> None:
    samples = json.loads(
        (
            specs_dir / "sap-business-one" / "samples" / "sl-guide-1.22-login-and-error-examples.DERIVED.json"
        ).read_text()
    )["errorResponses"]
    stale = next(s for s in samples if s["httpStatusLine"] and "412" in s["httpStatusLine"])
    error = classify_odata(412, {}, stale["body"])
    assert isinstance(error, ConflictError) and error.erp_code == "-2039"
    timeout = next(s for s in samples if s["body"]["error"]["code"] == 301)
    error = classify_odata(401, {}, timeout["body"])
    assert isinstance(error, AuthError) and error.erp_code == "301"


def test_every_column_the_fast_read_selects_is_saps_column_for_that_property(specs_dir: Path) -> None:
    from connectors.sap_business_one.tables import ENUM_CODES, ENUM_TYPES, LINES, TABLES

    derived = (
        specs_dir / "sap-business-one" / "db-tables-OCRD-OINV-ORIN-ORCT-RCT2.from-sl-metadata.DERIVED.json"
    )
    vendor = json.loads(derived.read_text(encoding="utf-8"))["tables"]
    # B1 has these two and SAP's 2019 mapping file does not list them (see tables.py).
    documented_elsewhere = {("OINV", "PaidToDate"), ("ORIN", "PaidToDate"), ("RCT2", "DocNum")}
    for table in [*TABLES.values(), LINES]:
        saps = {c["column"]: c for c in vendor[table.name]["columnDetails"]}
        for column, prop in table.columns.items():
            if (table.name, column) in documented_elsewhere:
                assert column not in saps, f"{table.name}.{column} is in SAP's file now: check it there"
                continue
            assert column in saps, f"{table.name}.{column} is not a column of SAP's {table.name}"
            mapped = {
                c["slProperty"]: c for c in vendor[table.name]["columnDetails"] if c["column"] == column
            }
            assert prop in mapped, f"{table.name}.{column} is {set(mapped)}, not {prop}"
            if column in ENUM_TYPES:
                assert mapped[prop]["edmType"] == f"SAPB1.{ENUM_TYPES[column]}"

    # Each code the fast read turns into an enum member is the member's value in SAP's v1 metadata.
    v1 = etree.parse(str(specs_dir / "sap-business-one" / "metadata" / "v1-odata3" / "metadata.xml"))
    members = {
        e.get("Name"): {m.get("Value"): m.get("Name") for m in e.iter("{*}Member")}
        for e in v1.iter("{*}EnumType")
    }
    for enum, codes in ENUM_CODES.items():
        for code, name in codes.items():
            assert members[enum].get(code) == name, f"{enum}: {code!r} is {members[enum].get(code)!r}"
