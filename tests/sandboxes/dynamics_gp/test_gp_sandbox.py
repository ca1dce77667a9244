"""The GP sandbox: a company laid out from GP's files whose eConnect stand-ins behave as eConnect does."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandboxes.dynamics_gp import GpSandbox
from sandboxes.dynamics_gp.cli import command
from tests.conftest import SPECS
from tests.connectors.dynamics_gp.gp_support import GP_DATABASE, new_sandbox

NOW = datetime(2026, 12, 4)


@pytest.fixture
def gp() -> Iterator[GpSandbox]:
    sandbox = new_sandbox("demo")
    try:
        yield sandbox
    finally:
        sandbox.drop()
        sandbox.close()


def apply(gp: GpSandbox, to: str, amount: str, frm: str = "PYMNT3006", to_type: int = 1) -> tuple[int, str]:
    return gp.econnect(
        "taRMApply",
        I_vAPTODCNM=to,
        I_vAPFRDCNM=frm,
        I_vAPPTOAMT=Decimal(amount),
        I_vAPFRDCTY=9,
        I_vAPTODCTY=to_type,
    )


def open_amount(gp: GpSandbox, number: str) -> Decimal:
    return Decimal(gp.rows(f'SELECT "CURTRXAM" FROM {gp.t("RM20101")} WHERE "DOCNUMBR" = ?', number)[0][0])


def test_the_sandbox_command_prints_a_connection_block_that_checks_and_syncs(tmp_path: Path) -> None:
    schema = f"gpcli_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{GP_DATABASE}"
    new_sandbox("empty").drop()  # skips or fails like the other tests when ODBC or PostgreSQL is missing
    result = CliRunner().invoke(command, ["--url", url, "--schema", schema, "--specs", str(SPECS)])
    try:
        assert result.exit_code == 0, result.output
        assert "10 customers" in result.output
        block = result.output.split("connections:\n", 1)[1]
        config = tmp_path / "arbridge.yaml"
        config.write_text(
            f"version: 1\nstore: {{url: 'sqlite:///{tmp_path / 'state.sqlite'}'}}\nconnections:\n{block}"
        )
        from config import load_config
        from engine.runner import open_store, sync_connection

        deployment = load_config(config)
        [connection] = deployment.connections
        assert connection.connector == "dynamics-gp"
        store = open_store(deployment)
        report = sync_connection(deployment, connection, store, sleep=lambda s: None)
        assert report.status == "ok", report.errors
        assert report.pulled["invoices"]["new"] >= 40 and report.pulled["customers"]["new"] == 10
        store.close()
    finally:
        sandbox = GpSandbox(database=GP_DATABASE, schema=schema, specs=SPECS)
        sandbox.logins.append(re.search(r"SQL login for the connector: (\S+)", result.output).group(1))  # type: ignore[union-attr]
        sandbox.drop()
        sandbox.close()


def test_an_application_lowers_both_documents_and_a_second_one_of_the_pair_adds_to_it(gp: GpSandbox) -> None:
    payment, invoice = open_amount(gp, "PYMNT3006"), open_amount(gp, "STDINV2006")

    assert apply(gp, "STDINV2006", "10.00") == (0, "")
    assert apply(gp, "STDINV2006", "5.00") == (0, "")

    assert open_amount(gp, "PYMNT3006") == payment - 15 and open_amount(gp, "STDINV2006") == invoice - 15
    [(amount,)] = gp.rows(f'SELECT "APPTOAMT" FROM {gp.t("RM20201")} WHERE "APFRDCNM" = \'PYMNT3006\'')
    assert amount == Decimal("15")


def test_over_application_and_unknown_documents_are_refused_with_error_numbers_and_nothing_changes(
    gp: GpSandbox,
) -> None:
    payment, invoice = open_amount(gp, "PYMNT3006"), open_amount(gp, "STDINV2006")

    assert apply(gp, "STDINV2006", str(invoice + 1)) == (2010, "2010")
    assert apply(gp, "STDINV2006", str(payment + 1)) == (2009, "2009 2010")
    assert apply(gp, "NOSUCHDOC", "1.00")[0] == 2005
    assert apply(gp, "STDINV2006", "1.00", frm="NOSUCHPAY")[0] == 2004
    assert apply(gp, "STDINV2001", "1.00")[0] == 2006  # another customer's invoice
    assert apply(gp, "STDINV2006", "-1.00")[0] == 2008

    assert open_amount(gp, "PYMNT3006") == payment and open_amount(gp, "STDINV2006") == invoice
    assert not gp.rows(f"SELECT 1 FROM {gp.t('RM20201')} WHERE \"APFRDCNM\" = 'PYMNT3006'")


def test_a_cash_receipt_number_is_taken_once_and_an_unknown_customer_is_refused(gp: GpSandbox) -> None:
    receipt = {
        "I_vDOCNUMBR": "RCPT-1",
        "I_vDOCDATE": NOW,
        "I_vORTRXAMT": Decimal("12.00"),
        "I_vGLPOSTDT": NOW,
        "I_vBACHNUMB": "BATCH",
        "I_vCSHRCTYP": 0,
    }
    assert gp.econnect("taRMCashReceiptInsert", I_vCUSTNMBR="AARONFIT0001", **receipt) == (0, "")
    assert gp.econnect("taRMCashReceiptInsert", I_vCUSTNMBR="ADAMPARK0001", **receipt) == (1008, "1008")
    assert (
        gp.econnect("taRMCashReceiptInsert", I_vCUSTNMBR="NOBODY", **{**receipt, "I_vDOCNUMBR": "RCPT-2"})[0]
        == 1007
    )
    bad = {**receipt, "I_vDOCNUMBR": "", "I_vORTRXAMT": Decimal(0), "I_vCSHRCTYP": 7}
    assert gp.econnect("taRMCashReceiptInsert", I_vCUSTNMBR="AARONFIT0001", **bad) == (1002, "1002 1005 1006")


def test_a_char_argument_longer_than_its_parameter_is_cut_as_sql_server_cuts_it(gp: GpSandbox) -> None:
    assert gp.econnect("taUpdateCreateCustomerRcd", I_vCUSTNMBR="AARONFIT0001", I_vUSERDEF1="x" * 25) == (
        0,
        "",
    )
    [(value,)] = gp.rows(f'SELECT "USERDEF1" FROM {gp.t("RM00101")} WHERE "CUSTNMBR" = \'AARONFIT0001\'')
    assert value.rstrip() == "x" * 20  # @I_vUSERDEF1 is char(20)


def test_a_customer_update_keeps_every_field_it_does_not_pass(gp: GpSandbox) -> None:
    columns = '"CUSTNAME", "PHONE1", "PYMTRMID", "COMMENT1", "CRLMTAMT"'
    [before] = gp.rows(f"SELECT {columns} FROM {gp.t('RM00101')} WHERE \"CUSTNMBR\" = 'ADAMPARK0001'")

    assert gp.econnect("taUpdateCreateCustomerRcd", I_vCUSTNMBR="ADAMPARK0001", I_vCOMMENT1="on hold") == (
        0,
        "",
    )

    [after] = gp.rows(f"SELECT {columns} FROM {gp.t('RM00101')} WHERE \"CUSTNMBR\" = 'ADAMPARK0001'")
    assert after[3].rstrip() == "on hold"
    assert [after[0], after[1], after[2], after[4]] == [before[0], before[1], before[2], before[4]]
    assert (
        gp.econnect("taUpdateCreateCustomerRcd", I_vCUSTNMBR="ADAMPARK0001", I_vUpdateIfExists=0)[0] == 3002
    )
    assert gp.econnect("taUpdateCreateCustomerRcd", I_vCUSTNMBR="NEWCUST")[0] == 3003


def test_the_large_seed_is_a_consistent_company() -> None:
    sandbox = new_sandbox("large", invoices=2_000)
    try:
        [(invoices, open_total, applied)] = sandbox.rows(
            f'SELECT COUNT(*), SUM("ORTRXAMT" - "CURTRXAM"), '
            f'(SELECT SUM("APPTOAMT") FROM {sandbox.t("RM20201")}) '
            f'FROM {sandbox.t("RM20101")} WHERE "RMDTYPAL" = 1'
        )
        assert invoices == 2_000 and open_total == applied and applied > 0
        [(stamps,)] = sandbox.rows(f'SELECT MAX("DEX_ROW_TS") FROM {sandbox.t("RM20101")}')
        assert stamps < datetime(2026, 6, 1), "an old company's stamps lie in the past"
    finally:
        sandbox.drop()
        sandbox.close()
