"""The confidence score: how much graded evidence an article's ledger holds, and its wording.

One place for the numbers: the label texts, the formula shown on every page and in the API,
and the score itself all come from :class:`ConfidenceWeights`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.models import TIERS


@dataclass(frozen=True)
class ConfidenceWeights:
    """How much graded evidence the ledger catalogues for an article — not clinical certainty.

    A human claim weighs three times a preclinical one and eight times an anecdote; the
    scientific-source bonus is capped so that piling up citations cannot stand in for graded
    claims, and the score never reaches 1 because a catalogue can never prove anything.
    These weights are the only place the numbers live: the label texts, the formula shown on
    every page and in the API, and the score itself are all derived from them.
    """

    human: float = 0.12
    preclinical: float = 0.04
    anecdotal: float = 0.015
    per_scientific_source: float = 0.005
    scientific_cap: float = 0.10
    ceiling: float = 0.95

    @property
    def formula(self) -> str:
        return (
            f"human claims × {self.human:g} + preclinical claims × {self.preclinical:g}"
            f" + anecdotal claims × {self.anecdotal:g}"
            f" + min(scientific sources × {self.per_scientific_source:g},"
            f" {self.scientific_cap:.2f}), capped at {self.ceiling:.2f}."
            " This is not clinical certainty: it measures how much graded evidence is"
            " catalogued in this ledger."
        )

    def score(self, claims: Mapping[str, int], scientific_sources: int) -> float:
        raw = (
            claims.get("human", 0) * self.human
            + claims.get("preclinical", 0) * self.preclinical
            + claims.get("anecdotal", 0) * self.anecdotal
            + min(scientific_sources * self.per_scientific_source, self.scientific_cap)
        )
        return round(min(raw, self.ceiling), 4)


WEIGHTS = ConfidenceWeights()
FORMULA = WEIGHTS.formula
LABEL_NONE = "none"
LABEL_LOW = "low — preclinical and anecdotal only"
LABEL_MODERATE = "moderate — human claims present in ledger"
LABELS = (LABEL_NONE, LABEL_LOW, LABEL_MODERATE)


def confidence_label(claims: Mapping[str, int]) -> str:
    if not any(claims.get(tier, 0) for tier in TIERS):
        return LABEL_NONE
    return LABEL_MODERATE if claims.get("human", 0) else LABEL_LOW


@dataclass(frozen=True)
class Confidence:
    value: float
    label: str
    formula: str = FORMULA

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "label": self.label, "formula": self.formula}
