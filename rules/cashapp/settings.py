"""The matcher's configuration: thresholds, weights, tolerances; loaded from a rules YAML file.

Every number that decides between ``auto``, ``review`` and ``unmatched`` lives here, so a controller
can read (and change) why the matcher does what it does.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Section):
    auto: float = Field(
        default=0.85, ge=0, le=1, description="Confidence at or above which a match is applied."
    )
    review: float = Field(
        default=0.5, ge=0, le=1, description="Below this a proposal is dropped as unmatched."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review > self.auto:
            raise ValueError("thresholds.review must not be above thresholds.auto")
        return self


class Weights(_Section):
    """How much each component counts in the confidence (normalised by their sum)."""

    payer: float = Field(default=0.35, ge=0)
    document: float = Field(default=0.40, ge=0)
    amount: float = Field(default=0.25, ge=0)


class PayerScores(_Section):
    """How sure each way of identifying the payer is."""

    customer_id: float = 1.0
    bank_account: float = 0.95
    name: float = 0.85
    name_in_reference: float = 0.8
    document_owner: float = 0.75


class DocumentScores(_Section):
    """How sure each way of choosing the documents is."""

    reference: float = 1.0
    remittance: float = 1.0
    reference_typo: float = 0.85
    typo_unconfirmed: float = 0.6
    amount_single: float = 0.85
    amount_subset: float = 0.8
    amount_tolerance: float = 0.75
    whole_balance: float = 0.9
    weak: float = 0.4


class AmountScores(_Section):
    """How well the cash fits the chosen documents."""

    exact: float = 1.0
    discount: float = 1.0
    credit_memo: float = 0.95
    tolerance: float = 0.9
    overpayment: float = 0.85
    partial: float = 0.8
    partial_multi: float = 0.5
    discount_late: float = 0.4
    mismatch: float = 0.3


class Tolerance(_Section):
    """Short payments written off (bank fees, rounding); both limits must hold."""

    absolute: Decimal = Field(default=Decimal("25.00"), ge=0)
    percent: Decimal = Field(default=Decimal("5"), ge=0, description="Percent of the documents' open amount.")

    def allows(self, gap: Decimal, base: Decimal) -> bool:
        """True when ``gap`` (> 0) short of ``base`` may be written off."""
        return Decimal("0") < gap <= self.absolute and gap * 100 <= self.percent * abs(base)


class NameMatching(_Section):
    min_score: float = Field(default=88, ge=0, le=100, description="rapidfuzz score a payer name must reach.")
    margin: float = Field(
        default=3, ge=0, description="The best name must beat the second by this; else decline."
    )
    in_reference_min_score: float = Field(default=92, ge=0, le=100)
    rival_min_score: float = Field(
        default=85, ge=0, le=100,
        description="Another customer whose name scores this much fits the payer name as well; if it "
        "has an open item the payment fits just as well, a person decides.",
    )
    max_token_customers: int = Field(
        default=200, ge=1, description="Name tokens shared by more are too common."
    )


class SubsetSearch(_Section):
    """Bounds of the amount-only search over a payer's open documents."""

    max_documents: int = Field(default=40, ge=1)
    max_size: int = Field(default=4, ge=1)
    node_budget: int = Field(default=20000, ge=100)
    max_chance: float = Field(
        default=0.03, ge=0,
        description="A set of several open documents found by amount alone is applied only when fewer "
        "than this many sets would add up to the amount by chance.",
    )
    rest_budget: int = Field(
        default=100_000_000, ge=0,
        description="Work allowed (open invoices × the rest in its smallest unit) to prove that money "
        "left after the quoted documents cannot pay other open invoices; beyond it a person decides.",
    )


class MatchRules(_Section):
    """All matcher settings; ``MatchRules()`` gives the documented defaults."""

    thresholds: Thresholds = Thresholds()
    weights: Weights = Weights()
    payer_scores: PayerScores = PayerScores()
    document_scores: DocumentScores = DocumentScores()
    amount_scores: AmountScores = AmountScores()
    tolerance: Tolerance = Tolerance()
    names: NameMatching = NameMatching()
    subset: SubsetSearch = SubsetSearch()
    discount_grace_days: int = Field(
        default=0, ge=0,
        description="Days after the discount period a discount is still granted (bank transit); "
        "none unless configured: a discount taken late is a partial payment.",
    )
    number_min_digits: int = Field(default=3, ge=1)
    typo_min_digits: int = Field(default=4, ge=2)
    match_across_currencies: bool = Field(
        default=False,
        description="Propose documents in another currency (always for review: no rate is known).",
    )
    noise_patterns: tuple[str, ...] = (
        r"\binterest\b",
        r"\bzins",
        r"\brefund",
        r"\berstattung",
        r"\bchargeback",
        r"\breversal\b",
        r"\bstorno\b",
        r"r[uü]cklastschrift",
        r"\bcashback\b",
    )

    @field_validator("noise_patterns")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            re.compile(pattern)
        return value

    @cached_property
    def noise(self) -> re.Pattern[str] | None:
        """The noise patterns as one case-insensitive regex."""
        if not self.noise_patterns:
            return None
        return re.compile("|".join(f"(?:{p})" for p in self.noise_patterns), re.IGNORECASE)

    @cached_property
    def verdicts(self) -> dict[tuple[float, float, float], tuple[float, str, str]]:
        """The matcher's memo of what each (payer, document, amount) score combination comes to."""
        return {}

    def weighted(self, components: dict[str, float]) -> float:
        """Combine component scores with the configured weights into one confidence in [0, 1]."""
        w = self.weights
        payer, document, amount = w.payer, w.document, w.amount
        total = payer + document + amount
        if total == 0:
            return 0.0
        get = components.get
        score = payer * get("payer", 0.0) + document * get("document", 0.0) + amount * get("amount", 0.0)
        return round(score / total, 4)


def load_rules(path: str | Path | None) -> MatchRules:
    """Read a rules YAML file (the ``cashapp:`` section if present); ``None`` gives the defaults.

    Raises:
        ValueError: the file is not a mapping or a setting is invalid (the message names it).
    """
    if path is None:
        return MatchRules()
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings")
    if isinstance(data.get("cashapp"), dict):
        data = data["cashapp"]
    return MatchRules.model_validate(data)
