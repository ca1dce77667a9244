"""Dunning policies: the YAML an administrator writes, validated into typed objects.

A policy file holds one or more named policies (levels, fees, interest, minimum amounts), the
segments that choose a policy per customer, the contact rules (local contact window, per-channel
caps) and the interest rate tables. Rates and fees are data the administrator maintains: the
shipped examples are examples, not legal advice, and reference rates change every half-year.
"""

from __future__ import annotations

import json
from datetime import date, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from mapping.models import CollectionStatus, Customer
from rules.dunning.currencies import check_currency, minor_unit

__all__ = [
    "AlsoSend",
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
    if isinstance(value, int | float | str | Decimal) and not isinstance(value, bool):
        return {"*": value}
    return value


def _amount(value: Any) -> Decimal:
    """A non-negative decimal amount, written as a number or a quoted decimal."""
    shown = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f'expected an amount such as "10.00", got {shown}')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f'expected an amount such as "10.00", got {shown}') from None
    if not amount.is_finite():
        raise ValueError(f'expected an amount such as "10.00", got {shown}')
    if amount < 0:
        raise ValueError(f"expected an amount of 0 or more, got {shown}")
    return amount


def _rate(value: Any) -> Decimal:
    """A percentage, written as a number or a quoted decimal (it may be negative: see RateTable)."""
    shown = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f'expected a percentage such as "2.15", got {shown}')
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f'expected a percentage such as "2.15", got {shown}') from None
    if not rate.is_finite():
        raise ValueError(f'expected a percentage such as "2.15", got {shown}')
    return rate


def _currency_key(value: Any) -> str:
    if value == "*":
        return "*"
    if not isinstance(value, str):
        raise ValueError(f"expected a currency code such as EUR, or '*', got {value!r}")
    return check_currency(value)


Amount = Annotated[Decimal, BeforeValidator(_amount)]
Percent = Annotated[Decimal, BeforeValidator(_rate)]
CurrencyKey = Annotated[str, BeforeValidator(_currency_key)]


def _check_decimals(amounts: dict[str, Decimal]) -> dict[str, Decimal]:
    for currency, amount in amounts.items():
        if currency != "*" and -amount.as_tuple().exponent > minor_unit(currency):  # type: ignore[operator]
            raise ValueError(f"expected at most {minor_unit(currency)} decimals for {currency}, got {amount}")
    return amounts


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
    only_likely_late: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Off when unset: every customer gets the notice. A chance such as 0.5: only "
        "invoices at least this likely to be paid after the due date get it. When the connection has "
        "a stored payment-date model, each invoice's chance is the model's; otherwise (and for an "
        "invoice the model leaves to a baseline) it is judged from the customer's own payments (late "
        "ones out of all, pulled toward one in two when they are few), and customers without payment "
        "history get none.",
    )


class AlsoSend(_Model):
    """A channel a level uses besides the one chosen from its ``channels`` (a call task beside a letter)."""

    channel: Channel
    template: str | None = Field(
        default=None,
        description="Template for this channel; default: 'call' for call tasks, the level's own otherwise.",
    )


def _also_item(value: Any) -> Any:
    # ``also: [call]`` is short for ``also: [{channel: call}]``.
    return {"channel": value} if isinstance(value, str) else value


class Level(_Model):
    """One step of the escalation ladder (levels are numbered 1, 2, … in file order)."""

    name: str | None = None
    days_overdue: int = Field(ge=1, description="Days past the due date of the oldest open invoice.")
    min_gap_days: int = Field(
        default=0, ge=0, description="Minimum days since the previous level was sent to this customer."
    )
    channels: list[Channel] = Field(min_length=1, description=_CHANNELS_DOC)
    also: list[
        Annotated[AlsoSend, BeforeValidator(_also_item, json_schema_input_type=Channel | AlsoSend)]
    ] = Field(
        default_factory=list,
        description="Channels used as well, at the same time, e.g. [call] for a call task beside the "
        "final letter. One the customer opted out of, has no address for, or whose cap is reached is "
        "left out and the reason says so; it never falls back.",
    )
    template: str = "reminder"
    fee: dict[CurrencyKey, Amount] = Field(
        default_factory=dict, description="Fixed fee for this level per currency; '*' for any currency."
    )
    fee_label: str | None = Field(
        default=None,
        description="What the fee is called on the letter and the e-mail (default: the template's "
        "'Reminder fee').",
    )
    status: CollectionStatus = Field(
        default=CollectionStatus.REMINDED, description="Collection status written back to the ERP."
    )

    @field_validator("fee", mode="before")
    @classmethod
    def _fee_map(cls, value: Any) -> Any:
        return _money_map(value)

    @field_validator("fee")
    @classmethod
    def _fee_decimals(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return _check_decimals(value)

    @model_validator(mode="after")
    def _also_differs(self) -> Level:
        seen: set[Channel] = set()
        for extra in self.also:
            if extra.channel in seen:
                raise ValueError(
                    f"expected each channel once in 'also': {extra.channel.value} is listed twice"
                )
            seen.add(extra.channel)
        return self


class RatePeriod(_Model):
    """A reference rate in force from ``start`` until the next period starts."""

    start: date = Field(alias="from", description="First day of the period, YYYY-MM-DD.")
    reference_percent: Percent = Field(
        description="The reference rate in force, in percent a year (may be negative, as the German "
        "Basiszinssatz was; the rate charged, reference + margin, may not)."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RateTable(_Model):
    """Annual interest rate = reference rate of the day + margin, applied per day on the open amount."""

    margin_percent: Percent = Field(default=Decimal(0), description="Points added to the reference rate.")
    day_count: Literal[360, 365] = 365
    periods: list[RatePeriod] = Field(min_length=1)

    @field_validator("periods")
    @classmethod
    def _sorted(cls, periods: list[RatePeriod]) -> list[RatePeriod]:
        return sorted(periods, key=lambda p: p.start)

    @model_validator(mode="after")
    def _rates_not_negative(self) -> RateTable:
        for period in self.periods:
            rate = period.reference_percent + self.margin_percent
            if rate < 0:
                raise ValueError(
                    f"expected an interest rate of 0 or more: from {period.start.isoformat()} the reference "
                    f"rate {period.reference_percent} + margin {self.margin_percent} gives {rate} %"
                )
        return self

    def rate_on(self, day: date) -> Decimal | None:
        """The annual rate in percent on ``day`` (reference + margin), or None before the first period."""
        found: Decimal | None = None
        for period in self.periods:
            if period.start <= day:
                found = period.reference_percent + self.margin_percent
        return found


class InterestRule(_Model):
    """Late-payment interest for a policy: which rate table, and from which level it is shown."""

    rate_table: str
    from_level: int = Field(default=1, ge=1)


class Policy(_Model):
    """One dunning policy: levels, courtesy notice, fees, interest and minimum amounts."""

    description: str | None = None
    courtesy: Courtesy | None = None
    levels: list[Level] = Field(min_length=1)
    minimum_amount: dict[CurrencyKey, Amount] = Field(
        default_factory=dict,
        description="Below this overdue total per currency nothing is sent; '*' for any other currency.",
    )
    compensation_per_invoice: dict[CurrencyKey, Amount] = Field(
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

    @field_validator("compensation_per_invoice")
    @classmethod
    def _compensation_decimals(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return _check_decimals(value)

    @field_validator("levels")
    @classmethod
    def _levels_climb(cls, levels: list[Level]) -> list[Level]:
        for i in range(1, len(levels)):
            before, after = levels[i - 1].days_overdue, levels[i].days_overdue
            if after <= before:
                raise ValueError(
                    f"expected days_overdue to grow from level to level: levels[{i}] has {after}, "
                    f"levels[{i - 1}] has {before}"
                )
        return levels


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
    country: str | None = Field(
        default=None,
        description="The creditor's country (ISO 3166 code or name): letters to customers in it carry "
        "no country line.",
    )
    email: str | None = None
    phone: str | None = None
    opt_out_text: str | None = Field(
        default=None,
        description="How a customer stops e-mail about this account, printed at the foot of every e-mail "
        "(US Regulation F §1006.6(e) asks for one). Write it only for a way your team honours; "
        "without it an e-mail promises nothing. Letters and call tasks never carry it.",
    )


class DunningPolicy(_Model):
    """A whole policy file: named policies, segments, contact rules, rate tables."""

    version: Literal[1] = 1
    default_time_zone: str = Field(
        default="UTC", description="IANA time zone of customers without a valid one, e.g. 'Europe/Berlin'."
    )
    default_language: str = "en"
    default_policy: str
    policies: dict[str, Policy] = Field(min_length=1)
    segments: list[Segment] = Field(default_factory=list)
    contact_window: ContactWindow = Field(default_factory=ContactWindow)
    caps: list[Caps] = Field(default_factory=list)
    rate_tables: dict[str, RateTable] = Field(default_factory=dict)
    payment: PaymentDetails = Field(default_factory=PaymentDetails)
    sender: SenderDetails = Field(default_factory=SenderDetails)

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "expected an IANA time zone name such as 'Europe/Berlin' or 'America/New_York', "
                f"got {value!r}"
            ) from None
        return value

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
