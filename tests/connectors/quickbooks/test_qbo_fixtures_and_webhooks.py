"""Intuit's real fixtures parse through the mapping; webhook calls are verified and parsed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from pydantic import SecretStr
from qbo_fakes import make_connector

from connectors.quickbooks.webhooks import (
    Notification,
    QuickBooksWebhooks,
    parse_notifications,
    sign,
    streams_for,
    verify_signature,
)
from connectors.quickbooks.wire import REPEATED, xml_to_dict
from connectors.webhooks import WebhookRequest
from mapping.models import Stream

STREAM_OF = {
    "Customer": Stream.CUSTOMERS,
    "Invoice": Stream.INVOICES,
    "CreditMemo": Stream.CREDIT_MEMOS,
    "Payment": Stream.PAYMENTS,
}
TOKEN = "verifier-token-1f2e"
LEGACY = {
    "eventNotifications": [
        {
            "realmId": "9130357766090541",
            "dataChangeEvent": {
                "entities": [
                    {
                        "name": "Invoice",
                        "id": "130",
                        "operation": "Update",
                        "lastUpdated": "2026-05-04T12:00:00.000Z",
                    },
                    {
                        "name": "Payment",
                        "id": "901",
                        "operation": "Create",
                        "lastUpdated": "2026-05-04T12:00:01.000Z",
                    },
                    {
                        "name": "Vendor",
                        "id": "3",
                        "operation": "Update",
                        "lastUpdated": "2026-05-04T12:00:02.000Z",
                    },
                ]
            },
        }
    ]
}


def _objects(node: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every Customer/Invoice/CreditMemo/Payment object anywhere in a decoded document."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in STREAM_OF:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        found.append((key, item))
            else:
                found += _objects(value)
    elif isinstance(node, list):
        for item in node:
            found += _objects(item)
    return found


def _sample_files(specs_dir: Path) -> list[Path]:
    return sorted((specs_dir / "quickbooks" / "samples").rglob("*.xml"))


def test_real_fixtures_parse_through_the_mapping(specs_dir: Path) -> None:
    conn = make_connector()
    seen: dict[str, int] = {}
    for path in _sample_files(specs_dir):
        for entity, raw in _objects(xml_to_dict(path.read_text())):
            if set(raw) <= {"Id", "domain", "value"} or "MetaData" not in raw:
                continue  # batch-answer stubs carry only an Id
            record = conn.to_record(STREAM_OF[entity], raw)
            assert record.remote_id == raw["Id"], path.name
            assert record.remote_modified_at.tzinfo is not None
            seen[entity] = seen.get(entity, 0) + 1
    assert set(seen) == set(STREAM_OF), f"fixtures covered only {seen}"


def test_fixture_payment_lines_become_allocations(specs_dir: Path) -> None:
    path = (
        specs_dir / "quickbooks" / "samples" / "ruckus-quickbooks-ruby-xml" / "payment_with_line_extras.xml"
    )
    raw = xml_to_dict(path.read_text())["Payment"]
    payment = make_connector().to_record(Stream.PAYMENTS, raw)
    assert [(a.target_type.value, a.target_id, str(a.amount)) for a in payment.allocations] == [  # type: ignore[attr-defined]
        ("invoice", "68", "2400.00")
    ]
    assert payment.status.value == "applied"  # type: ignore[attr-defined]


def test_fixture_inactive_customer_keeps_its_flag(specs_dir: Path) -> None:
    path = specs_dir / "quickbooks" / "samples" / "ruckus-quickbooks-ruby-xml" / "deleted_customer.xml"
    raw = xml_to_dict(path.read_text())["Customer"]
    customer = make_connector().to_record(Stream.CUSTOMERS, raw)
    assert customer.status.value == "inactive" and not customer.deleted  # type: ignore[attr-defined]
    assert customer.currency is None and customer.email == "info@thriftymeats.com"  # type: ignore[attr-defined]


def test_repeated_element_table_matches_intuits_schema(specs_dir: Path) -> None:
    schema = xmlschema.XMLSchema(str(specs_dir / "quickbooks" / "xsd" / "IntuitRestServiceDef.xsd"))
    repeatable: set[str] = set()
    for xsd_type in schema.types.values():
        content = getattr(xsd_type, "content", None)
        if content is None or not hasattr(content, "iter_elements"):
            continue
        for element in content.iter_elements():
            if element.max_occurs is None or element.max_occurs > 1:
                repeatable.add(element.local_name)
    assert REPEATED - {"CDCResponse"} <= repeatable, sorted(REPEATED - repeatable)


def test_webhook_signature_legacy_body_is_verified_and_parsed() -> None:
    body = json.dumps(LEGACY).encode()
    assert verify_signature(body, sign(body, TOKEN), TOKEN)
    notes = parse_notifications(body)
    assert notes[0] == Notification("9130357766090541", "Invoice", "130", "Update")
    _realm, entity, ident, operation = notes[1]
    assert (entity, ident, operation) == ("Payment", "901", "Create")
    assert streams_for(notes) == {"9130357766090541": {Stream.INVOICES, Stream.PAYMENTS}}


def test_webhook_signature_cloudevents_body_is_verified_and_parsed(specs_dir: Path) -> None:
    body = (
        specs_dir / "quickbooks" / "samples" / "intuit-webhooks" / "cloudevents-webhook-sample.json"
    ).read_bytes()
    assert verify_signature(body, sign(body, TOKEN), TOKEN)
    assert parse_notifications(body) == [Notification("310687", "Customer", "1234", "Create")]


def test_webhook_merge_event_reports_the_merged_away_record_as_deleted() -> None:
    body = json.dumps(
        [
            {
                "specversion": "1.0",
                "id": "e1",
                "type": "qbo.customer.merged.v1",
                "intuitentityid": "12",
                "intuitaccountid": "310687",
                "time": "2026-05-04T12:00:00Z",
                "data": {"deletedid": "9"},
            }
        ]
    )
    notes = parse_notifications(body)
    assert Notification("310687", "Customer", "9", "Delete") in notes


class _Settings:
    realm_id = "9130357766090541"
    verifier_token = SecretStr(TOKEN)


def _call(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


@pytest.mark.parametrize("header", ["", "c29tZXRoaW5nIGVsc2U=", "not base64 at all"])
def test_webhook_signature_wrong_or_missing_is_rejected_with_401(header: str) -> None:
    receiver = QuickBooksWebhooks()
    body = json.dumps(LEGACY).encode()
    headers = {"intuit-signature": header} if header else {}
    answer = receiver.receive(_call(body, headers), _Settings())
    assert (answer.status, answer.changes) == (401, ())
    # A signature made with another token is just as wrong.
    other = receiver.receive(_call(body, {"intuit-signature": sign(body, "other-token")}), _Settings())
    assert other.status == 401


def test_a_signed_webhook_names_this_companys_changes_for_a_pull() -> None:
    body = json.dumps(LEGACY).encode()
    answer = QuickBooksWebhooks().receive(_call(body, {"intuit-signature": sign(body, TOKEN)}), _Settings())
    assert answer.status == 200
    assert [(c.entity, c.id, c.operation) for c in answer.changes] == [
        ("Invoice", "130", "Update"),
        ("Payment", "901", "Create"),
        ("Vendor", "3", "Update"),
    ]
    assert answer.replay_key is not None, "the daemon refuses the same signed body twice"
