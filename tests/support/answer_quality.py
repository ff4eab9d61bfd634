"""How well answers match what a question asks: precision@3 and recall@3 on a labelled set.

The set (tests/fixtures/seed-questions.json) holds questions about the seed article with the
source ids whose claims answer each. The test suite keeps the numbers from falling and the
benchmark reports them (bench/stage_answers.py), both through :func:`evaluate`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.catalogue.answers import relevant_claims
from ledger.models import Article

QUESTIONS = Path(__file__).resolve().parent.parent / "fixtures" / "seed-questions.json"
K = 3
# What this ranking measured when the floors were set; tests and the benchmark hold them.
FLOORS = {"first": 0.92, "precision": 0.51, "recall": 0.89}


@dataclass(frozen=True)
class Quality:
    first: float  # share of questions whose first claim answers them (what one SMS line shows)
    precision: float  # mean over questions of |top-3 ∩ answers| / |top-3| (0 when nothing)
    recall: float  # mean of |top-3 ∩ answers| / min(|answers|, 3): what 3 slots could hold
    misses: list[tuple[str, list[str | None], list[str]]]  # (question, got, wanted) with no hit
    count: int


def labelled() -> list[dict]:
    return json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]


def evaluate(session: Session, slug: str = "semax") -> Quality:
    article = session.scalar(select(Article).where(Article.slug == slug))
    first = precision = recall = 0.0
    misses = []
    items = labelled()
    for item in items:
        got = [c.sid for c in relevant_claims(session, article, item["q"], limit=K)]
        wanted = set(item["answers"])
        hits = sum(sid in wanted for sid in got)
        first += bool(got) and got[0] in wanted
        precision += hits / len(got) if got else 0.0
        recall += hits / min(len(wanted), K)
        if not hits:
            misses.append((item["q"], got, sorted(wanted)))
    n = len(items)
    return Quality(first / n, precision / n, recall / n, misses, n)
