"""A customer deleted in Business Central is flagged deleted in arbridge by the daily id count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from connectors.base import ConnectorContext
from connectors.business_central import BusinessCentralConnector
from engine import SyncEngine, SyncOptions
from mapping.models import Stream
from sandboxes.business_central import BusinessCentralSandbox
from store import StateStore
from tests.connectors.business_central.bc_target import onprem_settings


def test_a_customer_deleted_in_bc_is_flagged_deleted_after_the_next_daily_id_count(tmp_path: Path) -> None:
    now = [datetime.now(UTC)]
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    with BusinessCentralSandbox(seed="demo", notification_delay=0) as bc:
        gone = bc.company.add_customer(
            when=now[0] - timedelta(days=30), number="C99990", displayName="Closed Account Ltd."
        )
        kept = sorted(c for c in bc.company.customers if c != gone["id"])

        def cycle() -> tuple[int, int]:
            connector = BusinessCentralConnector(
                BusinessCentralConnector.settings_model.model_validate(onprem_settings(bc)),
                ConnectorContext("cronus", state=store.connector_state("cronus")),
                clock=lambda: now[0],
            )
            before = len(bc.requests_log)
            with connector:
                report = SyncEngine(
                    store, connector, "cronus", SyncOptions(streams=[Stream.CUSTOMERS])
                ).run_cycle()
            assert report.status == "ok", report.errors
            return report.pulled["customers"]["deleted"], len(bc.requests_log) - before

        assert cycle()[0] == 0
        assert not store.get_record("cronus", Stream.CUSTOMERS, gone["id"]).deleted  # type: ignore[union-attr]

        # Someone deletes the customer in BC (it has no ledger entries, so BC allows it).
        answer = requests.delete(
            f"{bc.onprem_api_url}/v2.0/companies({bc.company.id})/customers({gone['id']})",
            auth=(bc.web_service_user, bc.web_service_key),
            headers={"If-Match": "*"},
            timeout=10,
        )
        assert answer.status_code == 204, answer.text

        # Within the day, incremental pulls do not count ids: one call, nothing flagged yet.
        now[0] += timedelta(hours=2)
        assert cycle() == (0, 1)

        now[0] += timedelta(hours=23)
        deleted, calls = cycle()
        assert (deleted, calls) == (1, 2)  # the incremental page, and one page of every id
        record = store.get_record("cronus", Stream.CUSTOMERS, gone["id"])
        assert record is not None and record.deleted
        assert record.name == "Closed Account Ltd."  # the copy arbridge had, flagged, not a placeholder
        assert not any(store.get_record("cronus", Stream.CUSTOMERS, c).deleted for c in kept)  # type: ignore[union-attr]

        now[0] += timedelta(hours=25)
        assert cycle()[0] == 0  # flagged once
    store.close()
