"""Settings of one Dynamics GP connection (one company database)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from connectors.base import ConnectorSettings
from connectors.dynamics_gp.schema import STATUS_FIELDS

__all__ = ["GpSettings"]


class GpSettings(ConnectorSettings):
    """How to reach the company database and how to write into it.

    Attributes:
        connection_string: the ODBC connection string without the password, e.g.
            ``DRIVER={ODBC Driver 18 for SQL Server};SERVER=gp01;DATABASE=TWO;UID=arbridge;Encrypt=yes``,
            or ``DSN=GP-TWO;UID=arbridge``.
        password: the SQL login's password (added as ``PWD``); none for a trusted connection.
        dialect: ``auto`` asks the driver; ``mssql`` or ``postgresql`` to be explicit.
        schema: the schema of GP's tables and eConnect procedures (``dbo``).
        page_size: rows per query.
        overlap_seconds: how far back each incremental read looks behind the newest ``DEX_ROW_TS``
            it delivered (GP stamps a row when its statement runs, and a long posting commits later).
        reconcile_every_hours: how often a stream is read in full instead of incrementally (the
            apply tables have no timestamp; a dropped ``DEX_ROW_TS`` trigger stops stamping); 0: never.
        collection_status_field: the customer field holding the collection status.
        batch_number: the GP batch (``BACHNUMB``) cash receipts are entered in.
        checkbook_id: the checkbook of those receipts (``CHEKBKID``); empty: eConnect's default.
        cash_receipt_type: check (0), cash (1) or credit card (2), GP's ``CSHRCTYP``.
        currencies: GP currency ID → ISO code, for currencies the mapping file does not know yet
            (merged into the ``currency`` value maps; ``""``, a blank ID, is the functional currency).
        login_timeout, query_timeout: seconds.
    """

    connection_string: str = Field(min_length=3)
    password: SecretStr | None = None
    dialect: Literal["auto", "mssql", "postgresql"] = "auto"
    schema_name: str = Field(default="dbo", alias="schema", min_length=1, max_length=128)
    page_size: int = Field(default=5_000, ge=1, le=50_000)
    overlap_seconds: int = Field(default=300, ge=0, le=86_400)
    reconcile_every_hours: float = Field(default=24.0, ge=0)
    collection_status_field: Literal["USERDEF1", "USERDEF2", "COMMENT1", "COMMENT2"] = "USERDEF1"
    batch_number: str = Field(default="ARBRIDGE", min_length=1, max_length=15)
    checkbook_id: str = Field(default="", max_length=15)
    cash_receipt_type: Literal["check", "cash", "credit_card"] = "check"
    currencies: dict[str, str] = Field(default_factory=dict)
    login_timeout: int = Field(default=15, ge=1, le=600)
    query_timeout: int = Field(default=300, ge=1, le=3600)

    model_config = {"extra": "forbid", "populate_by_name": True}

    @field_validator("connection_string")
    @classmethod
    def _no_password_inside(cls, value: str) -> str:
        parts = [p.split("=", 1)[0].strip().upper() for p in value.split(";") if "=" in p]
        if "PWD" in parts or "PASSWORD" in parts:
            raise ValueError("keep the password out of connection_string: set password: ${…} instead")
        return value

    @field_validator("collection_status_field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in STATUS_FIELDS:
            raise ValueError(f"expected one of {', '.join(STATUS_FIELDS)}")
        return value
