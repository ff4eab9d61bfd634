"""Small shared helpers for tests (kept out of conftest so they can be imported)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from ledger.article_format import parse_article
from ledger.db import transaction
from ledger.importer import import_article

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "bot" / "catalogue" / "data" / "semax-demo.txt"
SEED = ROOT / "tests" / "fixtures" / "semax-article.txt"
SECOND = ROOT / "tests" / "fixtures" / "bpc-157-article.txt"


def load_demo(services, path: Path = DEMO, slug: str | None = "semax"):
    """The demo article under slug ``semax`` (what the bot tests text), not the product's
    ``semax-demo``; ``slug=None`` takes the slug from the file's title."""
    with transaction(services.sessions) as session:
        return import_article(session, parse_article(path.read_text(encoding="utf-8"), slug=slug))


def count(services, model) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))
