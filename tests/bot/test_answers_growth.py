"""The answer index grows with the ledger: what a moderator approves is answered at once,
without a rebuild, and what was never committed is never quoted."""

from __future__ import annotations

import logging
import shutil
import threading

import pytest
from sqlalchemy import select

from bot.catalogue import answers
from bot.catalogue.answers import article_index, relevant_claims
from ledger.chain import append
from ledger.db import transaction
from ledger.models import Article, Claim, LedgerEntry
from tests.support.databases import reset
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import SECOND, load_demo

MODERATOR = "+15550000001"  # in MODERATOR_NUMBERS (tests/conftest.py)
ASKER = "+15551230001"
CONTRIBUTOR = "+15551230002"
QUESTION = "semax|does it cure baldness in dogs?"
PASTE = "Dogs with baldness regrew fur on Semax drops in a veterinary case series"


def text(client, services, twilio, sender, body) -> str:
    before = len(twilio.messages)
    assert post_signed(client, inbound_params(sender, body)).status_code == 200
    drain(services)
    [reply] = [m["body"] for m in twilio.messages[before:] if m["to"].endswith(sender)]
    return reply


def semax(session) -> Article:
    return session.scalar(select(Article).where(Article.slug == "semax"))


def add_claim(session, article: Article, text: str, tier: str = "human") -> Claim:
    """What an approval does: the ledger entry, then its claim, in the caller's transaction."""
    entry = append(session, "evidence", article.slug, {"paste": text, "tier": tier})
    claim = Claim(article_id=article.id, tier=tier, text=text, ledger_seq=entry.seq)
    session.add(claim)
    session.flush()
    return claim


def test_an_approved_claim_is_answered_at_once(client, services, twilio):
    load_demo(services)
    assert "The ledger has nothing on that yet" in text(client, services, twilio, ASKER, QUESTION)
    text(client, services, twilio, CONTRIBUTOR, f"ingest semax|q:1|{PASTE}")
    assert "approved" in text(client, services, twilio, MODERATOR, "approve E1 preclinical")
    reply = text(client, services, twilio, ASKER, QUESTION)
    assert "From the ledger:" in reply and "Dogs with baldness regrew fur" in reply


def test_new_claims_are_added_to_the_index_not_rebuilt(services):
    load_demo(services)
    with services.read_sessions() as session:
        article = semax(session)
        index = article_index(session, article)
        size = len(index)
    with transaction(services.sessions) as session:
        add_claim(session, semax(session), PASTE)
    with services.read_sessions() as session:
        [cited] = relevant_claims(session, semax(session), "baldness in dogs")
        assert article_index(session, semax(session)) is index
    assert cited.text == PASTE and cited.tier == "human" and cited.sid is None
    assert len(index) == size + 1


def test_an_uncommitted_claim_is_never_quoted(services):
    """The index reads committed claims only: a rolled-back approval leaves nothing behind,
    even when the next claim reuses its id (SQLite does)."""
    load_demo(services)
    with services.read_sessions() as session:
        article_index(session, semax(session))
    session = services.sessions()
    with session.begin():
        add_claim(session, semax(session), PASTE)
        assert relevant_claims(session, semax(session), "baldness in dogs") == []
        session.rollback()
    with transaction(services.sessions) as session:
        add_claim(session, semax(session), "Cats with baldness regrew fur on Semax drops")
    with services.sessions() as session:
        quoted = [c.text for c in relevant_claims(session, semax(session), "baldness", limit=5)]
    assert quoted == ["Cats with baldness regrew fur on Semax drops"]


def test_claims_read_past_the_indexed_head_are_neither_missed_nor_doubled(services, caplog):
    """On PostgreSQL the head and the claims are read by separate statements, so a build can
    take in a claim committed after the head it records; the next catch-up must know it."""
    load_demo(services)
    with transaction(services.sessions) as session:
        first = add_claim(session, semax(session), "Cats with baldness regrew fur on drops")
    with services.read_sessions() as session:
        index = article_index(session, semax(session))
        earlier = session.scalar(
            select(LedgerEntry.hash).where(LedgerEntry.seq == first.ledger_seq - 1)
        )
    entry = next(e for e in answers._entries.values() if e.index is index)
    entry.head, entry.ahead = (first.ledger_seq - 1, earlier), frozenset({first.ledger_seq})
    size = len(index)
    with transaction(services.sessions) as session:
        add_claim(session, semax(session), PASTE)
    caplog.set_level(logging.INFO, logger=answers.__name__)
    caplog.clear()
    with services.sessions() as session:
        quoted = [c.text for c in relevant_claims(session, semax(session), "baldness", limit=5)]
    assert sorted(quoted) == sorted(["Cats with baldness regrew fur on drops", PASTE])
    assert len(index) == size + 1 and not caplog.records


def test_warming_builds_outside_write_transactions(services, caplog):
    load_demo(services)
    caplog.set_level(logging.INFO, logger=answers.__name__)
    answers.start_warming(services.engine).join(timeout=60)
    [warmed] = [r for r in caplog.records if "built the index" in r.getMessage()]
    assert warmed.levelno == logging.INFO and warmed.threadName == "answers-warm"
    caplog.clear()
    with transaction(services.sessions) as session:  # what the inbound job does
        add_claim(session, semax(session), PASTE)
    with transaction(services.sessions) as session:
        assert relevant_claims(session, semax(session), "baldness in dogs")
    assert not [r for r in caplog.records if "built the index" in r.getMessage()]


def test_a_build_inside_a_write_transaction_is_logged_and_done_once(services, caplog):
    load_demo(services)
    caplog.set_level(logging.INFO, logger=answers.__name__)
    results: list[int] = []

    def ask() -> None:
        with transaction(services.sessions) as session:
            results.append(len(relevant_claims(session, semax(session), "BDNF in stroke")))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [3, 3, 3]
    built = [r for r in caplog.records if "built the index" in r.getMessage()]
    assert len(built) == 1 and built[0].levelno == logging.WARNING
    assert "write transaction" in built[0].getMessage()


def test_a_replaced_database_is_not_answered_from_the_old_index(services, _sqlite_dbs):
    """A restored backup or a reset test database keeps its URL but not its ledger."""
    load_demo(services)
    with services.sessions() as session:
        assert relevant_claims(session, semax(session), "BDNF in stroke")
    url = services.engine.url
    services.engine.dispose()
    if url.get_backend_name() == "sqlite":
        shutil.copyfile(_sqlite_dbs.template, url.database)
    else:
        reset(services.engine)
    load_demo(services, SECOND)  # another article, under the same slug and article id
    with services.sessions() as session:
        article = semax(session)
        quoted = relevant_claims(session, article, "BDNF in stroke", limit=50)
        assert article.id == 1
        texts = set(session.scalars(select(Claim.text).where(Claim.article_id == article.id)))
    assert {c.text for c in quoted} <= texts


@pytest.fixture(autouse=True)
def _forget_indexes():
    """Indexes are per process: start and end each test without any (ids repeat)."""
    answers._entries.clear()
    yield
    answers._entries.clear()
