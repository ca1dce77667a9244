"""Settings of one SAP Business One connection (one company database behind one Service Layer)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.base import ConnectorSettings
from mapping.models import CollectionStatus

__all__ = ["B1OdbcSettings", "SapBusinessOneSettings"]


class B1OdbcSettings(BaseModel):
    """The read-only SQL login of the fast read (``read_via: odbc``).

    Attributes:
        connection_string: the ODBC connection string without the password, e.g.
            ``DRIVER={ODBC Driver 18 for SQL Server};SERVER=b1sql;DATABASE=SBODEMOUS;UID=arbridge_read``.
        password: the login's password (added as ``PWD``); none for a trusted connection.
        dialect: ``auto`` asks the driver; ``mssql`` or ``postgresql`` to be explicit.
        schema: the schema of B1's tables (``dbo``).
        login_timeout, query_timeout: seconds.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    connection_string: str = Field(min_length=3)
    password: SecretStr | None = None
    dialect: Literal["auto", "mssql", "postgresql"] = "auto"
    schema_name: str = Field(default="dbo", alias="schema", min_length=1, max_length=128)
    login_timeout: int = Field(default=15, ge=1, le=600)
    query_timeout: int = Field(default=300, ge=1, le=3600)

    @field_validator("connection_string")
    @classmethod
    def _no_password_inside(cls, value: str) -> str:
        parts = [p.split("=", 1)[0].strip().upper() for p in value.split(";") if "=" in p]
        if "PWD" in parts or "PASSWORD" in parts:
            raise ValueError("keep the password out of connection_string: set password: ${…} instead")
        return value


class SapBusinessOneSettings(ConnectorSettings):
    """Settings of one B1 connection.

    Attributes:
        service_url: the Service Layer's v2 root, ``https://b1.example.com:50000/b1s/v2``.
        company_db: the company database (``SBODEMOUS``), as in B1's login window.
        username, password: a B1 user licensed for the Service Layer (an indirect-access user).
        time_zone: the zone of the B1 database server, in which B1 stamps UpdateDate/UpdateTime.
        page_size: records per page (``Prefer: odata.maxpagesize``; B1's own default is 20).
        overlap_minutes: how far each incremental read reaches back before the newest change read
            (a long B1 transaction commits after its stamp).
        batch_max: operations per multipart ``$batch``.
        transfer_account: the G/L account of the bank transfer a written payment comes from
            (``TransferAccount``, e.g. ``_SYS00000000103`` or ``1020000``); payments need it.
        status_field, level_field, next_action_field: names of the user-defined fields (without
            ``U_``) on invoices (OINV, all document headers) and business partners (OCRD).
        key_field: the user-defined field on incoming payments (ORCT) and activities (OCLG)
            holding the outbox key.
        note_mode: ``activity`` writes a note (a call logged in the workspace) as a B1 activity of
            the business partner; ``off`` refuses notes.
        block_dunning_statuses: collection statuses that also set ``BlockDunning`` on the
            invoice or business partner written.
        verify_tls, ca_bundle: TLS verification (B1 ships a self-signed certificate: put its CA
            in ``ca_bundle``).
        timeout: seconds per call.
        read_via: ``service_layer`` (default) or ``odbc``: read the same streams from B1's tables
            through the read-only SQL login in ``odbc`` (writes stay on the Service Layer).
        odbc: that login (see ``B1OdbcSettings``).
    """

    service_url: str = Field(min_length=1)
    company_db: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    time_zone: str = "UTC"
    page_size: int = Field(default=500, ge=1, le=5000)
    overlap_minutes: int = Field(default=10, ge=0, le=24 * 60)
    batch_max: int = Field(default=100, ge=1, le=500)
    transfer_account: str | None = Field(default=None, max_length=15)
    status_field: str = Field(default="ARB_CollStatus", min_length=1, max_length=18)
    level_field: str = Field(default="ARB_DunLevel", min_length=1, max_length=18)
    next_action_field: str = Field(default="ARB_NextAction", min_length=1, max_length=18)
    key_field: str = Field(default="ARB_OutboxKey", min_length=1, max_length=18)
    block_dunning_statuses: list[CollectionStatus] = Field(default_factory=list)
    note_mode: Literal["activity", "off"] = "activity"
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = Field(default=120.0, gt=0, le=900)
    read_via: Literal["service_layer", "odbc"] = "service_layer"
    odbc: B1OdbcSettings | None = None

    @model_validator(mode="after")
    def _odbc_login(self) -> SapBusinessOneSettings:
        if self.read_via == "odbc" and self.odbc is None:
            raise ValueError("read_via: odbc needs the read-only SQL login under odbc: (connection_string …)")
        return self

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Berlin')") from None
        return value

    @field_validator("note_mode", mode="before")
    @classmethod
    def _unquoted_off(cls, value: object) -> object:
        # YAML reads an unquoted `note_mode: off` as the boolean false.
        return "off" if value is False else value

    @field_validator("service_url")
    @classmethod
    def _root(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.endswith("/b1s/v2"):
            raise ValueError("the Service Layer's v2 root, ending in /b1s/v2 (OData v4)")
        return value
