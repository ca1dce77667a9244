"""The sandbox serves what Microsoft's API v2.0 defines and what the arbridge extension's AL declares.

Microsoft's files are read from the specs folder (``specs_dir``): the real ``$metadata`` of a BC
online tenant and the field inventory extracted from the APIV2 pages' AL source. The extension's
AL is parsed here, so the sandbox and the extension cannot drift apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lxml import etree

from sandboxes.business_central.entities import API_V2, ENUMS, EXTENSION

EDM = {"e": "http://docs.oasis-open.org/odata/ns/edm"}
ROOT = Path(__file__).resolve().parents[3]
AL = ROOT / "connectors" / "business_central" / "extension" / "src"
# Types of the base-table fields the extension's pages show that Microsoft's field inventory does
# not list, by source table (BaseApp: Customer, Cust. Ledger Entry, Gen. Journal Batch).
BASE_TYPES = {
    "Customer": {"No.": "Code[20]", "Name": "Text[100]"},
    "Cust. Ledger Entry": {
        "Due Date": "Date",
        "Remaining Amount": "Decimal",
        "On Hold": "Code[3]",
        "Last Issued Reminder Level": "Integer",
    },
    "Gen. Journal Batch": {
        "Name": "Code[10]",
        "Description": "Text[100]",
        "Journal Template Name": "Code[10]",
    },
    # Microsoft's base application, table 97 "Comment Line" (Microsoft.Foundation.Comment).
    "Comment Line": {
        "No.": "Code[20]",
        "Line No.": "Integer",
        "Date": "Date",
        "Code": "Code[10]",
        "Comment": "Text[80]",
    },
}
SYSTEM_TYPES = {"SystemId": "Guid", "SystemModifiedAt": "DateTime"}


@pytest.fixture(scope="module")
def microsoft_metadata(specs_dir: Path) -> etree._ElementTree:
    return etree.parse(str(specs_dir / "business-central" / "metadata" / "api-v2.0.metadata.xml"))


@pytest.fixture(scope="module")
def page_fields(specs_dir: Path) -> dict[str, dict[str, dict[str, object]]]:
    data = json.loads((specs_dir / "business-central" / "apiv2-entities.bcapps-extract.json").read_text())
    out: dict[str, dict[str, dict[str, object]]] = {}
    for entity in data["entities"]:
        name = entity["properties"].get("EntitySetName") or entity["objectName"]
        out[name] = {f["jsonName"]: f for f in entity["fields"]}
        for column in entity.get("columns") or []:
            out.setdefault("query:" + name, {})[column["jsonName"]] = column
    return out


def test_every_standard_entity_the_sandbox_serves_has_exactly_microsofts_properties_and_types(
    microsoft_metadata: etree._ElementTree,
) -> None:
    for entity_set in API_V2.entity_sets.values():
        found = microsoft_metadata.find(f".//e:EntitySet[@Name='{entity_set.name}']", EDM)
        assert found is not None, f"{entity_set.name} is not an entity set of API v2.0"
        assert found.get("EntityType") == f"Microsoft.NAV.{entity_set.entity_type}"
        entity_type = microsoft_metadata.find(f".//e:EntityType[@Name='{entity_set.entity_type}']", EDM)
        assert entity_type is not None
        theirs = [
            (p.get("Name"), p.get("Type"), p.get("MaxLength"), p.get("Nullable") != "false")
            for p in entity_type.findall("e:Property", EDM)
        ]
        ours = [
            (p.name, p.edm_type, str(p.max_length) if p.max_length else None, p.nullable)
            for p in entity_set.properties
        ]
        assert ours == theirs, f"{entity_set.name} differs from Microsoft's $metadata"
        key = [k.get("Name") for k in entity_type.findall("e:Key/e:PropertyRef", EDM)]
        assert key == [entity_set.key]


def test_enum_members_match_microsofts_metadata(microsoft_metadata: etree._ElementTree) -> None:
    for name in {*API_V2.enums, "genJournalDocumentType"}:
        enum = microsoft_metadata.find(f".//e:EnumType[@Name='{name}']", EDM)
        assert enum is not None, name
        assert tuple(m.get("Name") for m in enum.findall("e:Member", EDM)) == ENUMS[name]


def test_fields_the_sandbox_refuses_to_write_are_read_only_on_microsofts_pages(
    page_fields: dict[str, dict[str, dict[str, object]]],
) -> None:
    for name in (
        "customers",
        "salesInvoices",
        "salesCreditMemos",
        "customerPayments",
        "customerPaymentJournals",
    ):
        fields = page_fields[name]
        for prop in API_V2.entity_sets[name].properties:
            if prop.read_only and prop.name != "lastModifiedDateTime":
                assert fields[prop.name]["editable"] is False, (
                    f"{name}.{prop.name} is writable on the AL page"
                )
            if prop.name in fields and fields[prop.name]["editable"] is False:
                assert prop.read_only, f"{name}.{prop.name} is read-only on the AL page, the sandbox takes it"


def _al_files() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(AL.glob("*.al"))}


def _al_enum_members(text: str) -> tuple[str, ...]:
    names = re.findall(r'value\(\d+;\s*("([^"]*)"|\w+)\)', text)
    return tuple((quoted or bare).replace(" ", "_x0020_") if (quoted or bare).strip() else "_x0020_"
                 for bare, quoted in names)  # fmt: skip


def _table_extension_types(files: dict[str, str]) -> dict[str, str]:
    types: dict[str, str] = {}
    for text in files.values():
        if text.startswith(("tableextension", "table ")):  # the extension's own tables too
            for name, al_type in re.findall(r'field\(\d+;\s*"([^"]+)";\s*([^)]+?)\)\s*\n', text):
                types[f'"{name}"'] = al_type.strip()
    return types


_EDM_OF_AL = {
    "Guid": "Guid",
    "Integer": "Int32",
    "Decimal": "Decimal",
    "Boolean": "Boolean",
    "Date": "Date",
    "DateTime": "DateTimeOffset",
}


def _edm(al_type: str) -> tuple[str, int | None]:
    m = re.match(r"^(Code|Text)\[(\d+)\]$", al_type)
    if m:
        return "String", int(m.group(2))
    if al_type.startswith("Enum "):
        name = al_type[5:].strip().strip('"').replace(" ", "").replace(".", "")
        return "@" + name[0].lower() + name[1:], None
    return _EDM_OF_AL[al_type], None


def test_the_sandbox_serves_exactly_the_entity_sets_fields_and_types_the_extension_declares(
    page_fields: dict[str, dict[str, dict[str, object]]],
) -> None:
    files = _al_files()
    columns = page_fields["query:customerLedgerEntries"].values()
    ledger_columns = {str(c["alSource"]): str(c["alType"]) for c in columns}
    extension_types = {k.strip('"'): v for k, v in _table_extension_types(files).items()}
    pages = [t for t in files.values() if t.startswith("page ")]
    served = {name for name, s in EXTENSION.entity_sets.items() if s.in_company}
    declared = set()
    for text in pages:
        assert re.search(r"APIPublisher = 'arbridge';", text) and re.search(
            r"APIGroup = 'collections';", text
        )
        assert "APIVersion = 'v1.0';" in text and "ODataKeyFields = SystemId;" in text
        entity_set = re.search(r"EntitySetName = '(\w+)';", text)
        assert entity_set is not None
        declared.add(entity_set.group(1))
        table = re.search(r"SourceTable = (\w+|\"[^\"]+\");", text)
        assert table is not None
        table_name = table.group(1).strip('"')
        types = {**SYSTEM_TYPES, **BASE_TYPES.get(table_name, {}), **extension_types}
        if table_name == "Cust. Ledger Entry":
            types.update({k.strip('"'): v for k, v in ledger_columns.items()})
        ours = EXTENSION.entity_sets[entity_set.group(1)]
        declarations = text.split("\n    var\n", 1)[1] if "\n    var\n" in text else ""
        variables = dict(re.findall(r"^\s+(\w+): ([^;]+);", declarations, re.M))
        fields = re.findall(r"field\((\w+); ([^)]+)\)\s*\{([^}]*)\}", text)
        assert [f[0] for f in fields] == list(ours.names), f"{entity_set.group(1)}: fields differ from the AL"
        for json_name, source, body in fields:
            source = source.strip().removeprefix("Rec.")
            al_type = variables.get(source) or types[source.strip('"')]
            edm_type, length = _edm(al_type.strip())
            prop = ours.prop(json_name)
            assert prop is not None
            assert (prop.type, prop.max_length) == (edm_type, length), f"{entity_set.group(1)}.{json_name}"
            assert prop.read_only == ("Editable = false" in body), (
                f"{entity_set.group(1)}.{json_name} editability"
            )
        actions = re.findall(r"\[ServiceEnabled\]\s*procedure (\w+)", text)
        assert tuple(a[0].lower() + a[1:] for a in actions) == ours.actions
    assert declared == served
    enum_text = next(t for t in files.values() if t.startswith("enum "))
    assert _al_enum_members(enum_text) == ENUMS["aRBCollectionStatus"]


def test_sample_bodies_from_a_real_tenant_parse_through_the_connectors_mapping(specs_dir: Path) -> None:
    from connectors.base import ConnectorContext
    from connectors.business_central import BusinessCentralConnector
    from mapping.models import Customer, Stream

    sample = json.loads(
        (specs_dir / "business-central" / "samples" / "rebelpl-bc-api2-client" / "customer.json").read_text()
    )
    connector = BusinessCentralConnector.create(
        {"deployment": "on_premises", "server_url": "https://bc.example.com:7048/BC/api", "username": "U",
         "web_service_key": "k", "company": "Rebel"},
        ConnectorContext("fidelity"),
    )  # fmt: skip
    record = connector.to_record(Stream.CUSTOMERS, sample)
    assert isinstance(record, Customer)
    assert (record.remote_id, record.name, record.currency, record.credit_limit) == (
        "34f03eee-2a32-f011-9a4a-7ced8d0ee6e7",
        "Test Customer",
        "PLN",
        2000,
    )
    assert record.version == sample["@odata.etag"] and record.status.value == "active"
