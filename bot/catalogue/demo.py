"""The demo article that ``ledgerbot up`` loads into an empty ledger, so a new install answers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.article_format import parse_article
from ledger.db import transaction
from ledger.importer import import_article
from ledger.models import Article

DEMO_ARTICLE = Path(__file__).parent / "data" / "semax-demo.txt"


def load_demo_if_empty(sessions: sessionmaker[Session]) -> bool:
    """Import the demo article when the ledger has no article yet; True when it did."""
    with transaction(sessions) as session:
        if session.scalar(select(func.count()).select_from(Article)):
            return False
        import_article(session, parse_article(DEMO_ARTICLE.read_text(encoding="utf-8")))
    return True
