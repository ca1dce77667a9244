"""A collector's call reaches SAP Business One: the note as an activity, the promise as a status."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from config import load_config
from engine.runner import open_store
from sandboxes.sap_business_one import ServiceLayerSandbox
from tests.connectors.sap_business_one.b1_target import create_fields, settings_for
from tests.workspace.erp_story import ErpStory, erp_story

AS_OF = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def b1() -> Iterator[ServiceLayerSandbox]:
    with ServiceLayerSandbox(seed="demo", throttle=False, clock=lambda: AS_OF) as sandbox:
        create_fields(sandbox)
        yield sandbox


def b1_story(tmp_path: Path, b1: ServiceLayerSandbox, note_mode: str = "activity") -> ErpStory:
    """A deployment on the B1 company, pulled once on AS_OF, with a collector."""
    return erp_story(tmp_path, "sap-business-one", settings_for(b1, note_mode=note_mode), "b1", lambda: AS_OF)


def a_customer_with_open_invoices(b1: ServiceLayerSandbox) -> str:
    return next(
        code
        for code, partner in sorted(b1.company.tables["BusinessPartners"].items())
        if partner["CardType"] == "cCustomer"
        and any(
            d["CardCode"] == code and d["PaidToDate"] == 0 for d in b1.company.tables["Invoices"].values()
        )
    )


def log_promise(story: ErpStory, card: str) -> str:
    """The collector logs a promise with a note for ``card``; returns the worklist they see after."""
    return story.log_promise(card, date(2026, 11, 30), "pays Monday after the board meeting")


def test_a_promise_logged_in_the_workspace_lands_in_b1_as_one_activity_and_promised_invoices(
    b1: ServiceLayerSandbox, tmp_path: Path
) -> None:
    story = b1_story(tmp_path, b1)
    card = a_customer_with_open_invoices(b1)
    assert "a note goes to the ERP at the next cycle" in log_promise(story, card)

    story.cycle(timedelta(hours=1))
    story.cycle(timedelta(hours=2))  # the next cycle sends nothing twice

    [activity] = b1.company.activities_of(card)
    assert activity["ActivityProperty"] == "cn_Note" and activity["ActivityDate"] == "2026-11-23"
    assert activity["Notes"].startswith("Call 2026-11-23 by collector: promised to pay ")
    assert activity["Notes"].endswith("by 2026-11-30. pays Monday after the board meeting")
    promised = [
        d
        for d in b1.company.tables["Invoices"].values()
        if d["CardCode"] == card and d.get("U_ARB_CollStatus") == "promised"
    ]
    named = re.search(r"promised to pay (.+) by 2026-11-30", activity["Notes"])
    assert named is not None
    assert sorted(named.group(1).split(", ")) == sorted(str(d["DocEntry"]) for d in promised) != []


def test_with_notes_off_the_call_stays_in_arbridge_and_only_the_promise_reaches_b1(
    b1: ServiceLayerSandbox, tmp_path: Path
) -> None:
    story = b1_story(tmp_path, b1, note_mode="off")
    card = a_customer_with_open_invoices(b1)
    assert "a note goes to the ERP" not in log_promise(story, card)
    story.cycle(timedelta(hours=1))
    assert b1.company.tables["Activities"] == {}
    store = open_store(load_config(story.path))
    try:
        assert "note" not in {row.op_type for row in store.outbox_rows("b1")}, "no note queued to be refused"
    finally:
        store.close()
    assert any(
        d["CardCode"] == card and d.get("U_ARB_CollStatus") == "promised"
        for d in b1.company.tables["Invoices"].values()
    )
