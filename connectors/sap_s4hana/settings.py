"""Settings of one SAP S/4HANA connection (one system and client, one or more company codes)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import ConnectorSettings
from mapping.models import CollectionStatus

__all__ = ["SOAP_PATH", "SapS4HanaSettings"]

SOAP_PATH = "/sap/bc/srt/scs_ext/sap/journalentrycreaterequestconfi"


class SapS4HanaSettings(ConnectorSettings):
    """Settings of one S/4HANA connection.

    Attributes:
        base_url: the system's API host (``https://my400000-api.s4hana.cloud.sap`` or the
            on-premise gateway); OData services live under ``/sap/opu/odata/sap/``.
        sap_client: the SAP client (``sap-client``) on systems with several.
        auth: ``basic`` (a communication user) or ``oauth`` (client credentials).
        username, password: the communication user (basic).
        token_url, client_id, client_secret: the OAuth 2.0 client (client credentials).
        client_cert, client_key: PEM files of a client certificate, where the system requires one.
        company_codes: the company codes read and written.
        dunning_area: the dunning area of A_CustomerDunning written to (blank: none in use).
        page_size: entries per OData call.
        overlap_days: how far each incremental read reaches back before the last read's date.
        history_days: how far back the first pull reads cleared items.
        reconcile_every_hours: how often every open item is read again in full.
        payment_document_types: document types whose credit items are payments (others: credit memos).
        batch_max: operations per ``$batch`` or SOAP call.
        block_reasons: collection status → dunning block reason written to A_CustomerDunning.
        status_note: also write the collection status into A_CustomerCompany.CustomerAccountNote.
        note_mode: ``customer_text`` appends notes to the customer's long text (A_CustomerText, or
            A_CustomerCompanyText of the invoice's company code); ``off`` refuses them.
        note_text_id: the long text's text ID (LongTextID), one the system's text determination
            defines for customers.
        note_language: the long text's language (Language, SAP's two-character key).
        bank_gl_account: the G/L account of the bank (clearing) line of an incoming payment.
        house_bank, house_bank_account: the house bank of that line, where the account needs one.
        cash_discount_gl_account, writeoff_gl_account: where discounts and write-offs go.
        payment_document_type: the document type payments are posted with.
        created_by_user: CreatedByUser of posted journal entries (default: the username).
        journal_entry_url: the SOAP endpoint of JournalEntryCreateRequestConfirmation_In.
        journal_entry_wsdl: its WSDL (a URL or a file); default: the endpoint with ``?wsdl``.
        clearing_grace_hours: how long after posting an item may stay open before it is reported.
        verify_tls, ca_bundle: TLS verification.
        timeout: seconds per call.
    """

    base_url: str = Field(min_length=1)
    sap_client: str | None = Field(default=None, pattern=r"^\d{3}$")
    auth: Literal["basic", "oauth"] = "basic"
    username: str | None = None
    password: SecretStr | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_cert: str | None = None
    client_key: str | None = None
    company_codes: list[str] = Field(min_length=1)
    dunning_area: str = Field(default="", max_length=2)
    page_size: int = Field(default=1000, ge=1, le=5000)
    overlap_days: int = Field(default=2, ge=1, le=31)
    history_days: int = Field(default=730, ge=1)
    reconcile_every_hours: float = Field(default=24.0, gt=0)
    payment_document_types: list[str] = Field(default_factory=lambda: ["DZ"])
    batch_max: int = Field(default=100, ge=1, le=100)
    block_reasons: dict[CollectionStatus, str] = Field(default_factory=dict)
    status_note: bool = False
    note_mode: Literal["customer_text", "off"] = "customer_text"
    note_text_id: str = Field(default="0001", min_length=1, max_length=4)
    note_language: str = Field(default="EN", min_length=1, max_length=2)
    bank_gl_account: str | None = Field(default=None, max_length=10)
    house_bank: str | None = Field(default=None, max_length=5)
    house_bank_account: str | None = Field(default=None, max_length=5)
    cash_discount_gl_account: str | None = Field(default=None, max_length=10)
    writeoff_gl_account: str | None = Field(default=None, max_length=10)
    payment_document_type: str = Field(default="DZ", min_length=1, max_length=5)
    created_by_user: str | None = Field(default=None, max_length=12)
    journal_entry_url: str | None = None
    journal_entry_wsdl: str | None = None
    clearing_grace_hours: float = Field(default=48.0, gt=0)
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = Field(default=60.0, gt=0, le=600)

    @field_validator("company_codes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not code or len(code) > 4:
                raise ValueError(f"company code {code!r}: expected 1 to 4 characters")
        return value

    @field_validator("block_reasons")
    @classmethod
    def _reasons(cls, value: dict[CollectionStatus, str]) -> dict[CollectionStatus, str]:
        for status, reason in value.items():
            if len(reason) != 1:
                raise ValueError(f"block_reasons.{status.value}: a dunning block reason is one character")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> SapS4HanaSettings:
        if self.auth == "basic" and not (self.username and self.password):
            raise ValueError("auth: basic needs username and password")
        if self.auth == "oauth" and not (self.token_url and self.client_id and self.client_secret):
            raise ValueError("auth: oauth needs token_url, client_id and client_secret")
        if bool(self.client_cert) != bool(self.client_key) and self.client_key:
            raise ValueError("client_key needs client_cert")
        if self.payment_document_type not in self.payment_document_types:
            # Otherwise the payments arbridge posts would read back as credit memos.
            raise ValueError(
                f"payment_document_type {self.payment_document_type!r} must be one of "
                f"payment_document_types {self.payment_document_types}"
            )
        return self

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/")

    def service_url(self, service: str) -> str:
        return f"{self.root}/sap/opu/odata/sap/{service}/"

    @property
    def soap_url(self) -> str:
        return self.journal_entry_url or f"{self.root}{SOAP_PATH}"

    @property
    def wsdl(self) -> str:
        return self.journal_entry_wsdl or f"{self.soap_url}?wsdl"
