"""The user-defined fields arbridge writes to; ``ensure_fields`` creates the missing ones (UserFieldsMD).

Collection status, dunning level and next action date live in user-defined fields on the A/R
invoice (table OINV; B1 creates a marketing-document header field on every document header, so
credit notes get it too) and on the business partner (OCRD); the outbox key of a payment or a
note arbridge writes lives in one on the incoming payment (ORCT) or the activity (OCLG). Creating
them is idempotent: fields that exist (by table and name) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.odata import any_of
from connectors.sap_business_one.client import ServiceLayer
from connectors.sap_business_one.settings import SapBusinessOneSettings

__all__ = ["UserField", "ensure_fields", "missing_fields", "user_fields"]


@dataclass(frozen=True)
class UserField:
    table: str
    name: str
    type: str
    size: int | None
    description: str
    sub_type: str = "st_None"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Name": self.name,
            "Type": self.type,
            "Description": self.description,
            "SubType": self.sub_type,
            "TableName": self.table,
        }
        if self.size is not None:
            body["Size"] = self.size
            body["EditSize"] = self.size
        return body


def user_fields(settings: SapBusinessOneSettings) -> list[UserField]:
    """Every field arbridge needs, named as the connection's settings say."""
    fields: list[UserField] = []
    for table, what in (("OINV", "invoice"), ("OCRD", "business partner")):
        fields += [
            UserField(table, settings.status_field, "db_Alpha", 30, f"arbridge collection status ({what})"),
            UserField(table, settings.level_field, "db_Numeric", 2, f"arbridge dunning level ({what})"),
            UserField(table, settings.next_action_field, "db_Date", None, f"arbridge next action ({what})"),
        ]
    key_tables = ["ORCT", "OCLG"] if settings.note_mode == "activity" else ["ORCT"]
    for table in key_tables:
        fields.append(
            UserField(table, settings.key_field, "db_Alpha", 64, "arbridge outbox key (idempotency)")
        )
    return fields


def _existing(client: ServiceLayer, fields: list[UserField]) -> set[tuple[str, str]]:
    names = sorted({f.name for f in fields})
    data = client.json(
        "GET", "UserFieldsMD", params={"$filter": any_of("Name", names), "$select": "TableName,Name"}
    )
    return {(str(r.get("TableName")), str(r.get("Name"))) for r in data.get("value") or []}


def missing_fields(client: ServiceLayer, settings: SapBusinessOneSettings) -> list[UserField]:
    fields = user_fields(settings)
    have = _existing(client, fields)
    return [f for f in fields if (f.table, f.name) not in have]


def ensure_fields(
    client: ServiceLayer, settings: SapBusinessOneSettings
) -> tuple[list[UserField], list[UserField]]:
    """Create the missing fields; return (created, already there)."""
    fields = user_fields(settings)
    have = _existing(client, fields)
    created, present = [], []
    for f in fields:
        if (f.table, f.name) in have:
            present.append(f)
            continue
        client.json("POST", "UserFieldsMD", json=f.body())
        created.append(f)
    return created, present
