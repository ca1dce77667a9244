"""Every table, column, procedure and parameter the connector uses exists in GP's own files, typed alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from connectors.dynamics_gp import schema as gp
from sandboxes.dynamics_gp.ddl import type_category
from sandboxes.dynamics_gp.procedures import customer_columns, stand_in_parameters
from sandboxes.dynamics_gp.vendor import VendorSchema, load

XS = "{http://www.w3.org/2001/XMLSchema}"
# eConnect's XML types for the SQL types of its procedures' parameters.
XSD_TYPES = {
    "text": {"xs:string"},
    "number": {"xs:decimal"},
    "integer": {"xs:int", "xs:short"},
    "date": {"xs:string"},
}


@pytest.fixture(scope="module")
def vendor(specs_dir: Path) -> VendorSchema:
    return load(specs_dir)


@pytest.fixture(scope="module")
def xsd(specs_dir: Path) -> etree._ElementTree:
    return etree.parse(str(specs_dir / "dynamics-gp" / "econnect" / "eConnect.xsd"))


READ = {
    gp.CUSTOMER_TABLE: gp.CUSTOMER_COLUMNS,
    **{t: gp.DOCUMENT_COLUMNS for t in gp.DOCUMENT_TABLES},
    **{t: gp.APPLY_COLUMNS for t in gp.APPLY_TABLES},
}


@pytest.mark.parametrize("table", sorted(READ))
def test_every_column_the_connector_reads_is_in_gps_table(vendor: VendorSchema, table: str) -> None:
    spec = vendor.tables[table]
    missing = [c for c in READ[table] if c not in spec.names]
    assert not missing, f"{table} has no {missing}"
    # The keyset order is the vendor's primary key.
    assert gp.KEYS[table] == spec.primary_key


def test_the_timestamp_the_incremental_reads_rely_on_is_where_the_vendor_has_it(vendor: VendorSchema) -> None:
    for table in (gp.CUSTOMER_TABLE, *gp.DOCUMENT_TABLES):
        column = vendor.tables[table].column("DEX_ROW_TS")
        assert column.sql_type == "datetime" and column.default == "getutcdate()"
    for table in gp.APPLY_TABLES:
        assert "DEX_ROW_TS" not in vendor.tables[table].names, "the apply tables carry no timestamp"


def test_amounts_are_money_columns_and_keys_are_text(vendor: VendorSchema) -> None:
    for table in gp.DOCUMENT_TABLES:
        spec = vendor.tables[table]
        assert {spec.column(c).sql_type for c in ("ORTRXAMT", "CURTRXAM")} == {"numeric(19,5)"}
        assert (
            spec.column("DOCNUMBR").sql_type == "char(21)" and spec.column("RMDTYPAL").sql_type == "smallint"
        )
    for table in gp.APPLY_TABLES:
        assert vendor.tables[table].column("APPTOAMT").sql_type == "numeric(19,5)"


@pytest.mark.parametrize("procedure", sorted(gp.PROCEDURES))
def test_every_econnect_parameter_passed_exists_with_the_vendors_type(
    vendor: VendorSchema, procedure: str
) -> None:
    spec = vendor.procedures[procedure]
    for name, sql_type in gp.PROCEDURES[procedure].items():
        assert spec.parameter(name).sql_type == sql_type, f"{procedure} {name}"
    for name, sql_type in gp.OUTPUTS:
        parameter = spec.parameter(name)
        assert parameter.output and parameter.sql_type == sql_type
    required = {p.name for p in spec.parameters if p.required}
    assert required <= set(gp.PROCEDURES[procedure]) | {"@I_vCUSTNMBR"}, (
        f"{procedure} requires {sorted(required - set(gp.PROCEDURES[procedure]))}, "
        "which the connector does not pass"
    )


def test_the_write_calls_pass_every_parameter_econnect_requires(vendor: VendorSchema) -> None:
    # The connector's receipt passes all seven required values; an apply its five.
    assert {p.name for p in vendor.procedures["taRMCashReceiptInsert"].parameters if p.required} == {
        "@I_vCUSTNMBR",
        "@I_vDOCNUMBR",
        "@I_vDOCDATE",
        "@I_vORTRXAMT",
        "@I_vGLPOSTDT",
        "@I_vBACHNUMB",
        "@I_vCSHRCTYP",
    }
    assert {p.name for p in vendor.procedures["taRMApply"].parameters if p.required} == {
        "@I_vAPTODCNM",
        "@I_vAPFRDCNM",
        "@I_vAPPTOAMT",
        "@I_vAPFRDCTY",
        "@I_vAPTODCTY",
    }


@pytest.mark.parametrize("procedure", sorted(gp.PROCEDURES))
def test_every_parameter_passed_is_an_element_of_the_econnect_schema_with_a_matching_type(
    xsd: etree._ElementTree, procedure: str
) -> None:
    [complex_type] = xsd.findall(f".//{XS}complexType[@name='{procedure}']")
    elements = {e.get("name"): e for e in complex_type.iter(f"{XS}element")}
    for name, sql_type in gp.PROCEDURES[procedure].items():
        field = name.removeprefix("@I_v")
        assert field in elements, f"eConnect.xsd {procedure} has no element {field}"
        assert elements[field].get("type") in XSD_TYPES[type_category(sql_type)], f"{procedure}.{field}"
    required = {n for n, e in elements.items() if e.get("minOccurs") == "1"}
    passed = {n.removeprefix("@I_v") for n in gp.PROCEDURES[procedure]}
    assert required <= passed, f"{procedure}: the schema requires {sorted(required - passed)}"


def test_the_status_fields_are_customer_columns_and_parameters_of_one_width(vendor: VendorSchema) -> None:
    table = vendor.tables[gp.CUSTOMER_TABLE]
    parameters = {p.name: p for p in vendor.procedures["taUpdateCreateCustomerRcd"].parameters}
    for field in gp.STATUS_FIELDS:
        column, parameter = table.column(field), parameters[f"@I_v{field}"]
        # The parameter is one shorter than the column (GP's char columns keep a byte for Dexterity).
        assert column.length == (parameter_length := int(parameter.sql_type[5:-1])) + 1, (
            field,
            parameter_length,
        )
        assert customer_columns(vendor)[parameter.name] == field


def test_the_stand_in_declares_every_vendor_parameter_but_the_gl_account_strings(
    vendor: VendorSchema,
) -> None:
    for procedure in vendor.procedures.values():
        kept = {p.name for p in stand_in_parameters(procedure)}
        left_out = {p.name for p in procedure.parameters} - kept
        assert all(name.endswith("ACTNUMST") for name in left_out)
        assert set(gp.PROCEDURES[procedure.name]) <= kept
    assert len(stand_in_parameters(vendor.procedures["taUpdateCreateCustomerRcd"])) == 94


def test_the_stand_in_database_has_exactly_the_vendors_columns_and_keys(vendor: VendorSchema) -> None:
    from tests.connectors.dynamics_gp.gp_support import new_sandbox

    sandbox = new_sandbox("empty")
    try:
        for name, table in vendor.tables.items():
            rows = sandbox.rows(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                sandbox.schema,
                name,
            )
            assert [r[0] for r in rows] == table.names
            [(key,)] = sandbox.rows(
                "SELECT constraint_name FROM information_schema.table_constraints WHERE table_schema = ? "
                "AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
                sandbox.schema,
                name,
            )
            assert key == table.primary_key_name
    finally:
        sandbox.drop()
        sandbox.close()
