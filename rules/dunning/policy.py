"""Dunning policies: the YAML an administrator writes, validated into typed objects.

A policy file holds one or more named policies (levels, fees, interest, minimum amounts), the
segments that choose a policy per customer, the contact rules (local contact window, per-channel
caps) and the interest rate tables. Rates and fees are data the administrator maintains: the
shipped examples are examples, not legal advice, and reference rates change every half-year.
"""

from __future__ import annotations

import json
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mapping.models import CollectionStatus, Customer

__all__ = [
    "Caps",
    "Channel",
    "ContactWindow",
    "Courtesy",
    "DunningPolicy",
    "InterestRule",
    "Level",
    "PaymentDetails",
    "Policy",
    "RatePeriod",
    "RateTable",
    "Segment",
    "SegmentCondition",
    "SenderDetails",
    "load_policy",
    "policy_json_schema",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_BUSINESS_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class Channel(StrEnum):
    """How a dunning communication reaches the customer."""

    EMAIL = "email"
    LETTER = "letter"
    CALL = "call"
    WEBHOOK = "webhook"


_CHANNELS_DOC = "Preferred channel first; later ones are fallbacks (opt-out, no address, cap reached)."


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _money_map(value: Any) -> Any:
    # A bare number means "this amount in every currency"; stored under the "*" key.
    if value is None:
        return {}
    if isinstance(value, int | float | str | Decimal):
        return {"*": Decimal(str(value))}
    if isinstance(value, dict):
        return {str(k).upper() if k != "*" else "*": Decimal(str(v)) for k, v in value.items()}
    return value


def amount_for(amounts: dict[str, Decimal], currency: str) -> Decimal:
    """The amount configured for ``currency``, falling back to the ``*`` entry, else zero."""
    found = amounts.get(currency)
    if found is None:
        found = amounts.get("*", Decimal(0))
    return found


class Courtesy(_Model):
    """A friendly notice before the due date; dunning level 0, sent at most once per invoice."""

    days_before_due: int = Field(
        ge=0, le=60, description="Send when an invoice falls due within this many days."
    )
    channels: list[Channel] = Field(min_length=1, description=_CHANNELS_DOC)
    template: str = "courtesy"


class Level(_Model):
    """One step of the escalation ladder (levels are numbered 1, 2, … in file order)."""

    name: str | None = None
    days_overdue: int = Field(ge=1, description="Days past the due date of the oldest open invoice.")
    min_gap_days: int = Field(
        default=0, ge=0, description="Minimum days since the previous level was sent to this customer."
    )
    channels: list[Channel] = Field(min_length=1, description=_CHANNELS_DOC)
    template: str = "reminder"
    fee: dict[str, Decimal] = Field(
        default_factory=dict, description="Fixed fee for this level per currency; '*' for any currency."
    )
    status: CollectionStatus = Field(
        default=CollectionStatus.REMINDED, description="Collection status written back to the ERP."
    )

    @field_validator("fee", mode="before")
    @classmethod
    def _fee_map(cls, value: Any) -> Any:
        return _money_map(value)


class RatePeriod(_Model):
    """A reference rate in force from ``start`` until the next period starts."""

    start: date = Field(alias="from")
    reference_percent: Decimal

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RateTable(_Model):
    """Annual interest rate = reference rate of the day + margin, applied per day on the open amount."""

    margin_percent: Decimal = Decimal(0)
    day_count: Literal[360, 365] = 365
    periods: list[RatePeriod] = Field(min_length=1)

    @field_validator("periods")
    @classmethod
    def _sorted(cls, periods: list[RatePeriod]) -> list[RatePeriod]:
        return sorted(periods, key=lambda p: p.start)


class InterestRule(_Model):
    """Late-payment interest for a policy: which rate table, and from which level it is shown."""

    rate_table: str
    from_level: int = Field(default=1, ge=1)


class Policy(_Model):
    """One dunning policy: levels, courtesy notice, fees, interest and minimum amounts."""

    description: str | None = None
    courtesy: Courtesy | None = None
    levels: list[Level] = Field(min_length=1)
    minimum_amount: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Below this overdue total per currency nothing is sent; '*' for any other currency.",
    )
    compensation_per_invoice: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Fixed compensation charged once per invoice (EU Late Payment Directive: EUR 40).",
    )
    interest: InterestRule | None = None
    default_terms_days: int = Field(
        default=30, ge=0, description="Days after the issue date used when an invoice has no due date."
    )

    @field_validator("minimum_amount", "compensation_per_invoice", mode="before")
    @classmethod
    def _amount_maps(cls, value: Any) -> Any:
        return _money_map(value)


class SegmentCondition(_Model):
    """Customer attributes a segment matches; every given condition must hold."""

    tags_any: list[str] | None = None
    tags_all: list[str] | None = None
    country_in: list[str] | None = None
    terms_in: list[str] | None = None
    balance_min: Decimal | None = None
    balance_max: Decimal | None = None
    credit_limit_min: Decimal | None = None
    credit_limit_max: Decimal | None = None
    risk_score_min: Decimal | None = None
    risk_score_max: Decimal | None = None

    def matches(self, customer: Customer) -> bool:
        """Whether ``customer`` satisfies all conditions (a missing attribute fails a bound)."""
        if self.tags_any is not None and not set(self.tags_any) & set(customer.tags):
            return False
        if self.tags_all is not None and not set(self.tags_all) <= set(customer.tags):
            return False
        if self.country_in is not None and (customer.country or "").upper() not in {
            c.upper() for c in self.country_in
        }:
            return False
        if self.terms_in is not None and customer.terms not in self.terms_in:
            return False
        return (
            _within(customer.balance, self.balance_min, self.balance_max)
            and _within(customer.credit_limit, self.credit_limit_min, self.credit_limit_max)
            and _within(customer.risk_score, self.risk_score_min, self.risk_score_max)
        )


def _within(value: Decimal | None, low: Decimal | None, high: Decimal | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


class Segment(_Model):
    """Customers matching ``when`` get ``policy``; segments are tried in file order, first match wins."""

    name: str
    policy: str
    when: SegmentCondition = Field(default_factory=SegmentCondition)


class ContactWindow(_Model):
    """When a person may be contacted, in the customer's own time zone."""

    start: time = time(8, 0)
    end: time = time(21, 0)
    days: list[Weekday] = Field(default_factory=lambda: list(_BUSINESS_DAYS))
    holidays: list[date] = Field(default_factory=list)
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.EMAIL, Channel.CALL],
        description="Channels that reach a person directly; letters and webhooks are not held back.",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _yaml_sexagesimal(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 21:00 as the base-60 integer 1260.
        if isinstance(value, int) and not isinstance(value, bool):
            return time(value // 60, value % 60)
        return value

    @model_validator(mode="after")
    def _window_not_empty(self) -> ContactWindow:
        if self.end <= self.start:
            raise ValueError("contact_window.end must be after contact_window.start")
        if not self.days:
            raise ValueError("contact_window.days must name at least one weekday")
        return self


class Caps(_Model):
    """At most ``max`` communications on ``channel`` per customer in any ``period_days`` rolling days."""

    channel: Channel
    max: int = Field(ge=0)
    period_days: int = Field(
        ge=1, le=90, description="Rolling window; the history keeps 90 days of contacts."
    )


class PaymentDetails(_Model):
    """How the customer pays: a reference and a link, with ``{customer_id}``, ``{currency}``,
    ``{level}`` and ``{reference}`` placeholders."""

    reference: str = "{customer_id}-{currency}"
    link: str | None = None


class SenderDetails(_Model):
    """The creditor as shown on e-mails and letters."""

    name: str = "Accounts Receivable"
    address: list[str] = Field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    opt_out_text: str | None = Field(
        default=None,
        description="How to stop e-mail about this account (US Regulation F §1006.6(e) asks for one).",
    )


class DunningPolicy(_Model):
    """A whole policy file: named policies, segments, contact rules, rate tables."""

    version: Literal[1] = 1
    default_time_zone: str = "UTC"
    default_language: str = "en"
    default_policy: str
    policies: dict[str, Policy] = Field(min_length=1)
    segments: list[Segment] = Field(default_factory=list)
    contact_window: ContactWindow = Field(default_factory=ContactWindow)
    caps: list[Caps] = Field(default_factory=list)
    rate_tables: dict[str, RateTable] = Field(default_factory=dict)
    payment: PaymentDetails = Field(default_factory=PaymentDetails)
    sender: SenderDetails = Field(default_factory=SenderDetails)

    @model_validator(mode="after")
    def _references_resolve(self) -> DunningPolicy:
        if self.default_policy not in self.policies:
            raise ValueError(f"default_policy {self.default_policy!r} is not one of {sorted(self.policies)}")
        for seg in self.segments:
            if seg.policy not in self.policies:
                raise ValueError(f"segment {seg.name!r} names unknown policy {seg.policy!r}")
        for name, pol in self.policies.items():
            if pol.interest is not None and pol.interest.rate_table not in self.rate_tables:
                raise ValueError(f"policy {name!r} names unknown rate table {pol.interest.rate_table!r}")
        return self

    def policy_for(self, customer: Customer) -> tuple[str, Policy]:
        """The policy name and policy the first matching segment gives ``customer``, else the default."""
        for seg in self.segments:
            if seg.when.matches(customer):
                return seg.policy, self.policies[seg.policy]
        return self.default_policy, self.policies[self.default_policy]

    def caps_for(self, channel: Channel) -> list[Caps]:
        """The caps that limit ``channel``."""
        return [c for c in self.caps if c.channel == channel]


def load_policy(path: str | Path) -> DunningPolicy:
    """Read and validate a policy YAML file.

    Args:
        path: the YAML file.

    Returns:
        The validated policy.

    Raises:
        pydantic.ValidationError: the file does not follow the schema; the message names the field.
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return DunningPolicy.model_validate(data)


def policy_json_schema() -> dict[str, Any]:
    """The JSON schema of a policy file, as committed in ``config/dunning-policy.schema.json``."""
    schema = DunningPolicy.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "arbridge dunning policy"
    return schema


def dump_policy_json_schema() -> str:
    """The schema as the committed file's text (sorted keys, trailing newline)."""
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n"
