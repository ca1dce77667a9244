"""Call notes and Dynamics GP: the connector declares none and refuses one, saying why, touching nothing."""

from __future__ import annotations

from datetime import date

from connectors.base import OutboundOp, PermanentError
from connectors.dynamics_gp import DynamicsGpConnector
from mapping.models import Note, OpType, TargetType
from sandboxes.dynamics_gp import GpSandbox
from sandboxes.dynamics_gp.procedures import LEDGER
from tests.connectors.dynamics_gp.conftest import connector_for


def test_gp_declares_no_notes_so_the_workspace_keeps_calls_in_arbridge() -> None:
    assert OpType.NOTE not in DynamicsGpConnector.capabilities.write_ops
    assert OpType.COLLECTION_STATUS in DynamicsGpConnector.capabilities.write_ops


def test_a_note_sent_anyway_is_refused_saying_where_gp_keeps_notes_and_no_econnect_call_runs(
    gp: GpSandbox, login: str
) -> None:
    connector = connector_for(gp, login)
    calls_before = gp.rows(f"SELECT COUNT(*) FROM {gp.t(LEDGER)}")[0][0]
    customer_before = gp.rows(f"SELECT * FROM {gp.t('RM00101')} WHERE \"CUSTNMBR\" = 'AMERICAN0001'")
    note = Note(
        target_type=TargetType.CUSTOMER,
        target_id="AMERICAN0001",
        text="Call 2026-11-23 by ben: promised to pay 1:STDINV2004 by 2026-11-30.",
        decided_on=date(2026, 11, 23),
    )

    [result] = connector.write([OutboundOp("key-note-a", note)])

    assert not result.ok and isinstance(result.error, PermanentError)
    assert "SY03900" in result.error.message and "not written to Dynamics GP" in result.error.message
    assert gp.rows(f"SELECT COUNT(*) FROM {gp.t(LEDGER)}")[0][0] == calls_before
    assert gp.rows(f"SELECT * FROM {gp.t('RM00101')} WHERE \"CUSTNMBR\" = 'AMERICAN0001'") == customer_before


def test_check_tells_the_admin_that_notes_are_not_written(gp: GpSandbox, login: str) -> None:
    result = connector_for(gp, login).check()
    assert result.ok and "notes are not written to Dynamics GP" in result.message
