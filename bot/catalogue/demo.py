"""The demo article that ``ledgerbot up`` loads into an empty ledger, so a new install answers.

It goes in under a slug of its own, ``semax-demo``, never ``semax``: the ledger is permanent,
and a demo sitting on the real article's slug would make importing the real Semax article a
conflict (the importer refuses different content under the same source ids) instead of a
separate, complete article. Its title still says what it is ("Semax: demo article").
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.article_format import parse_article
from ledger.db import transaction
from ledger.importer import import_article
from ledger.models import Article

DEMO_ARTICLE = Path(__file__).parent / "data" / "semax-demo.txt"
DEMO_SLUG = "semax-demo"


def load_demo_if_empty(sessions: sessionmaker[Session], slug: str = DEMO_SLUG) -> bool:
    """Import the demo article when the ledger has no article yet; True when it did.

    ``slug`` is for the benchmarks, whose scripted traffic asks ``semax|…`` of a fresh,
    throwaway database."""
    with transaction(sessions) as session:
        if session.scalar(select(func.count()).select_from(Article)):
            return False
        text = DEMO_ARTICLE.read_text(encoding="utf-8")
        import_article(session, parse_article(text, slug=slug))
    return True
