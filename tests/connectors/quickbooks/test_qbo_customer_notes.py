"""A call logged in the workspace is a note on the customer: QuickBooks keeps it in the customer's
``Notes`` (1,024 characters at most), found again by its marker after a lost answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.base import ConnectorContext, MemoryKeyValueStore, OutboundOp
from connectors.quickbooks import QuickBooksConnector, QuickBooksSettings
from connectors.quickbooks.connector import marker_for
from mapping.models import Note, TargetType
from sandboxes.quickbooks.server import QuickBooksSandbox

CUSTOMER = "1"


@pytest.fixture
def erp(specs_dir: Path) -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox(seed="large", records=10, specs=specs_dir) as sandbox:
        yield sandbox


def connector_for(erp: QuickBooksSandbox, **extra: Any) -> QuickBooksConnector:
    settings = {
        "base_url": erp.base_url,
        "token_url": erp.token_url,
        "realm_id": erp.realm_id,
        "client_id": erp.client_id,
        "client_secret": erp.client_secret,
        "refresh_token": erp.issue_refresh_token(),
        **extra,
    }
    return QuickBooksConnector.create(settings, ConnectorContext("books", state=MemoryKeyValueStore()))


def note(key: str, text: str) -> OutboundOp:
    return OutboundOp(
        f"books/note/customer/{CUSTOMER}/{key}",
        Note(target_type=TargetType.CUSTOMER, target_id=CUSTOMER, text=text),
    )


def test_a_call_note_on_a_customer_lands_in_the_customers_notes_once(erp: QuickBooksSandbox) -> None:
    first = note("a1", "Call 2026-12-04 by dana: promised to pay 1042 by 2026-12-11.")
    second = note("b2", "Call 2026-12-05 by dana: no answer.")
    connector = connector_for(erp)
    with connector:
        results = connector.write([first, second])
        assert [r.ok for r in results] == [True, True], [r.error for r in results]
        again = connector.find_written(first)

    notes = erp.db["Customer"][CUSTOMER]["Notes"]
    assert notes.count(marker_for(first.key)) == 1 and notes.count(marker_for(second.key)) == 1
    assert notes.index("promised to pay 1042") < notes.index("no answer"), "in the order decided"
    assert again is not None and again.ok and again.duplicate, "a resend after a lost answer finds it"


def test_customer_notes_keep_to_the_1024_characters_quickbooks_takes(erp: QuickBooksSandbox) -> None:
    connector = connector_for(erp)
    ops = [
        note(f"k{n}", f"Call {n}: " + "disputes the freight charge on every invoice. " * 6) for n in range(8)
    ]
    with connector:
        results = connector.write(ops)
        long_one = note("long", "Call: " + "x" * 3000)
        [long_result] = connector.write([long_one])
        found = connector.find_written(long_one)

    assert all(r.ok for r in results), [r.error for r in results]
    assert long_result.ok, long_result.error
    notes = erp.db["Customer"][CUSTOMER]["Notes"]
    assert len(notes) <= 1024
    assert notes.startswith(marker_for(long_one.key)), (
        "the newest note keeps its marker, older ones make room"
    )
    assert found is not None and found.duplicate


def test_quickbooks_refuses_customer_notes_longer_than_its_schema_allows(erp: QuickBooksSandbox) -> None:
    customer = erp.db["Customer"][CUSTOMER]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {erp.issue_access_token()}"
    answer = session.post(
        f"{erp.base_url}/v3/company/{erp.realm_id}/customer?minorversion=75",
        json={"Id": CUSTOMER, "SyncToken": customer["SyncToken"], "sparse": True, "Notes": "n" * 1025},
        timeout=10,
    )
    assert answer.status_code == 400
    [error] = answer.json()["Fault"]["Error"]
    assert (
        error["code"] == "2050"
        and "Max:1024" in error["Detail"]
        and "Supplied length:1025" in error["Detail"]
    )


def test_an_unquoted_off_in_the_configuration_turns_notes_off() -> None:
    settings = QuickBooksSettings.model_validate(
        {"realm_id": "1", "client_id": "c", "client_secret": "s", "note_mode": False}
    )
    assert settings.note_mode == "off"
