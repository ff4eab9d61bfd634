"""What a stage measured: rows of numbers over rounds, a ceiling, a target, and a note."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """``kind``: ``ratio>=`` (median / ceiling median), ``<=`` or ``>=`` (the median itself)."""

    kind: str
    value: float
    text: str

    def check(self, row: Row) -> bool | None:
        if self.kind == "ratio>=":
            ratio = row.ratio
            return None if ratio is None else ratio >= self.value
        median = row.median
        if median is None:
            return None
        return median <= self.value if self.kind == "<=" else median >= self.value


@dataclass
class Row:
    stage: str
    metric: str
    unit: str
    values: list[float]
    ceiling: list[float] | None = None
    ceiling_label: str = ""
    target: Target | None = None
    digits: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def low(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def high(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def ceiling_median(self) -> float | None:
        return statistics.median(self.ceiling) if self.ceiling else None

    @property
    def ratio(self) -> float | None:
        ceiling = self.ceiling_median
        median = self.median
        if not ceiling or median is None:
            return None
        return median / ceiling

    @property
    def passed(self) -> bool | None:
        return self.target.check(self) if self.target else None

    def fmt(self, value: float | None) -> str:
        if value is None:
            return "—"
        return f"{value:,.{self.digits}f}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "metric": self.metric,
            "unit": self.unit,
            "values": self.values,
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "ceiling": self.ceiling,
            "ceiling_label": self.ceiling_label,
            "ceiling_median": self.ceiling_median,
            "ratio": self.ratio,
            "target": self.target.text if self.target else None,
            "passed": self.passed,
            "details": self.details,
        }


@dataclass
class StageResult:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def failed_targets(self) -> list[Row]:
        return [row for row in self.rows if row.passed is False]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "rows": [row.as_dict() for row in self.rows],
            "notes": self.notes,
            "details": self.details,
            "seconds": self.seconds,
            "error": self.error,
        }


def run_per_backend(cfg, result: StageResult, run_backend, bound_note: str) -> StageResult:
    """Run a server stage on SQLite and each --postgres URL; explain the bound if a target fails."""
    for postgres_url in cfg.backends:
        rows, notes, details = run_backend(cfg, postgres_url)
        result.rows += rows
        result.notes += notes
        result.details["postgresql" if postgres_url else "sqlite"] = details
    if result.failed_targets:
        result.notes.append(bound_note)
    return result
