"""A GP document that breaks a rule waits in quarantine, by its id; the rest of its page is stored."""

from __future__ import annotations

from pathlib import Path

from connectors.base import ConnectorContext
from connectors.dynamics_gp import DynamicsGpConnector
from engine.sync import SyncEngine, SyncOptions
from mapping.models import Invoice, Stream
from sandboxes.dynamics_gp import GpSandbox
from store import StateStore
from tests.connectors.dynamics_gp.gp_support import SENTINEL_PASSWORD


def test_bad_invoices_in_a_page_are_quarantined_by_id_and_the_rest_of_the_page_is_stored(
    gp: GpSandbox, login: str, tmp_path: Path
) -> None:
    invoices = gp.t("RM20101")
    # One currency ID nobody mapped, one amount finer than a cent, one blank document date.
    gp.execute(f"UPDATE {invoices} SET \"CURNCYID\" = 'Z-XYZ' WHERE \"DOCNUMBR\" = 'STDINV2003'")
    gp.execute(f'UPDATE {invoices} SET "ORTRXAMT" = 100.005 WHERE "DOCNUMBR" = \'STDINV2004\'')
    gp.execute(f"UPDATE {invoices} SET \"DOCDATE\" = '1900-01-01' WHERE \"DOCNUMBR\" = 'STDINV2006'")
    every = {row[0] for row in gp.rows(f'SELECT "DOCNUMBR" FROM {invoices} WHERE "RMDTYPAL" = 1')}
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    connector = DynamicsGpConnector.create(
        {
            "connection_string": gp.connection_string(user=login),
            "password": SENTINEL_PASSWORD,
            "schema": gp.schema,
            "page_size": 7,
        },
        ConnectorContext("gp-test", state=store.connector_state("gp-test")),
    )

    report = SyncEngine(
        store, connector, "gp-test", SyncOptions(streams=[Stream.INVOICES], write_back=False)
    ).run_cycle()

    refused = {q["remote_id"]: q for q in store.quarantined("gp-test")}
    assert {rid: (q["field_path"], q["stream"]) for rid, q in refused.items()} == {
        "1:STDINV2003": ("CURNCYID", "invoices"),
        "1:STDINV2004": ("ORTRXAMT", "invoices"),
        "1:STDINV2006": ("DOCDATE", "invoices"),
    }
    assert "Z-XYZ" in refused["1:STDINV2003"]["reason"]
    assert "more decimals than USD" in refused["1:STDINV2004"]["reason"]
    assert report.pulled["invoices"]["quarantined"] == 3
    stored = {
        rid
        for rid in (f"1:{number.rstrip()}" for number in every)
        if isinstance(store.get_record("gp-test", Stream.INVOICES, rid), Invoice)
    }
    assert stored == {f"1:{n.rstrip()}" for n in every} - set(refused)
    assert store.get_cursor("gp-test", Stream.INVOICES) is not None
    connector.close()
    store.close()
